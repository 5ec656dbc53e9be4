import LanChatCrypto
import LanChatProtocol
import NIOCore
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
    /// The local store: pinned keys, contacts, accepted message ids.
    public let store: ClientStore
    private let core: ClientCore
    private let sealer: EnvelopeSealer
    private let channel: any Channel

    private init(core: ClientCore, channel: any Channel, serverKey: PublicKey, welcome: Welcome) {
        self.core = core
        self.channel = channel
        self.serverKey = serverKey
        self.serverName = "\(welcome.serverName) (\(welcome.serverVersion))"
        self.identity = core.identity
        self.store = core.store
        self.sealer = EnvelopeSealer(senderName: core.identity.name.value, identity: core.identity.key)
    }

    /// Connects, runs the Noise XX handshake with the identity key, checks the server's key against the one
    /// pinned for this address (pinning it on first use), and registers the identity's name.
    /// - Parameters:
    ///   - store: the client's store; an in-memory one (nothing remembered) when nil.
    ///   - sendsOnly: connect only to send, beside the user's chat or listener if one runs: the server delivers
    ///     nothing to this connection and leaves the other one connected (it would replace it otherwise).
    public static func connect(
        to address: ServerAddress,
        as identity: Identity,
        store: ClientStore? = nil,
        sendsOnly: Bool = false,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        handshakeTimeout: TimeAmount = .seconds(10)
    ) async throws -> ChatClient {
        let core = ClientCore(
            identity: identity, address: address, store: try store ?? ClientStore.inMemory(), sendsOnly: sendsOnly,
            welcome: group.next().makePromise(of: Welcome.self)
        )
        let channel: any Channel
        do {
            channel = try await ClientPipeline.connect(to: address, identity: identity, group: group, handshakeTimeout: handshakeTimeout) {
                ClientConnectionHandler(core: core)
            }
        } catch {
            core.welcome.fail(error)
            throw ClientError.connectionFailed(address: address.description, reason: ClientError.connectionReason(error))
        }
        let welcome: Welcome
        do {
            welcome = try await core.welcome.futureResult.get()
        } catch {
            try? await channel.close()
            if case let .disconnected(reason) = error as? ClientError, core.serverKey == nil {
                throw ClientError.handshakeFailed(address: address.description, reason: reason)
            }
            throw error
        }
        guard let serverKey = core.serverKey else { throw ClientError.handshakeFailed(address: address.description, reason: "no server key") }
        return ChatClient(core: core, channel: channel, serverKey: serverKey, welcome: welcome)
    }

    /// Runs only the Noise handshake with the server at `address` and returns its static key (for `trust-server`).
    public static func fetchServerKey(
        of address: ServerAddress,
        as identity: Identity,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> PublicKey {
        let promise = group.next().makePromise(of: PublicKey.self)
        do {
            _ = try await ClientPipeline.connect(to: address, identity: identity, group: group, handshakeTimeout: .seconds(10)) {
                ServerKeyProbe(result: promise)
            }
        } catch {
            promise.fail(error)
            throw ClientError.connectionFailed(address: address.description, reason: ClientError.connectionReason(error))
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            throw ClientError.handshakeFailed(address: address.description, reason: "\(error)")
        }
    }

    /// Set once the server closed this connection because the same user connected again elsewhere.
    var replaced: ClientError? { core.replaced }

    /// Other users online now.
    public var peers: [Peer] { core.peers }

    /// Sends `text` privately to `name`; returns once the server has accepted it.
    /// Throws `ClientError.keyChanged` when the server presents a key other than the pinned one.
    @discardableResult
    public func sendPrivate(_ text: String, to name: String) async throws -> SendReceipt {
        try Self.requireSomeoneElse(name, than: identity)
        let contact = try core.checkPresentedKey(try await presentedKey(of: name), of: name)
        let receipt = try await send(text, kind: .direct(recipient: name), to: [Peer(name: name, key: contact.key)], skipped: [])
        try store.markUsed(name: name)
        try record(receipt, text: text, peer: name, isPrivate: true, verified: contact.state == .verified)
        return receipt
    }

    /// Throws `ClientError.messageToYourself` when `name` is the identity's own.
    static func requireSomeoneElse(_ name: String, than identity: Identity) throws {
        guard name != identity.name.value else { throw ClientError.messageToYourself(name) }
    }

    /// Sends `text` to everyone else online whose key is trusted (with `includeOffline`, also to every
    /// registered user who is offline: the server stores it for them); returns once the server has accepted it.
    /// Users whose key changed are left out and named in the receipt's `skipped`.
    @discardableResult
    public func broadcast(_ text: String, includeOffline: Bool = false) async throws -> SendReceipt {
        var recipients: [Peer] = [], skipped: [String] = []
        let candidates = includeOffline ? try await registeredUsers().filter { $0.name != identity.name.value } : peers
        for peer in candidates {
            if let contact = try? core.checkPresentedKey(peer.key, of: peer.name) {
                recipients.append(Peer(name: peer.name, key: contact.key))
            } else {
                skipped.append(peer.name)
            }
        }
        guard !recipients.isEmpty else {
            if let first = skipped.first { throw ClientError.keyChanged(name: first, pinned: "(see the warning above)", presented: "(changed)", home: core.store.homePath) }
            throw ClientError.nobodyOnline
        }
        let receipt = try await send(text, kind: .broadcast, to: recipients, skipped: skipped, storeForOffline: includeOffline)
        try record(receipt, text: text, peer: "*", isPrivate: false, verified: false)
        return receipt
    }

    /// Every user registered on the server, online or not, with the key the server presents.
    public func registeredUsers() async throws -> [Peer] {
        let answer = try await core.request { .listUsers(requestID: $0) }
        guard case let .userList(list) = answer else { throw ClientError.disconnected("unexpected answer to listUsers") }
        return list.users.compactMap { entry in
            (try? PublicKey(rawRepresentation: entry.user.key)).map { Peer(name: entry.user.name, key: $0) }
        }
    }

    private func record(_ receipt: SendReceipt, text: String, peer: String, isPrivate: Bool, verified: Bool) throws {
        let now = EnvelopeHeader.currentTimestamp()
        try store.record(HistoryEntry(
            id: receipt.messageID, direction: .outgoing, peer: peer, sender: identity.name.value, isPrivate: isPrivate,
            text: text, sentAt: receipt.sentAt, recordedAt: now, verified: verified
        ))
    }

    /// Accepts the changed key of `name` (after the user checked it); fails for a contact that was verified.
    @discardableResult
    public func trust(_ name: String) throws -> Contact {
        let contact = try store.trust(name: name)
        core.openAgain(from: name)
        return contact
    }

    /// The safety number to compare with `name`, for the key being verified (the pending one after a change).
    public func safetyNumber(with name: String) throws -> String {
        identity.safetyNumber(with: name, key: try store.keyToVerify(name: name, me: identity.name.value))
    }

    /// Marks `name`'s key (the one `safetyNumber(with:)` used) as verified.
    @discardableResult
    public func markVerified(_ name: String) throws -> Contact {
        let contact = try store.markVerified(name: name, me: identity.name.value)
        core.openAgain(from: name)
        return contact
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

    /// The key the server presents for `name`: from the online directory, else by lookup.
    private func presentedKey(of name: String) async throws -> PublicKey {
        if let key = core.presentedKey(of: name) { return key }
        guard let peer = try await lookup(name) else { throw ClientError.unknownRecipient(name) }
        return peer.key
    }

    private func send(_ text: String, kind: EnvelopeKind, to peers: [Peer], skipped: [String], storeForOffline: Bool = false) async throws -> SendReceipt {
        let plaintext = MessageContent.encode(text: text)
        let frameSize = ProtocolLimits.sendOverhead + ProtocolLimits.maxHeaderLength + plaintext.count + AESGCMKey.tagCount
            + peers.reduce(0) { $0 + ProtocolLimits.sendBytesPerRecipient + $1.name.utf8.count }
        guard frameSize <= ProtocolLimits.defaultMaxFrameLength else { throw ClientError.messageTooLarge(plaintext.count) }
        let messageIDBytes = try SecureRandom.bytes(16), sentAt = EnvelopeHeader.currentTimestamp()
        let envelope = try sealer.seal(plaintext, kind: kind, to: peers.map { EnvelopeRecipient(name: $0.name, publicKey: $0.key) },
                                       timestamp: sentAt, messageID: messageIDBytes)
        let messageID = Hex.encode(messageIDBytes)
        let allocator = channel.allocator
        let answer = try await core.request { requestID in
            .send(Send(
                requestID: requestID,
                storeForOffline: storeForOffline,
                header: allocator.buffer(bytes: envelope.header),
                body: allocator.buffer(bytes: envelope.body),
                wraps: envelope.wraps.map { Send.Wrap(recipient: $0.recipient, wrap: allocator.buffer(bytes: $0.wrap)) }
            ))
        }
        switch answer {
        case let .ack(ack):
            return SendReceipt(messageID: messageID, sentAt: sentAt, delivered: Int(ack.delivered), stored: Int(ack.stored), missed: ack.missed, skipped: skipped)
        case let .error(error) where error.code == .unknownRecipient:
            throw ClientError.unknownRecipient(peers.first?.name ?? "the recipient")
        case let .error(error) where error.code == .rateLimited:
            throw ClientError.rateLimited(error.reason)
        case let .error(error):
            throw ClientError.refused(error)
        default:
            throw ClientError.disconnected("unexpected answer to a send")
        }
    }
}
