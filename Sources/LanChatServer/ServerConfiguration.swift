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
    /// A connection that has not finished the Noise handshake by then is closed; one that has not registered
    /// (`hello`, `welcome`) by then is closed at the next keep-alive sweep (within a second).
    public var handshakeTimeout: TimeAmount
    /// Connections from one IP address not registered yet (in the handshake or before `welcome`); further
    /// ones are closed at once.
    public var maxPendingPerAddress: Int
    /// Most deliveries kept for one offline recipient.
    public var maxQueuedPerRecipient: Int
    /// Stored deliveries older than this are deleted (and reported in the log).
    public var maxQueuedAge: TimeAmount
    /// How often expired deliveries are swept.
    public var expirySweepInterval: TimeAmount
    /// A client whose outbound buffer stays full (it does not read) this long is disconnected, at the first
    /// keep-alive sweep after (within a second, or a quarter of `pingInterval` when that is shorter).
    public var slowReaderTimeout: TimeAmount
    /// Outbound bytes buffered for one connection before it counts as not reading.
    public var outboundBufferLimit: Int
    /// Sustained `send` frames per second per connection (bursts of twice that are allowed).
    public var maxMessagesPerSecond: Int
    /// A connection silent this long is pinged; silent for another period, it is closed.
    public var pingInterval: TimeAmount

    public init(
        host: String = "0.0.0.0",
        port: Int = 1234,
        dataDirectory: String,
        threads: Int = System.coreCount,
        serverName: String = "LanChat relay",
        maxFrameLength: Int = ProtocolLimits.defaultMaxFrameLength,
        handshakeTimeout: TimeAmount = .seconds(10),
        maxPendingPerAddress: Int = 128,
        maxQueuedPerRecipient: Int = 10_000,
        maxQueuedAge: TimeAmount = .hours(24 * 7),
        expirySweepInterval: TimeAmount = .seconds(60),
        slowReaderTimeout: TimeAmount = .seconds(10),
        outboundBufferLimit: Int = 1 << 20,
        maxMessagesPerSecond: Int = 500,
        pingInterval: TimeAmount = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.threads = threads
        self.serverName = serverName
        self.maxFrameLength = maxFrameLength
        self.handshakeTimeout = handshakeTimeout
        self.maxPendingPerAddress = maxPendingPerAddress
        self.maxQueuedPerRecipient = maxQueuedPerRecipient
        self.maxQueuedAge = maxQueuedAge
        self.expirySweepInterval = expirySweepInterval
        self.slowReaderTimeout = slowReaderTimeout
        self.outboundBufferLimit = outboundBufferLimit
        self.maxMessagesPerSecond = maxMessagesPerSecond
        self.pingInterval = pingInterval
    }
}

/// The version this server reports in `welcome`.
public enum ServerVersion {
    public static let string = "lanchat-server 0.1.0"
}
