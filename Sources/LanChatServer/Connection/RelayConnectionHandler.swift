import LanChatCrypto
import LanChatProtocol
import Logging
import NIOCore

/// One client connection on the relay: registration, routing of envelopes, key lookups, keep-alive.
/// Sits behind the Noise handler and the frame decoder; never sees plaintext messages.
final class RelayConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private enum State {
        case handshaking
        case authenticated(PublicKey)
        case registering
        case registered(ClientSession)
        case closing
    }

    private let relay: Relay
    private let database: ServerDatabase
    private let serverName: String
    private var logger: Logger
    private var state = State.handshaking

    init(relay: Relay, database: ServerDatabase, serverName: String, logger: Logger) {
        self.relay = relay
        self.database = database
        self.serverName = serverName
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        logger[metadataKey: "peer"] = "\(context.channel.remoteAddress.map { "\($0)" } ?? "unknown")"
        logger.info("connected")
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case let .registered(session) = state, relay.unregister(session) {
            relay.announce(.left, of: session, allocator: context.channel.allocator)
        }
        state = .closing
        logger.info("disconnected")
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let completed = event as? NoiseHandshakeCompleted {
            state = .authenticated(completed.remoteStatic)
            logger[metadataKey: "key"] = "\(completed.remoteStatic.hex.prefix(16))"
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch (state, frame) {
        case let (.authenticated(key), .hello(hello)):
            register(hello, key: key, context: context)
        case let (.registered(session), .send(send)):
            route(send, from: session, context: context)
        case let (.registered, .lookup(lookup)):
            answer(lookup, context: context)
        case let (.registered, .ping(nonce)), let (.authenticated, .ping(nonce)):
            write(.pong(nonce), context: context)
        case (.registered, .pong), (.authenticated, .pong):
            break
        case (_, .bye):
            logger.info("client said goodbye")
            context.close(promise: nil)
        case (.closing, _), (.registering, .ping), (.registering, .pong):
            break
        case (.registering, _):
            refuse(ErrorFrame(code: .notRegistered, reason: "wait for welcome before sending"), closing: true, context: context)
        case (.authenticated, _):
            refuse(ErrorFrame(code: .notRegistered, reason: "send hello first"), closing: true, context: context)
        case (.registered, .hello):
            refuse(ErrorFrame(code: .alreadyRegistered, reason: "this connection is already registered"), closing: false, context: context)
        default:
            refuse(ErrorFrame(code: .malformedFrame, reason: "a client may not send a \(frame.kind) frame"), closing: true, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.warning("closing the connection: \(error)")
        if let protocolError = error as? ProtocolError, case .registered = state {
            refuse(ErrorFrame(code: protocolError.code, reason: protocolError.description), closing: true, context: context)
        } else if let protocolError = error as? ProtocolError, case .authenticated = state {
            refuse(ErrorFrame(code: protocolError.code, reason: protocolError.description), closing: true, context: context)
        } else {
            state = .closing
            context.close(promise: nil)
        }
    }

    // MARK: Frames

    private func register(_ hello: Hello, key: PublicKey, context: ChannelHandlerContext) {
        guard hello.protocolVersion == ProtocolLimits.protocolVersion else {
            refuse(ErrorFrame(code: .unsupportedVersion, reason: "this server speaks LanChat protocol \(ProtocolLimits.protocolVersion); the client sent version \(hello.protocolVersion). Update the older side."), closing: true, context: context)
            return
        }
        let name: UserName
        do {
            name = try UserName(hello.name)
        } catch {
            refuse(ErrorFrame(code: .invalidName, reason: "\(error)"), closing: true, context: context)
            return
        }
        state = .registering
        let claim = context.eventLoop.makePromise(of: ServerDatabase.NameClaim.self)
        let database = database
        claim.completeWithTask { try await database.claim(name: name.value, key: key) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        claim.futureResult.whenComplete { result in
            let (handler, context) = loopBound.value
            guard case .registering = handler.state else { return }
            switch result {
            case let .success(.belongsToAnotherKey(owner)):
                handler.refuse(ErrorFrame(code: .nameTaken, reason: "the name '\(name)' belongs to another key (\(ServerFingerprint.of(owner))); pick another name, or ask the server operator to release it"), closing: true, context: context)
            case .success(.bound), .success(.alreadyBound):
                handler.completeRegistration(hello, name: name, key: key, context: context)
            case let .failure(error):
                handler.logger.error("cannot record the registration: \(error)")
                handler.refuse(ErrorFrame(code: .internalError, reason: "the server could not record the registration; try again"), closing: true, context: context)
            }
        }
    }

    private func completeRegistration(_ hello: Hello, name: UserName, key: PublicKey, context: ChannelHandlerContext) {
        let session = ClientSession(name: name.value, key: key, channel: context.channel)
        switch relay.register(session) {
        case .nameTaken:
            refuse(ErrorFrame(code: .nameTaken, reason: "the name '\(name)' is in use by someone with a different key"), closing: true, context: context)
        case let .registered(replaced):
            state = .registered(session)
            logger[metadataKey: "user"] = "\(name)"
            logger.info("registered", metadata: ["client": "\(hello.clientVersion)"])
            if let replaced {
                logger.info("replacing the user's previous connection")
                var bye = context.channel.allocator.buffer(capacity: 64)
                Frame.error(ErrorFrame(code: .replaced, reason: "\(name) connected again from elsewhere")).encode(into: &bye)
                replaced.channel.writeAndFlush(bye).whenComplete { _ in replaced.channel.close(promise: nil) }
            }
            let online = relay.everyone().map(\.entry)
            write(.welcome(Welcome(serverName: serverName, serverVersion: ServerVersion.string, online: online)), context: context)
            if replaced == nil { relay.announce(.joined, of: session, allocator: context.channel.allocator) }
        }
    }

    private func route(_ send: Send, from session: ClientSession, context: ChannelHandlerContext) {
        let names: [String]
        do {
            names = try SendValidation.recipients(of: send, from: session)
        } catch {
            logger.notice("refused an envelope: \(error.reason)")
            write(.error(ErrorFrame(requestID: send.requestID, code: error.code, reason: error.reason)), context: context)
            return
        }
        let allocator = context.channel.allocator
        let delivery = DeliveryEncoding(header: send.header, body: send.body, allocator: allocator)
        var items: [(session: ClientSession, buffers: [ByteBuffer])] = []
        items.reserveCapacity(names.count)
        var missed: [String] = []
        for (wrap, recipient) in zip(send.wraps, relay.sessions(named: names)) {
            guard let recipient else {
                missed.append(wrap.recipient)
                continue
            }
            items.append((recipient, [delivery.shared, DeliveryEncoding.wrapPart(wrap.wrap, allocator: allocator)]))
        }
        if items.isEmpty, names.count == 1 {
            write(.error(ErrorFrame(requestID: send.requestID, code: .recipientOffline, reason: "\(names[0]) is not online")), context: context)
            return
        }
        relay.write(items)
        write(.ack(Ack(requestID: send.requestID, delivered: UInt16(items.count), missed: missed)), context: context)
    }

    private func answer(_ lookup: Lookup, context: ChannelHandlerContext) {
        if let online = relay.session(named: lookup.name) {
            write(.lookupResult(LookupResult(requestID: lookup.requestID, name: lookup.name, status: .online, key: online.key.rawRepresentation)), context: context)
            return
        }
        let stored = context.eventLoop.makePromise(of: PublicKey?.self)
        let database = database
        stored.completeWithTask { try await database.key(of: lookup.name) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        stored.futureResult.whenComplete { result in
            let (handler, context) = loopBound.value
            let key = (try? result.get()) ?? nil
            let answer = LookupResult(requestID: lookup.requestID, name: lookup.name, status: key == nil ? .unknown : .offline, key: key?.rawRepresentation)
            handler.write(.lookupResult(answer), context: context)
        }
    }

    // MARK: Writing

    private func write(_ frame: Frame, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        frame.encode(into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func refuse(_ error: ErrorFrame, closing: Bool, context: ChannelHandlerContext) {
        logger.notice("refused: \(error.reason)")
        var buffer = context.channel.allocator.buffer(capacity: 64)
        Frame.error(error).encode(into: &buffer)
        guard closing else {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            return
        }
        state = .closing
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension RelayConnectionHandler: Sendable {}
