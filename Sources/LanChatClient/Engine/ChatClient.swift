import LanChatCrypto
import LanChatProtocol
import NIOCore
import NIOExtras
import NIOPosix

/// A connection to a relay as one user: sends sealed messages and reports what arrives as `events`.
/// It has no user interface; the `lanchat` command and any GUI sit on top of it.
public final class ChatClient: Sendable {
    /// Incoming messages, presence changes and connection news, in order.
    public var events: AsyncStream<ChatEvent> { core.events }
    /// The server's static key, authenticated by the Noise handshake.
    public let serverKey: PublicKey
    /// The server's name and version from `welcome`.
    public let serverName: String
    public let identity: Identity
    private let core: ClientCore
    private let sealer: EnvelopeSealer
    private let channel: any Channel

    private init(core: ClientCore, channel: any Channel, serverKey: PublicKey, welcome: Welcome) {
        self.core = core
        self.channel = channel
        self.serverKey = serverKey
        self.serverName = "\(welcome.serverName) (\(welcome.serverVersion))"
        self.identity = core.identity
        self.sealer = EnvelopeSealer(senderName: core.identity.name.value, identity: core.identity.key)
    }

    /// Connects, runs the Noise XX handshake with the identity key, and registers the identity's name.
    public static func connect(
        to address: ServerAddress,
        as identity: Identity,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        handshakeTimeout: TimeAmount = .seconds(10)
    ) async throws -> ChatClient {
        let core = ClientCore(identity: identity, welcome: group.next().makePromise(of: Welcome.self))
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            ByteToMessageHandler(LengthFieldBasedFrameDecoder(lengthFieldBitLength: .twoBytes)),
                            NoiseChannelHandler(role: .initiator, localStatic: identity.key, handshakeTimeout: handshakeTimeout),
                            ByteToMessageHandler(FrameDecoder()),
                            ClientConnectionHandler(core: core),
                        ])
                    }
                }
                .connect(host: address.host, port: address.port)
                .get()
        } catch {
            core.welcome.fail(error)
            throw ClientError.connectionFailed(address: address.description, reason: "\(error)")
        }
        let welcome: Welcome
        do {
            welcome = try await core.welcome.futureResult.get()
        } catch let error as ClientError {
            try? await channel.close()
            if case let .disconnected(reason) = error, core.serverKey == nil {
                throw ClientError.handshakeFailed(address: address.description, reason: reason)
            }
            throw error
        }
        guard let serverKey = core.serverKey else { throw ClientError.handshakeFailed(address: address.description, reason: "no server key") }
        return ChatClient(core: core, channel: channel, serverKey: serverKey, welcome: welcome)
    }

    /// Other users online now.
    public var peers: [Peer] { core.peers }

    /// Sends `text` privately to `name`; returns once the server has accepted it.
    @discardableResult
    public func sendPrivate(_ text: String, to name: String) async throws -> SendReceipt {
        let peer = try await resolve(name)
        return try await send(text, kind: .direct(recipient: name), to: [peer])
    }

    /// Sends `text` to everyone else online; returns once the server has accepted it.
    @discardableResult
    public func broadcast(_ text: String) async throws -> SendReceipt {
        let recipients = peers
        guard !recipients.isEmpty else { throw ClientError.nobodyOnline }
        return try await send(text, kind: .broadcast, to: recipients)
    }

    /// Asks the server for a user's key.
    public func lookup(_ name: String) async throws -> Peer? {
        let answer = try await core.request { .lookup(Lookup(requestID: $0, name: name)) }
        guard case let .lookupResult(result) = answer, result.status != .unknown, let raw = result.key else { return nil }
        return Peer(name: name, key: try PublicKey(rawRepresentation: raw))
    }

    /// Says goodbye and closes the connection.
    public func close() async {
        try? await channel.writeAndFlush(Frame.bye("client closed").encoded(allocator: channel.allocator))
        try? await channel.close()
    }

    // MARK: Internals

    private func resolve(_ name: String) async throws -> Peer {
        if let peer = core.peer(named: name) { return peer }
        guard let peer = try await lookup(name) else { throw ClientError.unknownRecipient(name) }
        return peer
    }

    private func send(_ text: String, kind: EnvelopeKind, to peers: [Peer]) async throws -> SendReceipt {
        let plaintext = MessageContent.encode(text: text)
        guard plaintext.count <= ProtocolLimits.defaultMaxFrameLength - 64 * 1024 else { throw ClientError.messageTooLarge(plaintext.count) }
        let envelope = try sealer.seal(plaintext, kind: kind, to: peers.map { EnvelopeRecipient(name: $0.name, publicKey: $0.key) })
        let messageID = Hex.encode(try EnvelopeHeader(decoding: envelope.header).messageID)
        let allocator = channel.allocator
        let answer = try await core.request { requestID in
            .send(Send(
                requestID: requestID,
                header: allocator.buffer(bytes: envelope.header),
                body: allocator.buffer(bytes: envelope.body),
                wraps: envelope.wraps.map { Send.Wrap(recipient: $0.recipient, wrap: allocator.buffer(bytes: $0.wrap)) }
            ))
        }
        switch answer {
        case let .ack(ack):
            return SendReceipt(messageID: messageID, delivered: Int(ack.delivered), stored: Int(ack.stored), missed: ack.missed)
        case let .error(error) where error.code == .recipientOffline:
            throw ClientError.recipientOffline(peers.first?.name ?? "the recipient")
        case let .error(error) where error.code == .unknownRecipient:
            throw ClientError.unknownRecipient(peers.first?.name ?? "the recipient")
        case let .error(error):
            throw ClientError.refused(error)
        default:
            throw ClientError.disconnected("unexpected answer to a send")
        }
    }
}
