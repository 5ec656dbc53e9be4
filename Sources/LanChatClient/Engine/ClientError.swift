import LanChatProtocol
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Why a client operation failed, in words a user can act on.
public enum ClientError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidAddress(String)
    case connectionFailed(address: String, reason: String)
    case handshakeFailed(address: String, reason: String)
    case refused(ErrorFrame)
    case unknownRecipient(String)
    case nobodyOnline
    case messageToYourself(String)
    case disconnected(String)
    /// The same user connected again elsewhere and the server moved the chat there.
    case replaced(String)
    case messageTooLarge(Int)
    /// `home` is the LanChat home in use, which the suggested commands name (nil: the default one).
    case serverKeyChanged(address: String, pinned: String, presented: String, home: String?)
    case keyChanged(name: String, pinned: String, presented: String, home: String?)
    case rateLimited(String)

    public var description: String {
        switch self {
        case let .invalidAddress(text): "'\(text)' is not a server address; use HOST:PORT, for example 192.168.1.10:1234"
        case let .connectionFailed(address, reason) where reason.hasPrefix(Self.unresolvedHost):
            "cannot connect to \(address): \(reason); check the name, or give the server's IP address"
        case let .connectionFailed(address, reason): "cannot connect to \(address): \(reason) (is 'lanchat server' running there?)"
        case let .handshakeFailed(address, reason): "the secure handshake with \(address) failed: \(reason)"
        case let .refused(error): "the server refused: \(error.reason)"
        case let .unknownRecipient(name): "there is no user named '\(name)' on this server"
        case .nobodyOnline: "nobody else is online to receive the message"
        case let .messageToYourself(name): "you are \(name): a private message goes to someone else"
        case let .disconnected(reason): "disconnected from the server: \(reason)"
        case let .replaced(reason):
            "\(reason); that connection gets the messages now, so this one stops rather than take turns with it (to send beside a running chat, use 'lanchat send')"
        case let .messageTooLarge(size): "the message is too large (\(size) bytes) for its number of recipients; the server accepts frames up to 1 MiB"
        case let .serverKeyChanged(address, pinned, presented, home):
            """
            the server key at \(address) has changed!
            @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
            @    WARNING: THE SERVER KEY AT \(address) HAS CHANGED!
            @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
            Someone could be impersonating the server (a rogue relay on the LAN), or its
            operator replaced its key.
              Pinned key:    \(pinned)
              Presented key: \(presented)
            Ask the operator for the fingerprint ('lanchat server' prints it). If it matches
            the presented key, run: lanchat trust-server \(address)\(Self.homeArgument(home))
            """
        case let .rateLimited(reason): "the server is limiting this connection: \(reason)"
        case let .keyChanged(name, pinned, presented, home):
            """
            WARNING: \(name)'s key has changed! Not sending to it.
              pinned key fingerprint:    \(pinned)
              presented key fingerprint: \(presented)
            The server may be substituting its own key. Compare safety numbers with \(name) in person, then
            mark the new key verified ('lanchat-keys verify \(name)\(Self.homeArgument(home))', or /verify \(name) in chat),
            or, if \(name) was never verified, accept it ('lanchat-keys trust \(name)\(Self.homeArgument(home))', or /trust \(name)).
            """
        }
    }
}

extension ClientError {
    private static let unresolvedHost = "the host name"

    /// ` --home PATH` for a suggested command, quoted for the shell when needed; empty for the default home.
    static func homeArgument(_ home: String?) -> String {
        guard let home else { return "" }
        let plain = home.allSatisfy { $0.isLetter || $0.isNumber || "/._-+:@%".contains($0) }
        return " --home " + (plain ? home : "'" + home.replacingOccurrences(of: "'", with: "'\\''") + "'")
    }

    /// A short reason for a failed TCP connection ("Connection refused"), instead of NIO's nested description.
    static func connectionReason(_ error: any Error) -> String {
        if let connection = error as? NIOConnectionError {
            if connection.dnsAError != nil || connection.dnsAAAAError != nil, connection.connectionErrors.isEmpty {
                return "\(unresolvedHost) \(connection.host) does not resolve"
            }
            if let first = connection.connectionErrors.first { return connectionReason(first.error) }
        }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        if error is ChannelError { return "\(error)" }
        return "\(error)"
    }
}
