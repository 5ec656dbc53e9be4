#if canImport(Glibc)
import Glibc
#endif
import LanChatCrypto
import LanChatProtocol
import Logging
import NIOCore

/// One client connection on the relay: registration, routing and storing of envelopes, key lookups,
/// keep-alive, rate and backpressure limits. Sits behind the Noise handler and cuts the decrypted byte stream
/// into frames itself (`FrameAssembler`); never sees message contents, which are end-to-end encrypted.
final class RelayConnectionHandler: ChannelInboundHandler, WriteObserver {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case handshaking
        /// The handshake's key is `tags.key` (not carried here too: a key is 32 bytes inline).
        case authenticated
        case registering
        case registered(ClientSession)
        case closing

        var isRegistering: Bool {
            if case .registering = self { true } else { false }
        }

        /// Not registered yet: counted by `services.pending`.
        var isPending: Bool {
            switch self {
            case .handshaking, .authenticated, .registering: true
            case .registered, .closing: false
            }
        }
    }

    private let services: RelayServices
    private var frames: FrameAssembler
    /// This connection's peer and the key its handshake authenticated, for its log lines and its registration.
    private var tags = ConnectionLog.Tags()
    /// Counted by `services.pending` until it is registered or closing.
    private var state = State.handshaking {
        didSet { if oldValue.isPending, !state.isPending { services.pending.finished(tags.peer) } }
    }
    private var awaitingPong = false
    /// Whether a frame arrived since the last sweep, and for how long none has.
    private var readSinceSweep = false
    /// Sweeps seen while not registered, up to 65,535 (it fits beside the two flags, costing no memory).
    private var pendingSweeps: UInt16 = 0
    /// This connection's database requests not answered yet (registration, stored deliveries, stores, lookups,
    /// user lists); at `maxDatabaseRequests` its frames wait until one is answered. Fits in the padding too.
    private var databaseRequests: UInt8 = 0
    /// Whether the channel is not being read (`mustWait`): what a client sends then waits in its socket, so
    /// that no client makes the relay queue database work or replies without bound.
    private var readingPaused = false
    private var silentNanoseconds: Int64 = 0
    /// The registration to undo when the connection ends, whatever state it ends in.
    private var session: ClientSession?
    private var sendBudget: TokenBucket
    private let sweeper: ConnectionSweeper
    /// This connection's place in the sweeper's list while it is in a pipeline.
    var sweepSlot: Int?
    /// Since when the channel has not been writable (its outbound buffer full); `.distantFuture` while it is.
    /// The sweeper closes the connection once that lasted `slowReaderTimeout` (no timer per connection).
    private var unwritableSince = NIODeadline.distantFuture
    /// The handler's context while it is in a pipeline: a receipt for a direct message may come back later.
    private var context: ChannelHandlerContext?
    /// Deliveries of the current read batch for sessions on other event loops, handed over at `channelReadComplete`.
    private var deliveries = DeliveryBatch()
    /// Where this sender's recent envelopes went (made on the first `send`; dropped at a sweep when unused or
    /// out of date).
    private var recipientRoutes: RecipientRoutes?
    /// This connection's write side.
    private let outbound: SessionOutbound
    /// Hands receipts of direct messages written on other event loops back to this handler. It holds this handler
    /// (so that a message still gets stored if its write fails after this connection closed); let go when the
    /// handler leaves the pipeline, which ends that cycle once the last receipt on another loop is answered.
    private var onOtherLoops: SenderOnAnotherLoop?

    private var relay: Relay { services.relay }
    private var database: ServerDatabase { services.database }
    private var configuration: ServerConfiguration { services.configuration }
    /// Log lines tagged with the connection's peer, key and user (built per line, not kept per connection).
    private var log: ConnectionLog { ConnectionLog(services.logger, tags: tags, user: session?.name) }

    /// - Parameters:
    ///   - noise: the connection's Noise handler, which the relay writes through.
    ///   - peer: the client's address, counted by `services.pending` until the connection registers or ends.
    ///   - loop: the connection's event loop; call there.
    init(services: RelayServices, noise: any OutboundQueue, peer: SocketAddress?, loop: any EventLoop) {
        self.services = services
        frames = FrameAssembler(maxFrameLength: services.configuration.maxFrameLength)
        let rate = max(1, services.configuration.maxMessagesPerSecond)
        sendBudget = TokenBucket(rate: rate, burst: 2 * rate)
        let resources = services.relay.resources(for: loop, configuration: services.configuration)
        outbound = SessionOutbound(noise: noise, flusher: resources.flusher)
        sweeper = resources.sweeper
        tags.peer = peer
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        precondition(context.eventLoop === outbound.loop, "a relay connection handler must be made on its channel's event loop")
        self.context = context
        sweepSlot = sweeper.add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A channel that never became active gets no `channelInactive`.
        state = .closing
        self.context = nil
        onOtherLoops = nil
        if let sweepSlot { sweeper.remove(slot: sweepSlot) }
        sweepSlot = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        log.info("connected")
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A read that closes the connection (`bye`, or a refusal after a `send` in the same read) gets no
        // `channelReadComplete`: hand over the deliveries already accepted (and acknowledged) in it.
        deliveries.dispatch()
        if let session, relay.unregister(session) {
            relay.announce(.left, of: session, from: context.eventLoop)
        }
        if let session { storeUnacknowledged(for: session) }
        state = .closing
        log.info("disconnected")
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        outbound.isWritable = context.channel.isWritable
        if context.channel.isWritable {
            unwritableSince = .distantFuture
        } else if unwritableSince == .distantFuture {
            unwritableSince = .now()
        }
        context.fireChannelWritabilityChanged()
        resumeReading(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let completed = event as? NoiseHandshakeCompleted {
            tags.key = completed.remoteStatic
            state = .authenticated
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Called by the loop's sweeper every `sweeper.interval`: closes a connection that did not register within
    /// `handshakeTimeout`, and one whose outbound buffer stayed full
    /// for `slowReaderTimeout`, lets the Noise handler free the cipher contexts and last write's storage of a
    /// connection that carried nothing since the last sweep, drops resolved recipients that are out of date (or
    /// unused), pings a peer silent for the ping interval, and closes one that stayed silent for another interval
    /// after the ping.
    /// Returns whether a frame arrived since the last sweep.
    func sweep() -> Bool {
        guard let context, context.channel.isActive else { return false }
        // The deadline is the client's to meet: not counted while the server records its registration.
        if state.isPending, !state.isRegistering {
            pendingSweeps = min(pendingSweeps, .max - 1) + 1
            // Past the Noise handshake, whose own timer ends it, only a missing `hello` keeps a connection here.
            if Int64(pendingSweeps - 1) * sweeper.interval.nanoseconds >= configuration.handshakeTimeout.nanoseconds {
                log.info("closing a connection that did not register within \(configuration.handshakeTimeout.nanoseconds / 1_000_000_000) s")
                state = .closing
                context.close(promise: nil)
                return false
            }
        }
        if !outbound.isWritable, case let unwritableFor = NIODeadline.now() - unwritableSince, unwritableFor >= configuration.slowReaderTimeout {
            log.warning("disconnecting a client that does not read: its outbound buffer stayed full for \((Double(unwritableFor.nanoseconds) / 1e8).rounded() / 10) s (the limit is \(Double(configuration.slowReaderTimeout.nanoseconds) / 1e9) s)")
            state = .closing
            context.close(promise: nil)
            return false
        }
        outbound.releaseIdleResources(immediately: false)
        // Resolved targets keep the recipients' sessions alive: not past a departure, nor while unused.
        if let routes = recipientRoutes, !readSinceSweep || routes.generation != relay.generation { recipientRoutes = nil }
        if readSinceSweep {
            readSinceSweep = false
            silentNanoseconds = 0
            return true
        }
        silentNanoseconds += sweeper.interval.nanoseconds
        guard silentNanoseconds >= configuration.pingInterval.nanoseconds else { return false }
        silentNanoseconds = 0
        if awaitingPong {
            log.info("closing a dead connection: no answer to a ping")
            state = .closing
            context.close(promise: nil)
        } else {
            awaitingPong = true
            write(.ping(UInt64.random(in: 1...UInt64.max)), context: context)
            releaseIdleMemoryNow()
        }
        return false
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let io = error as? IOError, [ECONNRESET, EPIPE].contains(io.errnoCode) {
            log.info("the client reset the connection")  // as a client process ends: nothing to warn of
        } else {
            log.warning("closing the connection: \(error)")
        }
        switch (state, error) {
        case let (.registered, protocolError as ProtocolError), let (.authenticated, protocolError as ProtocolError),
             let (.registering, protocolError as ProtocolError):
            refuse(ErrorFrame(code: protocolError.code, reason: protocolError.description), closing: true, context: context)
        default:
            state = .closing
            context.close(promise: nil)
        }
    }

    // MARK: Frames

    func channelReadComplete(context: ChannelHandlerContext) {
        deliveries.dispatch()
        context.fireChannelReadComplete()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isClosing else { return }
        frames.append(unwrapInboundIn(data))
        handleFrames(context: context)
    }

    /// The most database requests a connection has waiting before its frames wait too.
    static let maxDatabaseRequests: UInt8 = 8

    /// Whether the next frame must wait: the client does not read what it was sent (a reply to it would only
    /// add to its full buffer), or it has `maxDatabaseRequests` waiting.
    private var mustWait: Bool {
        !outbound.isWritable || databaseRequests >= Self.maxDatabaseRequests
    }

    /// Handles the complete frames read, until one must wait; then stops reading the channel.
    private func handleFrames(context: ChannelHandlerContext) {
        // One clock reading for the rate limit of every frame in this read.
        let now = NIODeadline.now()
        do throws(ProtocolError) {
            while !isClosing, !mustWait, var body = try frames.nextBody() {
                if awaitingPong, body.getInteger(at: body.readerIndex, as: UInt8.self) == Frame.Kind.pong.rawValue {
                    releaseIdleMemoryNow()
                }
                awaitingPong = false
                readSinceSweep = true
                // A registered client's `send`, the frame of every message, is read in place and routed without a
                // `Frame` around it: no enum to copy, and no buffer per recipient (nor a string, while the recipients
                // are those of the sender's previous envelope). Every other frame, and a `send` before registration,
                // goes through `handle`.
                if case let .registered(session) = state, body.getInteger(at: body.readerIndex, as: UInt8.self) == Frame.Kind.send.rawValue {
                    receive(try SendView(decoding: body), from: session, at: now, context: context)
                } else if let held = outbound.unacknowledged, let id = UnacknowledgedDeliveries.MessageID(deliveryAck: body), held.acknowledge(id) {
                    // The answer to a held live delivery, the frame after every direct message: read in place too.
                } else {
                    handle(try Frame(decoding: &body), context: context)
                }
            }
        } catch {
            errorCaught(context: context, error: error)
        }
        if mustWait, !readingPaused, !isClosing {
            readingPaused = true
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        }
    }

    /// Goes on with the frames that waited, and reads the channel again, once nothing makes them wait.
    private func resumeReading(context: ChannelHandlerContext) {
        guard readingPaused, !mustWait, !isClosing else { return }
        readingPaused = false
        handleFrames(context: context)
        deliveries.dispatch()
        if !readingPaused { try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true) }
    }

    /// Frees the cipher contexts and the last write's storage of a connection that is about to go quiet, at once
    /// rather than at a later sweep: right after registering, and after each half of a keep-alive (its ping is
    /// sealed, its pong decrypted). Made and freed back to back, the same memory serves the next connection's
    /// exchange; kept until a sweep, the memory of the thousands of connections registered or pinged meanwhile was
    /// all live together, and left the heap larger once freed (about 250 B per idle connection at 10,000 after
    /// registering, 0.8 KB after the keep-alive).
    private func releaseIdleMemoryNow() {
        outbound.releaseIdleResources(immediately: true)
    }

    private var isClosing: Bool {
        if case .closing = state { true } else { false }
    }

    private func handle(_ frame: Frame, context: ChannelHandlerContext) {
        switch (state, frame) {
        case let (.authenticated, .hello(hello)):
            guard let key = tags.key else {
                refuse(ErrorFrame(code: .internalError, reason: "the server lost this connection's key"), closing: true, context: context)
                return
            }
            register(hello, key: key, context: context)
        case let (.registered, .lookup(lookup)):
            answer(lookup, context: context)
        case let (.registered, .listUsers(requestID)):
            listUsers(requestID: requestID, context: context)
        case let (.registered(session), .deliveryAck(ack)):
            acknowledge(ack, from: session)
        case let (.registered, .ping(nonce)), let (.authenticated, .ping(nonce)), let (.registering, .ping(nonce)):
            write(.pong(nonce), context: context)
        case (_, .pong), (.closing, _):
            break
        case (_, .bye):
            log.info("client said goodbye")
            state = .closing
            context.close(promise: nil)
        case (.authenticated, _), (.registering, _):
            refuse(ErrorFrame(code: .notRegistered, reason: "send hello and wait for welcome first"), closing: true, context: context)
        case (.registered, .hello):
            refuse(ErrorFrame(code: .alreadyRegistered, reason: "this connection is already registered"), closing: false, context: context)
        default:
            refuse(ErrorFrame(code: .malformedFrame, reason: "a client may not send a \(frame.kind) frame"), closing: true, context: context)
        }
    }

    // MARK: Registration

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
        let database = database
        onLoop(context, { try await database.claim(name: name.value, key: key) }) { handler, context, result in
            guard case .registering = handler.state else { return }
            switch result {
            case let .success(.belongsToAnotherKey(owner)):
                handler.refuse(ErrorFrame(code: .nameTaken, reason: "the name '\(name)' belongs to another key (\(ServerFingerprint.of(owner))); pick another name, or ask the server operator to release it"), closing: true, context: context)
            case let .success(.resembles(existing)):
                handler.refuse(ErrorFrame(code: .nameTaken, reason: "the name '\(name)' differs only in letter case from '\(existing)', who is registered here, so one could pass for the other; pick another name"), closing: true, context: context)
            case .success(.bound), .success(.alreadyBound):
                handler.completeRegistration(hello, name: name, key: key, context: context)
            case let .failure(error):
                handler.log.error("cannot record the registration: \(error)")
                handler.refuse(ErrorFrame(code: .internalError, reason: "the server could not record the registration; try again"), closing: true, context: context)
            }
        }
    }

    private func completeRegistration(_ hello: Hello, name: UserName, key: PublicKey, context: ChannelHandlerContext) {
        let session = ClientSession(name: name.value, key: key, channel: context.channel, wantsPresence: hello.wantsPresence, outbound: outbound)
        switch hello.sendsOnly ? relay.admitSender(session) : relay.register(session) {
        case .nameTaken:
            refuse(ErrorFrame(code: .nameTaken, reason: "the name '\(name)' is in use by someone with a different key"), closing: true, context: context)
        case let .registered(replaced):
            state = .registered(session)
            self.session = session
            log.info(hello.sendsOnly ? "registered to send only" : "registered", ["client": "\(hello.clientVersion)"])
            if let replaced {
                log.info("replacing the user's previous connection")
                let notice = Frame.error(ErrorFrame(code: .replaced, reason: "\(name) connected again from elsewhere")).encoded(allocator: context.channel.allocator)
                replaced.channel.writeAndFlush(notice).whenComplete { _ in replaced.channel.close(promise: nil) }
            }
            write(.welcome(Welcome(serverName: configuration.serverName, serverVersion: ServerVersion.string, online: hello.wantsPresence ? relay.everyone().map(\.entry) : [])), context: context)
            releaseIdleMemoryNow() // most connections go quiet after registering
            guard !hello.sendsOnly else { return }
            if hello.acknowledgesLive { outbound.holdLiveDeliveries(byteLimit: configuration.outboundBufferLimit) }
            if replaced == nil { relay.announce(.joined, of: session, from: context.eventLoop) }
            deliverStored(to: session, context: context)
        }
    }

    /// Sends the deliveries stored while the user was offline, oldest first; each stays stored until acknowledged.
    private func deliverStored(to session: ClientSession, context: ChannelHandlerContext) {
        let database = database
        onLoop(context, { try await database.queued(for: session.name) }) { handler, context, result in
            switch result {
            case let .success(deliveries) where !deliveries.isEmpty:
                for delivery in deliveries {
                    handler.outbound.write(context.channel.allocator.buffer(bytes: delivery), stored: true)
                }
                handler.log.info("delivered \(deliveries.count) stored message(s)")
            case .success:
                break
            case let .failure(error):
                handler.log.error("cannot read stored messages: \(error)")
            }
        }
    }

    /// Deletes an acknowledged stored delivery, with the others of this tick (one held live was answered in
    /// `channelRead`); ignores one beyond the stored deliveries this connection was sent.
    private func acknowledge(_ ack: DeliveryAck, from session: ClientSession) {
        guard outbound.takeStoredAcknowledgement() else { return }
        relay.resources(for: outbound.loop, configuration: configuration).acknowledgements
            .add(recipient: session.name, messageID: ack.messageID, database: database, logger: services.logger)
    }

    // MARK: Routing

    /// A registered client's envelope: routed unless it is over the rate limit.
    private func receive(_ send: SendView, from session: ClientSession, at now: NIODeadline, context: ChannelHandlerContext) {
        guard sendBudget.take(now: now) else {
            refuse(ErrorFrame(requestID: send.requestID, code: .rateLimited, reason: "more than \(configuration.maxMessagesPerSecond) messages per second; slow down"), closing: false, context: context)
            return
        }
        route(send, from: session, context: context)
    }

    private func route(_ send: SendView, from session: ClientSession, context: ChannelHandlerContext) {
        if recipientRoutes == nil { recipientRoutes = RecipientRoutes() }
        let routes = recipientRoutes!
        // The recipients' names as strings only when they differ from the last envelope's: for the name checks and
        // the new resolution.
        let names = routes.match(send, generation: relay.generation) ? nil : send.recipientNames
        let accepted: SendValidation.Accepted
        do {
            accepted = try SendValidation.check(send, from: session, checkingNames: names)
        } catch {
            log.notice("refused an envelope: \(error.reason)")
            write(.error(ErrorFrame(requestID: send.requestID, code: error.code, reason: error.reason)), context: context)
            return
        }
        if let names { routes.resolve(send, names: names, relay: relay, loop: context.eventLoop) }
        let targets = routes.targets
        if accepted.isDirect {
            deliverDirect(send, to: targets[0].isReachable ? targets[0] : .offline, context: context)
            return
        }
        if send.storeForOffline {
            // Kept for every recipient, online or not, then pushed at once to those online: like a direct message, it
            // reaches a connection that had died unnoticed once its client is back (§7.2).
            store(send, isDirect: false, wraps: send.recipients.indices.map(send.wrap(at:)), delivered: 0, missed: [], context: context)
            return
        }
        var delivered = 0
        // Wrap indices of the recipients not reached now (offline, or their connection is backed up).
        var unreachable = routes.offline
        if routes.anyoneOnline {
            // Recipients on this loop get their copies now, from raw views of the shared part and of the frame: per
            // recipient, no reference count is touched and no buffer is copied but into its output.
            let shared = send.withUnsafeBytes { frame in
                let delivery = DeliveryEncoding(
                    header: UnsafeRawBufferPointer(rebasing: frame[send.header]), body: UnsafeRawBufferPointer(rebasing: frame[send.body]),
                    allocator: context.channel.allocator
                )
                delivered = delivery.shared.withUnsafeReadableBytes { routes.deliverLocally($0, wrapsOf: send, in: frame, unreachable: &unreachable) }
                return delivery.shared
            }
            // Recipients on other loops are handed over, one envelope per loop.
            for group in routes.remoteGroups {
                // Those whose connection is backed up now get nothing; the others are counted as delivered.
                var reached: [RemoteRecipient]?
                for (position, recipient) in group.recipients.enumerated() {
                    if recipient.session.channel.isWritable {
                        delivered += 1
                        reached?.append(recipient)
                    } else {
                        if reached == nil { reached = Array(group.recipients[..<position]) }
                        unreachable.append(recipient.wrapIndex)
                    }
                }
                let recipients = reached ?? group.recipients
                if !recipients.isEmpty { deliveries.add(envelope: shared, send: send, to: recipients, on: group.loop) }
            }
        }
        // In the order of the envelope's wraps.
        unreachable.sort()
        outbound.write(.ack(Ack(requestID: send.requestID, delivered: UInt16(delivered), missed: unreachable.map(send.recipientName(at:)))))
    }

    /// Writes a direct message to its recipient and acknowledges it only once it reached the recipient's
    /// socket; if that fails (the recipient went away meanwhile), or the recipient is offline or backed up,
    /// stores it instead. The recipient's connection hands back a receipt with the request id and the `send`
    /// frame, to store if need be (`delivery(_:wasWritten:)`).
    private func deliverDirect(_ send: SendView, to target: RouteTarget, context: ChannelHandlerContext) {
        switch target {
        case let .local(recipient):
            // Encoded straight into the recipient's output: with one recipient there is nothing to share.
            recipient.deliver(send, observer: self)
        case let .remote(recipient):
            // Through the batch, behind this read's other deliveries to that loop, so messages keep their order.
            let sender = onOtherLoops ?? SenderOnAnotherLoop(self, loop: context.eventLoop)
            onOtherLoops = sender
            deliveries.add(direct: send, to: recipient, sender: sender)
        case .offline:
            storeDirect(send)
        }
    }

    /// A direct message reached its recipient's socket (acknowledged now), or could not (stored instead).
    func delivery(_ receipt: WriteReceipt, wasWritten written: Bool) {
        if written {
            outbound.write(.ack(Ack(requestID: receipt.id, delivered: 1)))
            return
        }
        do {
            storeDirect(try SendView(decoding: receipt.bytes))
        } catch {
            log.error("cannot store a direct message that could not be written: \(error)")
        }
    }

    /// Stores a direct message for its recipient, then acknowledges it (or refuses it if the recipient is unknown or
    /// has too many messages waiting).
    private func storeDirect(_ send: SendView) {
        store(send, isDirect: true, wraps: [send.wrap(at: 0)], delivered: 0, missed: [], context: context)
    }

    /// Stores `wraps` durably, then acknowledges (or refuses a direct message whose recipient is unknown or full).
    /// Without a context (the sender's connection is gone) the message is still stored; nobody is answered.
    private func store(_ send: SendView, isDirect: Bool, wraps: [Send.Wrap], delivered: Int, missed: [String], context: ChannelHandlerContext?) {
        let allocator = context?.channel.allocator ?? ByteBufferAllocator()
        let header = send.headerBuffer
        let stored = DeliveryEncoding(stored: true, header: header, body: send.bodyBuffer, allocator: allocator)
        let range = EnvelopeRoutingFields.messageIDRange
        let messageID = header.getBytes(at: header.readerIndex + range.lowerBound, length: range.count) ?? []
        let sender = session?.name ?? ""
        let frames = wraps.map { wrap in
            var frame = stored.shared
            frame.writeImmutableBuffer(wrap.wrap)
            return frame
        }
        let deliveries = zip(wraps, frames).map { wrap, frame in
            ServerDatabase.PendingDelivery(recipient: wrap.recipient, messageID: messageID, sender: sender, delivery: Array(frame.readableBytesView))
        }
        let database = database, maxQueued = configuration.maxQueuedPerRecipient
        onLoop(context, { try await database.store(deliveries, maxQueued: maxQueued) }) { handler, context, result in
            switch result {
            case let .success(outcome):
                if isDirect, let unknown = outcome.unknown.first {
                    handler.write(.error(ErrorFrame(requestID: send.requestID, code: .unknownRecipient, reason: "there is no user named '\(unknown)' on this server")), context: context)
                } else if isDirect, let full = outcome.full.first {
                    handler.write(.error(ErrorFrame(requestID: send.requestID, code: .queueFull, reason: "\(full) already has \(maxQueued) messages waiting; try again after they connect")), context: context)
                } else {
                    if !outcome.full.isEmpty { handler.log.warning("queue full, not stored for: \(outcome.full.joined(separator: ", "))") }
                    let storedFor = Set(outcome.stored)
                    let pushed = handler.relay.pushStored(zip(wraps.map(\.recipient), frames).filter { storedFor.contains($0.0) }, from: context.eventLoop)
                    // A broadcast kept for everyone counts those it reached now as delivered; a direct message stays
                    // "stored" even if its recipient came online meanwhile.
                    let reached = isDirect ? 0 : pushed
                    let ack = Ack(
                        requestID: send.requestID, delivered: UInt16(delivered + reached), stored: UInt16(outcome.stored.count - reached),
                        missed: missed + outcome.unknown + outcome.full
                    )
                    handler.write(.ack(ack), context: context)
                }
            case let .failure(error):
                handler.log.error("cannot store a message: \(error)")
                handler.write(.error(ErrorFrame(requestID: send.requestID, code: .internalError, reason: "the server could not store the message; try again")), context: context)
            }
        }
    }

    /// Stores the live direct deliveries the client never acknowledged (its connection died with them unread, or
    /// it could not save them), so that it gets them when it is back, and pushes them at once to a newer connection
    /// of the user's if one is there already.
    private func storeUnacknowledged(for session: ClientSession) {
        guard let held = outbound.unacknowledged?.takeAll(for: session.name), !held.isEmpty else { return }
        let frames = held.map(\.frame), deliveries = held.map(\.delivery)
        let database = database, maxQueued = configuration.maxQueuedPerRecipient, relay = relay, log = log, loop = outbound.loop
        // A stopping server waits for this write: the senders were told these messages were delivered.
        services.databaseTasks.run {
            do {
                let outcome = try await database.store(deliveries, maxQueued: maxQueued)
                log.info("kept \(outcome.stored.count) unacknowledged message(s) for \(session.name) to deliver again")
                if !outcome.full.isEmpty { log.warning("\(outcome.full.count) message(s) delivered to \(session.name)'s connection but never acknowledged did not fit in the queue and are lost") }
                // The queue fills in order, so the stored ones come first. This session has left the directory:
                // a session found under its name is a newer one.
                let stored = frames.prefix(outcome.stored.count).map { (recipient: session.name, frame: $0) }
                loop.execute { relay.pushStored(stored, from: loop) }
            } catch {
                log.error("cannot store \(deliveries.count) unacknowledged message(s) for \(session.name): \(error)")
            }
        }
    }

    // MARK: Directory

    private func answer(_ lookup: Lookup, context: ChannelHandlerContext) {
        if let online = relay.session(named: lookup.name) {
            write(.lookupResult(LookupResult(requestID: lookup.requestID, name: lookup.name, status: .online, key: online.key.rawRepresentation)), context: context)
            return
        }
        let database = database
        onLoop(context, { try await database.key(of: lookup.name) }) { handler, context, result in
            let key = (try? result.get()) ?? nil
            let answer = LookupResult(requestID: lookup.requestID, name: lookup.name, status: key == nil ? .unknown : .offline, key: key?.rawRepresentation)
            handler.write(.lookupResult(answer), context: context)
        }
    }

    private func listUsers(requestID: UInt32, context: ChannelHandlerContext) {
        let database = database
        onLoop(context, { try await database.registeredUsers() }) { handler, context, result in
            switch result {
            case let .success(users):
                let entries = users.map { user in
                    UserList.Entry(user: DirectoryEntry(name: user.name, key: user.key.rawRepresentation), online: handler.relay.session(named: user.name) != nil)
                }
                handler.write(.userList(UserList(requestID: requestID, users: entries)), context: context)
            case let .failure(error):
                handler.log.error("cannot list users: \(error)")
                handler.write(.error(ErrorFrame(requestID: requestID, code: .internalError, reason: "the server could not list its users")), context: context)
            }
        }
    }

    // MARK: Helpers

    /// Runs `work` off the event loop, then `completion` back on it (if the connection is still open; never
    /// without a context). With a context, counts as one of the connection's `databaseRequests`.
    private func onLoop<T: Sendable>(
        _ context: ChannelHandlerContext?,
        _ work: @escaping @Sendable () async throws -> T,
        completion: @escaping (RelayConnectionHandler, ChannelHandlerContext, Result<T, any Error>) -> Void
    ) {
        let promise = outbound.loop.makePromise(of: T.self)
        // Among the database tasks, which a stopping server waits for before it stops the loop this completes on.
        services.databaseTasks.run {
            do {
                promise.succeed(try await work())
            } catch {
                promise.fail(error)
            }
        }
        guard let context else { return }
        // Saturating: stores started by write receipts come without a read check, so they may outnumber the limit.
        databaseRequests = databaseRequests == .max ? .max : databaseRequests + 1
        let loopBound = NIOLoopBound((self, context, completion), eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { result in
            let (handler, context, completion) = loopBound.value
            handler.databaseRequests = handler.databaseRequests == 0 ? 0 : handler.databaseRequests - 1
            guard context.channel.isActive else { return }
            completion(handler, context, result)
            handler.resumeReading(context: context)
        }
    }

    private func encoded(_ frame: Frame, context: ChannelHandlerContext) -> NIOAny {
        wrapOutboundOut(frame.encoded(allocator: context.channel.allocator))
    }

    private func write(_ frame: Frame, context: ChannelHandlerContext) {
        context.writeAndFlush(encoded(frame, context: context), promise: nil)
    }

    private func refuse(_ error: ErrorFrame, closing: Bool, context: ChannelHandlerContext) {
        log.notice("refused: \(error.reason)")
        guard closing else {
            write(.error(error), context: context)
            return
        }
        state = .closing
        let channel = context.channel
        context.writeAndFlush(encoded(.error(error), context: context)).whenComplete { _ in channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension RelayConnectionHandler: Sendable {}
