import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where an identity key's passphrase comes from.
public enum Passphrase {
    /// Reads the passphrase from `file` (first line), else from `$LANCHAT_PASSPHRASE_FILE`; nil when neither is set.
    public static func fromFile(_ file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [UInt8]? {
        let fromEnvironment = file == nil
        guard let path = file ?? environment["LANCHAT_PASSPHRASE_FILE"], !path.isEmpty else { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            var isFolder: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
            let reason = !exists ? "no such file" : isFolder.boolValue ? "it is a directory" : "permission denied"
            throw PassphraseError.unreadable(path: path, reason: reason, fromEnvironment: fromEnvironment)
        }
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
    case unreadable(path: String, reason: String, fromEnvironment: Bool)
    case empty(path: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason, fromEnvironment):
            "cannot read the passphrase file \(path)\(fromEnvironment ? " (named by $LANCHAT_PASSPHRASE_FILE)" : ""): \(reason)"
        case let .empty(path): "the passphrase file \(path) is empty"
        }
    }
}
