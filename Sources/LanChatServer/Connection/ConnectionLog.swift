import LanChatCrypto
import Logging
import NIOCore

/// Log lines about one connection, tagged with its peer address, key and user. Made for each line from the
/// server's logger and what the connection knows: a `Logger` with metadata of its own would cost every idle
/// connection about 1 KB, and even a copy of the logger 56 bytes.
struct ConnectionLog {
    /// What a connection keeps for its log lines.
    struct Tags {
        var peer: SocketAddress?
        var key: PublicKey?
    }

    private let logger: Logger
    private let tags: Tags
    private let user: String?

    init(_ logger: Logger, tags: Tags, user: String?) {
        self.logger = logger
        self.tags = tags
        self.user = user
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
        metadata["peer"] = "\(tags.peer.map { "\($0)" } ?? "unknown")"
        if let key = tags.key { metadata["key"] = "\(key.hex.prefix(16))" }
        if let user { metadata["user"] = "\(user)" }
        return metadata
    }
}
