import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where an identity key's passphrase comes from.
public enum Passphrase {
    /// Reads the passphrase from `file` (first line), else from `$LANCHAT_PASSPHRASE_FILE`; nil when neither is set.
    public static func fromFile(_ file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [UInt8]? {
        guard let path = file ?? environment["LANCHAT_PASSPHRASE_FILE"], !path.isEmpty else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { throw PassphraseError.unreadable(path: path) }
        let line = data.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        let passphrase = Array(line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
        guard !passphrase.isEmpty else { throw PassphraseError.empty(path: path) }
        return passphrase
    }

    /// Asks on the terminal without echo; nil when stdin is not a terminal.
    public static func prompt(_ message: String) -> [UInt8]? {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        FileHandle.standardError.write(Data(message.utf8))
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else { return nil }
        return Array(line.utf8)
    }
}

/// Problems reading a passphrase.
public enum PassphraseError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String)
    case empty(path: String)

    public var description: String {
        switch self {
        case let .unreadable(path): "cannot read the passphrase file \(path)"
        case let .empty(path): "the passphrase file \(path) is empty"
        }
    }
}
