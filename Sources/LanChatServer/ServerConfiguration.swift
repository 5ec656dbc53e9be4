import LanChatProtocol
import NIOCore

/// How a relay server runs.
public struct ServerConfiguration: Sendable {
    /// Address to listen on; `0.0.0.0` for every interface.
    public var host: String
    /// TCP port; 0 picks a free one (read it back from `ChatServer.port`).
    public var port: Int
    /// Folder for the server key and database.
    public var dataDirectory: String
    /// Event-loop threads.
    public var threads: Int
    /// The name announced in `welcome`.
    public var serverName: String
    /// Largest application frame accepted.
    public var maxFrameLength: Int
    /// A connection that has not finished the Noise handshake by then is closed.
    public var handshakeTimeout: TimeAmount

    public init(
        host: String = "0.0.0.0",
        port: Int = 1234,
        dataDirectory: String,
        threads: Int = System.coreCount,
        serverName: String = "LanChat relay",
        maxFrameLength: Int = ProtocolLimits.defaultMaxFrameLength,
        handshakeTimeout: TimeAmount = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.threads = threads
        self.serverName = serverName
        self.maxFrameLength = maxFrameLength
        self.handshakeTimeout = handshakeTimeout
    }
}

/// The version this server reports in `welcome`.
public enum ServerVersion {
    public static let string = "lanchat-server 0.1.0"
}
