import LanChatCrypto
import LanChatProtocol
import NIOConcurrencyHelpers
import NIOCore

/// The client's protocol state: directory of online users, requests awaiting answers, and the opening of
/// incoming envelopes. Frames arrive on the channel's event loop; callers use it from any task.
final class ClientCore: Sendable {
    private struct State {
        var channel: (any Channel)?
        var serverKey: PublicKey?
        var directory: [String: PublicKey] = [:]
        var pending: [UInt32: EventLoopPromise<Frame>] = [:]
        var nextRequestID: UInt32 = 1
        var closedReason: String?
        var replaced: ClientError?
        /// Deliveries from a changed key, kept to be opened again once the user accepts the key.
        var awaitingKey = DeliveriesAwaitingKey()
    }

    let identity: Identity
    let address: ServerAddress
    let store: ClientStore
    /// Whether the connection registers only to send (`Hello.sendsOnly`).
    let sendsOnly: Bool
    let welcome: EventLoopPromise<Welcome>
    let events: AsyncStream<ChatEvent>
    private let eventSink: AsyncStream<ChatEvent>.Continuation
    private let opener: EnvelopeOpener
    private let state = NIOLockedValueBox(State())

    init(identity: Identity, address: ServerAddress, store: ClientStore, sendsOnly: Bool, welcome: EventLoopPromise<Welcome>) {
        self.identity = identity
        self.address = address
        self.store = store
        self.sendsOnly = sendsOnly
        self.welcome = welcome
        (events, eventSink) = AsyncStream.makeStream(of: ChatEvent.self)
        opener = EnvelopeOpener(recipientName: identity.name.value, identity: identity.key)
    }

    var serverKey: PublicKey? { state.withLockedValue { $0.serverKey } }

    /// Set when the server closed this connection because the same user connected again.
    var replaced: ClientError? { state.withLockedValue { $0.replaced } }

    /// Online users other than this one, by name, with the key the server presents and their trust state.
    var peers: [Peer] {
        let online = state.withLockedValue { state in state.directory.filter { $0.key != identity.name.value } }
        return online.map { Peer(name: $0.key, key: $0.value, state: (try? store.contact(named: $0.key))?.state) }.sorted { $0.name < $1.name }
    }

    /// The key the server presents for an online user.
    func presentedKey(of name: String) -> PublicKey? {
        state.withLockedValue { $0.directory[name] }
    }

    /// Pins or checks a key the server presents for `name`; warns once per new key. Returns the contact
    /// when its pinned key may be used, or throws `ClientError.keyChanged`.
    @discardableResult
    func checkPresentedKey(_ key: PublicKey, of name: String) throws -> Contact {
        switch try store.observe(name: name, key: key) {
        case let .pinnedNow(contact), let .known(contact):
            guard contact.isUsable else { throw keyChangedError(contact, presented: contact.pendingKey ?? key) }
            return contact
        case let .changed(contact, newKey, firstWarning):
            if firstWarning { warnKeyChanged(contact, presented: newKey) }
            throw keyChangedError(contact, presented: newKey)
        }
    }

    private func keyChangedError(_ contact: Contact, presented: PublicKey) -> ClientError {
        .keyChanged(name: contact.name, pinned: contact.fingerprint, presented: Peer(name: contact.name, key: presented).fingerprint, home: store.homePath)
    }

    private func warnKeyChanged(_ contact: Contact, presented: PublicKey) {
        eventSink.yield(.keyChanged(name: contact.name, pinnedFingerprint: contact.fingerprint, presentedFingerprint: Peer(name: contact.name, key: presented).fingerprint))
    }

    /// Observes a key from the directory without failing: a change only warns.
    private func observeDirectoryKey(_ key: PublicKey, of name: String) {
        guard name != identity.name.value else { return }
        _ = try? checkPresentedKey(key, of: name)
    }

    // MARK: From the channel

    func handshakeCompleted(serverKey: PublicKey, channel: any Channel) {
        let fingerprint = ServerFingerprint.of(serverKey)
        do {
            switch try store.checkServer(address: address.description, key: serverKey) {
            case .pinnedNow:
                eventSink.yield(.serverPinned(address: address.description, fingerprint: fingerprint))
            case .matches:
                break
            case let .changed(pinned):
                welcome.fail(ClientError.serverKeyChanged(address: address.description, pinned: ServerFingerprint.of(pinned), presented: fingerprint, home: store.homePath))
                channel.close(promise: nil)
                return
            }
        } catch {
            welcome.fail(error)
            channel.close(promise: nil)
            return
        }
        state.withLockedValue {
            $0.serverKey = serverKey
            $0.channel = channel
        }
        let hello = Frame.hello(Hello(name: identity.name.value, clientVersion: ClientVersion.string, sendsOnly: sendsOnly, acknowledgesLive: !sendsOnly))
        channel.writeAndFlush(hello.encoded(allocator: channel.allocator), promise: nil)
    }

    func received(_ frame: Frame, channel: any Channel) {
        switch frame {
        case let .welcome(welcome):
            let entries = welcome.online.compactMap { entry in Self.peerKey(entry).map { (entry.name, $0) } }
            // Keys are pinned before the users are listed online: whoever sees a peer in `peers` finds its contact.
            for (name, key) in entries { observeDirectoryKey(key, of: name) }
            state.withLockedValue { state in
                for (name, key) in entries { state.directory[name] = key }
            }
            self.welcome.succeed(welcome)
        case let .presence(presence):
            guard let key = Self.peerKey(presence.user) else { return }
            let peer = Peer(name: presence.user.name, key: key)
            switch presence.event {
            case .joined:
                observeDirectoryKey(key, of: peer.name)
                state.withLockedValue { $0.directory[peer.name] = key }
                eventSink.yield(.joined(Peer(name: peer.name, key: key, state: (try? store.contact(named: peer.name))?.state)))
            case .left:
                state.withLockedValue { $0.directory[peer.name] = nil }
                eventSink.yield(.left(peer))
            }
        case let .deliver(deliver):
            receive(deliver, channel: channel)
        case let .ack(ack):
            answer(ack.requestID, with: frame)
        case let .lookupResult(result):
            answer(result.requestID, with: frame)
        case let .userList(list):
            answer(list.requestID, with: frame)
        case let .error(error):
            if error.requestID != 0, answer(error.requestID, with: frame) { return }
            if error.code == .replaced { state.withLockedValue { $0.replaced = .replaced(error.reason) } }
            welcome.fail(ClientError.refused(error))
            eventSink.yield(.notice(error.reason))
        case let .ping(nonce):
            channel.writeAndFlush(Frame.pong(nonce).encoded(allocator: channel.allocator), promise: nil)
        case let .bye(reason):
            eventSink.yield(.notice(reason))
        case .pong, .hello, .lookup, .send, .deliveryAck, .listUsers:
            break
        }
    }

    func closed(reason: String) {
        let pending = state.withLockedValue { state -> [EventLoopPromise<Frame>] in
            state.closedReason = reason
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        welcome.fail(ClientError.disconnected(reason))
        pending.forEach { $0.fail(ClientError.disconnected(reason)) }
        eventSink.yield(.disconnected(reason: reason))
        eventSink.finish()
    }

    // MARK: Requests

    /// Sends a frame built with a fresh request id and waits for the frame that answers it.
    func request(_ makeFrame: (UInt32) -> Frame) async throws -> Frame {
        let (channel, requestID, promise): (any Channel, UInt32, EventLoopPromise<Frame>) = try state.withLockedValue { state in
            if let reason = state.closedReason { throw ClientError.disconnected(reason) }
            guard let channel = state.channel else { throw ClientError.disconnected("not connected") }
            let requestID = state.nextRequestID
            state.nextRequestID = requestID == .max ? 1 : requestID + 1
            let promise = channel.eventLoop.makePromise(of: Frame.self)
            state.pending[requestID] = promise
            return (channel, requestID, promise)
        }
        channel.writeAndFlush(makeFrame(requestID).encoded(allocator: channel.allocator), promise: nil)
        return try await promise.futureResult.get()
    }

    @discardableResult
    private func answer(_ requestID: UInt32, with frame: Frame) -> Bool {
        guard let promise = state.withLockedValue({ $0.pending.removeValue(forKey: requestID) }) else { return false }
        promise.succeed(frame)
        return true
    }

    // MARK: Incoming envelopes

    /// What became of one delivery.
    private enum Arrival {
        case accepted(ReceivedMessage)
        case duplicate(String)
        /// Not accepted now, but it may be later (saving failed): a stored delivery stays on the server.
        case rejected(String)
        /// From a key that is not the sender's pinned one: kept until the user accepts the key
        /// (`openAgain(from:)`), and a stored delivery stays on the server meanwhile.
        case awaitingKey(sender: String)
        /// Can never be accepted (forged, damaged, expired): a stored delivery is acknowledged so the server drops it.
        case rejectedForGood(String)
    }

    /// Opens, checks and saves a delivery, reports it, and acknowledges a stored one, or a live direct one (the
    /// server holds those for this client, `Hello.acknowledgesLive`), once it is done with it here.
    private func receive(_ deliver: Deliver, channel: any Channel) {
        let arrival = open(deliver)
        var saved = true
        switch arrival {
        case let .accepted(message):
            eventSink.yield(.message(message))
        case let .awaitingKey(sender):
            saved = false
            state.withLockedValue { $0.awaitingKey.keep(deliver, from: sender) }
            eventSink.yield(.rejected(reason: "a message claiming to be from \(sender) under a key that is not their pinned key is not shown; it is shown once you accept the new key (/verify \(sender) or /trust \(sender))"))
        case let .duplicate(reason) where !deliver.stored:
            eventSink.yield(.rejected(reason: reason))
        case .duplicate:
            break // a stored delivery sent again after a reconnect: already shown once
        case let .rejected(reason):
            saved = false
            eventSink.yield(.rejected(reason: reason))
        case let .rejectedForGood(reason):
            eventSink.yield(.rejected(reason: reason))
        }
        let idRange = EnvelopeRoutingFields.messageIDRange
        if saved, deliver.stored || Self.isDirect(deliver), let messageID = deliver.header.getBytes(at: deliver.header.readerIndex + idRange.lowerBound, length: idRange.count) {
            channel.writeAndFlush(Frame.deliveryAck(DeliveryAck(messageID: messageID)).encoded(allocator: channel.allocator), promise: nil)
        }
    }

    /// Opens again the deliveries from `sender` that came under a key the user has now accepted, showing and
    /// acknowledging them as if they had just arrived.
    func openAgain(from sender: String) {
        let (channel, deliveries) = state.withLockedValue { ($0.channel, $0.awaitingKey.take(from: sender)) }
        guard let channel, !deliveries.isEmpty else { return }
        channel.eventLoop.execute {
            for deliver in deliveries { self.receive(deliver, channel: channel) }
        }
    }

    /// Whether the envelope's header says it is a direct message, as the server reads it.
    private static func isDirect(_ deliver: Deliver) -> Bool {
        deliver.header.withUnsafeReadableBytes { (try? EnvelopeRoutingFields(parsing: $0))?.isDirect ?? false }
    }

    /// The key of a directory entry from the server, or nil for an entry no honest server sends: a key that is
    /// not one, or a name no client could register (one that could disturb a terminal, say).
    private static func peerKey(_ entry: DirectoryEntry) -> PublicKey? {
        guard (try? UserName(entry.name)) != nil else { return nil }
        return try? PublicKey(rawRepresentation: entry.key)
    }

    private func open(_ deliver: Deliver) -> Arrival {
        let opened: OpenedEnvelope
        do {
            opened = try opener.open(
                header: Array(deliver.header.readableBytesView),
                body: Array(deliver.body.readableBytesView),
                wrap: Array(deliver.wrap.readableBytesView)
            )
        } catch {
            return .rejectedForGood("dropped an incoming message that failed verification: \(error)")
        }
        let header = opened.header
        guard (try? UserName(header.senderName)) != nil else {
            return .rejectedForGood("dropped a message whose sender, '\(PrintableText.line(header.senderName))', is not a LanChat user name")
        }
        guard MessageWindow.accepts(header.timestamp) else {
            return .rejectedForGood("dropped a message from \(header.senderName) whose timestamp lies outside the accepted window (clock skew or a replay)")
        }
        let contact: Contact
        do {
            contact = try checkPresentedKey(header.senderKey, of: header.senderName)
        } catch {
            return .awaitingKey(sender: header.senderName)
        }
        guard let text = MessageContent.decodeText(opened.plaintext) else {
            return .rejectedForGood("dropped a message from \(header.senderName) whose content is not valid text")
        }
        let isPrivate = if case .direct = header.kind { true } else { false }
        let message = ReceivedMessage(
            id: Hex.encode(header.messageID),
            sender: Peer(name: header.senderName, key: header.senderKey, state: contact.state == .new ? .pinned : contact.state),
            text: text,
            isPrivate: isPrivate,
            sentAt: header.timestamp
        )
        do {
            guard try store.acceptIncoming(message, messageID: header.messageID) else {
                return .duplicate("dropped a replayed copy of message \(message.id) from \(header.senderName)")
            }
        } catch {
            return .rejected("a message from \(header.senderName) could not be saved (\(error)); the server keeps it")
        }
        return .accepted(message)
    }
}

/// The version this client reports in `hello`.
public enum ClientVersion {
    public static let string = "lanchat 0.1.0"
}
