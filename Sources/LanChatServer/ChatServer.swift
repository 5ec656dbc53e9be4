import LanChatCrypto
import LanChatProtocol
import Logging
import NIOCore
import NIOPosix

/// The LanChat relay: accepts Noise XX connections, registers users and forwards sealed envelopes.
public final class ChatServer: Sendable {
    /// The server's static key, which clients pin.
    public let publicKey: PublicKey
    /// The address actually bound (with the real port when 0 was asked for).
    public let localAddress: SocketAddress
    private let group: MultiThreadedEventLoopGroup
    private let listener: any Channel
    private let services: RelayServices
    private var relay: Relay { services.relay }
    private var logger: Logger { services.logger }
    private let expirySweep: RepeatedTask

    /// The port actually bound.
    public var port: Int { localAddress.port ?? 0 }

    /// How the server key is shown to users.
    public var fingerprint: String { ServerFingerprint.of(publicKey) }

    private init(publicKey: PublicKey, group: MultiThreadedEventLoopGroup, listener: any Channel, services: RelayServices) {
        self.publicKey = publicKey
        self.localAddress = listener.localAddress!
        self.group = group
        self.listener = listener
        self.services = services
        let configuration = services.configuration
        let loop = group.next()
        expirySweep = loop.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: configuration.expirySweepInterval) { _ in
            loop.makeFutureWithTask { await Self.expireStored(services) }
        }
    }

    /// Deletes deliveries older than the configured age and reports each in the log.
    private static func expireStored(_ services: RelayServices) async {
        let age = UInt64(services.configuration.maxQueuedAge.nanoseconds / 1_000_000)
        let now = EnvelopeHeader.currentTimestamp()
        do {
            for expired in try await services.database.expire(storedBefore: now > age ? now - age : 0) {
                services.logger.warning("expired \(expired.count) undelivered message(s) from \(expired.sender) to \(expired.recipient): not collected within \(describe(milliseconds: age))")
            }
        } catch {
            services.logger.error("cannot expire stored messages: \(error)")
        }
    }

    /// A duration for the log: in hours when it is a whole number of them, else minutes, seconds or milliseconds.
    private static func describe(milliseconds: UInt64) -> String {
        switch milliseconds {
        case let ms where ms > 0 && ms % 3_600_000 == 0: "\(ms / 3_600_000) h"
        case let ms where ms > 0 && ms % 60_000 == 0: "\(ms / 60_000) min"
        case let ms where ms % 1_000 == 0: "\(ms / 1_000) s"
        case let ms: "\(ms) ms"
        }
    }

    /// Loads (or creates) the server key and starts listening.
    public static func start(configuration: ServerConfiguration, logger: Logger = Logger(label: "lanchat.server")) async throws -> ChatServer {
        let key = try ServerKeyStore.loadOrCreate(in: configuration.dataDirectory)
        let database = try ServerDatabase(dataDirectory: configuration.dataDirectory)
        let services = RelayServices(relay: Relay(), database: database, configuration: configuration, logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        do {
            let listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(AcceptFailureHandler(logger: logger))
                    }
                }
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.recvAllocator, value: CompactRecvAllocator(minimum: 64, initial: 128, maximum: 1024 * 1024))
                // Up to 8 MiB from one busy sender per tick: each recipient's flush (one Noise pass and one write,
                // whose cost on loopback is mostly fixed) then carries up to twice as many of its envelopes as with
                // 4 reads; the price is a longer tick for the loop's other connections while such a burst fans out.
                .childChannelOption(.maxMessagesPerRead, value: 8)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: configuration.outboundBufferLimit / 2, high: configuration.outboundBufferLimit))
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let noise = try NoiseChannelHandler(role: .responder, localStatic: key, handshakeTimeout: configuration.handshakeTimeout)
                        let peer = channel.remoteAddress
                        let relay = RelayConnectionHandler(services: services, noise: noise, peer: peer, loop: channel.eventLoop)
                        // Counted here, and no longer once the relay handler registers the connection or sees it
                        // end; adding handlers to a new channel's pipeline does not fail.
                        guard services.pending.admit(peer) else { throw PendingConnectionLimit.Refused() }
                        try channel.pipeline.syncOperations.addHandlers([noise, relay])
                    }
                }
                .bind(host: configuration.host, port: configuration.port)
                .get()
            return ChatServer(publicKey: key.publicKey, group: group, listener: listener, services: services)
        } catch {
            try? await group.shutdownGracefully()
            throw ServerStartError.listening(on: configuration.host, port: configuration.port, failedWith: error)
        }
    }

    /// Number of registered users online.
    public var onlineCount: Int { relay.onlineCount }

    /// Connections from the IP address `ip` (`127.0.0.1`) that are not registered yet.
    public func pendingConnections(from ip: String) -> Int { services.pending.pending(from: ip) }

    /// Stops accepting, tells every client the server is shutting down, closes all connections and the event loops.
    public func shutdown() async {
        expirySweep.cancel()
        try? await listener.close()
        let farewell = Frame.error(ErrorFrame(code: .shuttingDown, reason: "the server is shutting down")).encoded()
        let sessions = relay.everyone()
        await withTaskGroup(of: Void.self) { tasks in
            for session in sessions {
                tasks.addTask {
                    try? await session.channel.writeAndFlush(farewell)
                    try? await session.channel.close()
                }
            }
        }
        // A closed channel's promise completes before its handlers hear of it: once every loop has run what it had
        // queued, every closed connection has handed its held deliveries to the database tasks.
        for loop in group.makeIterator() { try? await loop.submit {}.get() }
        await services.databaseTasks.waitForAll()
        try? await group.shutdownGracefully()
        logger.info("server stopped")
    }

    /// Waits until the listener is closed.
    public func waitUntilClosed() async throws {
        try await listener.closeFuture.get()
    }
}
