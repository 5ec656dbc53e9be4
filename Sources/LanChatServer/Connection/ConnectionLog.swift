import LanChatCrypto
import Logging
import NIOCore

/// Log lines about one connection, tagged with its peer address, key and user. The tags are built only when a
/// line is written: a `Logger` with metadata of its own would cost every idle connection about 1 KB.
struct ConnectionLog {
    private let logger: Logger
    var peer: SocketAddress?
    var key: PublicKey?
    var user: String?

    init(_ logger: Logger) {
        self.logger = logger
    }

    func info(_ message: @autoclosure () -> Logger.Message, _ extra: @autoclosure () -> Logger.Metadata = [:]) {
        logger.info(message(), metadata: metadata(extra()))
    }

    func notice(_ message: @autoclosure () -> Logger.Message) {
        logger.notice(message(), metadata: metadata([:]))
    }

    func warning(_ message: @autoclosure () -> Logger.Message) {
        logger.warning(message(), metadata: metadata([:]))
    }

    func error(_ message: @autoclosure () -> Logger.Message) {
        logger.error(message(), metadata: metadata([:]))
    }

    private func metadata(_ extra: Logger.Metadata) -> Logger.Metadata {
        var metadata = extra
        metadata["peer"] = "\(peer.map { "\($0)" } ?? "unknown")"
        if let key { metadata["key"] = "\(key.hex.prefix(16))" }
        if let user { metadata["user"] = "\(user)" }
        return metadata
    }
}
