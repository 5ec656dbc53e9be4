import Foundation
import NIOCore

/// Why the server could not start, in words an operator can act on.
public enum ServerStartError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data folder cannot be created or used.
    case dataFolder(path: String, reason: String)
    /// The database in the data folder cannot be opened.
    case database(path: String, reason: String)
    /// The listening address cannot be bound.
    case cannotListen(host: String, port: Int, reason: String)
    /// The server key is passphrase-protected; the server has nobody to ask.
    case encryptedKey(path: String)

    public var description: String {
        switch self {
        case let .dataFolder(path, reason): "cannot use \(path) as the server's data folder: \(reason). Choose another with --data."
        case let .database(path, reason): "cannot open the server database \(path): \(reason)"
        case let .cannotListen(host, port, reason): "cannot listen on \(host) port \(port): \(reason)"
        case let .encryptedKey(path):
            "the server key \(path) is encrypted, and the server has nobody to ask for a passphrase; give it an unencrypted key (mode 0600), for example: openssl pkey -in \(path) -out \(path).new && mv \(path).new \(path)"
        }
    }

    /// What stopped the listener from binding `host`:`port`.
    static func listening(on host: String, port: Int, failedWith error: any Error) -> ServerStartError {
        let reason: String
        switch error {
        case let error as IOError where error.errnoCode == EADDRINUSE:
            reason = "another program (perhaps another LanChat server) already uses that port; stop it or pick another with --port"
        case let error as IOError where error.errnoCode == EACCES:
            reason = "permission denied (ports below 1024 need privileges); pick another with --port"
        case let error as IOError where error.errnoCode == EADDRNOTAVAIL:
            reason = "that address belongs to no network interface of this machine; use one that does, or 0.0.0.0 for all"
        case let error as IOError:
            reason = String(cString: strerror(error.errnoCode))
        case is SocketAddressError, is SocketAddressError.UnknownHost:
            reason = "not an address of this machine or a known host name; use one of its addresses, or 0.0.0.0 for all"
        default:
            reason = "\(error)"
        }
        return .cannotListen(host: host, port: port, reason: reason)
    }
}
