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
    }

    let identity: Identity
    let welcome: EventLoopPromise<Welcome>
    let events: AsyncStream<ChatEvent>
    private let eventSink: AsyncStream<ChatEvent>.Continuation
    private let opener: EnvelopeOpener
    private let state = NIOLockedValueBox(State())

    init(identity: Identity, welcome: EventLoopPromise<Welcome>) {
        self.identity = identity
        self.welcome = welcome
        (events, eventSink) = AsyncStream.makeStream(of: ChatEvent.self)
        opener = EnvelopeOpener(recipientName: identity.name.value, identity: identity.key)
    }

    var serverKey: PublicKey? { state.withLockedValue { $0.serverKey } }

    /// Online users other than this one, by name.
    var peers: [Peer] {
        state.withLockedValue { state in
            state.directory.filter { $0.key != identity.name.value }.map { Peer(name: $0.key, key: $0.value) }.sorted { $0.name < $1.name }
        }
    }

    func peer(named name: String) -> Peer? {
        state.withLockedValue { $0.directory[name].map { Peer(name: name, key: $0) } }
    }

    // MARK: From the channel

    func handshakeCompleted(serverKey: PublicKey, channel: any Channel) {
        state.withLockedValue {
            $0.serverKey = serverKey
            $0.channel = channel
        }
        let hello = Frame.hello(Hello(name: identity.name.value, clientVersion: ClientVersion.string))
        channel.writeAndFlush(hello.encoded(allocator: channel.allocator), promise: nil)
    }

    func received(_ frame: Frame, channel: any Channel) {
        switch frame {
        case let .welcome(welcome):
            state.withLockedValue { state in
                for entry in welcome.online {
                    if let key = try? PublicKey(rawRepresentation: entry.key) { state.directory[entry.name] = key }
                }
            }
            self.welcome.succeed(welcome)
        case let .presence(presence):
            guard let key = try? PublicKey(rawRepresentation: presence.user.key) else { return }
            let peer = Peer(name: presence.user.name, key: key)
            switch presence.event {
            case .joined:
                state.withLockedValue { $0.directory[peer.name] = key }
                eventSink.yield(.joined(peer))
            case .left:
                state.withLockedValue { $0.directory[peer.name] = nil }
                eventSink.yield(.left(peer))
            }
        case let .deliver(deliver):
            open(deliver)
        case let .ack(ack):
            answer(ack.requestID, with: frame)
        case let .lookupResult(result):
            answer(result.requestID, with: frame)
        case let .error(error):
            if error.requestID != 0, answer(error.requestID, with: frame) { return }
            welcome.fail(ClientError.refused(error))
            eventSink.yield(.notice(error.reason))
        case let .ping(nonce):
            channel.writeAndFlush(Frame.pong(nonce).encoded(allocator: channel.allocator), promise: nil)
        case let .bye(reason):
            eventSink.yield(.notice(reason))
        case .pong, .hello, .lookup, .send:
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

    private func open(_ deliver: Deliver) {
        let opened: OpenedEnvelope
        do {
            opened = try opener.open(
                header: Array(deliver.header.readableBytesView),
                body: Array(deliver.body.readableBytesView),
                wrap: Array(deliver.wrap.readableBytesView)
            )
        } catch {
            eventSink.yield(.rejected(reason: "dropped an incoming message that failed verification: \(error)"))
            return
        }
        let header = opened.header
        if let known = peer(named: header.senderName), known.key != header.senderKey {
            eventSink.yield(.rejected(reason: "dropped a message claiming to be from \(header.senderName) under a key that is not theirs"))
            return
        }
        guard let text = MessageContent.decodeText(opened.plaintext) else {
            eventSink.yield(.rejected(reason: "dropped a message from \(header.senderName) whose content is not valid text"))
            return
        }
        let isPrivate = if case .direct = header.kind { true } else { false }
        eventSink.yield(.message(ReceivedMessage(
            id: Hex.encode(header.messageID),
            sender: Peer(name: header.senderName, key: header.senderKey),
            text: text,
            isPrivate: isPrivate,
            sentAt: header.timestamp
        )))
    }
}

/// The version this client reports in `hello`.
public enum ClientVersion {
    public static let string = "lanchat 0.1.0"
}
