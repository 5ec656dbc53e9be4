import LanChatCrypto
import NIOCore

/// Fired inbound once the Noise handshake has finished: the peer's authenticated static key.
public struct NoiseHandshakeCompleted: Sendable {
    public let remoteStatic: PublicKey
    public let handshakeHash: [UInt8]
}

/// Runs a `Noise_XX_25519_AESGCM_SHA256` handshake on a connection, then encrypts and decrypts its byte stream.
///
/// Inbound it takes the raw byte stream, cuts it into Noise messages (each a 2-byte big-endian length and
/// that many bytes) and passes on the plaintext of the messages one read completed, in buffers of about 64 KiB.
/// Outbound it copies the plaintext of every write into one output buffer and, on flush, encrypts it in place
/// as Noise messages of at most 65535 bytes, each prefixed with its 2-byte big-endian length, sent as one
/// write. Handlers on the same event loop can also `enqueue` bytes straight into that buffer (no pipeline
/// write, no per-write bookkeeping) and `flushNow(promise:)`; both paths keep the order of the calls.
public final class NoiseChannelHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        /// Boxed: a connection spends milliseconds handshaking and possibly days in transport.
        case handshaking(Handshake)
        case transport
        case failed
    }

    /// What a connection needs only until its handshake is done.
    private final class Handshake {
        var state: NoiseHandshakeState
        let timeLimit: TimeAmount
        var timeout: Scheduled<Void>?
        /// Plaintext written before the handshake finished, sent once it has.
        var beforeTransport: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
        /// Whether a flush was asked for before the handshake finished.
        var flushRequested = false

        init(_ state: NoiseHandshakeState, timeLimit: TimeAmount) {
            self.state = state
            self.timeLimit = timeLimit
        }
    }

    private var state: State
    /// Whether a message was encrypted or decrypted since the idle memory (cipher contexts, last write's storage)
    /// was last checked or released.
    private var usedCipher = false
    /// The session's cipher states, once the handshake is done.
    private var transport: NoiseTransport?
    private var context: ChannelHandlerContext?
    /// The start of a Noise message whose bytes have not all arrived.
    private var partialMessage: ByteBuffer?
    /// Where this handler's buffers come from: NIO's default allocator, which every channel of LanChat's uses
    /// (a copy of the channel's own, 32 bytes, was kept per connection before).
    private static let allocator = ByteBufferAllocator()
    private var output = NoiseOutputBuffer()
    /// Promises of writes that are in `output`, completed with the write that carries them.
    private var promises: [EventLoopPromise<Void>] = []
    /// Handed back with whether the write carrying what was queued before them reached the socket (`notify`).
    private var receipts: [WriteReceipt] = []

    /// - Parameters:
    ///   - role: `.initiator` for a client, `.responder` for the server.
    ///   - localStatic: this side's static key (the user's identity key, or the server's key).
    public init(
        role: NoiseHandshakeState.Role,
        localStatic: PrivateKey,
        prologue: [UInt8] = ProtocolLimits.noisePrologue,
        handshakeTimeout: TimeAmount = .seconds(10)
    ) throws {
        let handshake = try NoiseHandshakeState(pattern: .XX, role: role, prologue: prologue, localStatic: localStatic)
        state = .handshaking(Handshake(handshake, timeLimit: handshakeTimeout))
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    /// Arms the handshake timeout and, for the initiator, sends the first message. Runs once.
    private func start(context: ChannelHandlerContext) {
        guard case let .handshaking(handshake) = state, handshake.timeout == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let limit = handshake.timeLimit
        handshake.timeout = context.eventLoop.scheduleTask(in: limit) {
            let (handler, context) = loopBound.value
            if case .handshaking = handler.state {
                handler.fail(context: context, ProtocolError.handshakeFailed("no handshake within \(Double(limit.nanoseconds) / 1e9) s"))
            }
        }
        if handshake.state.isMyTurn {
            do {
                writeHandshakeMessage(try handshake.state.writeMessage(), context: context)
            } catch {
                fail(context: context, ProtocolError.handshakeFailed("\(error)"))
            }
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        partialMessage = nil
        failPending(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        var plaintext: ByteBuffer?
        if var partial = partialMessage {
            // Only the message cut by the previous read is completed by copying; the rest of this read (up to
            // 1 MiB) is decoded where it is.
            partialMessage = nil
            Self.moveRestOfMessage(from: &bytes, to: &partial)
            guard let message = partial.readLengthPrefixedSlice(as: UInt16.self) else {
                partialMessage = partial
                return
            }
            guard handle(message, remaining: bytes.readableBytes, plaintext: &plaintext, context: context) else { return }
        }
        while let message = bytes.readLengthPrefixedSlice(as: UInt16.self) {
            guard handle(message, remaining: bytes.readableBytes, plaintext: &plaintext, context: context) else { return }
        }
        if bytes.readableBytes > 0, !isFailed {
            if bytes.capacity > 2 * bytes.readableBytes + 4096 {
                // A copy, so that the rest of a message does not keep a large read buffer (up to 1 MiB) alive.
                var partial = Self.allocator.buffer(capacity: bytes.readableBytes)
                partial.writeBuffer(&bytes)
                partialMessage = partial
            } else {
                partialMessage = bytes
            }
        }
        if let plaintext { context.fireChannelRead(wrapInboundOut(plaintext)) }
    }

    /// Moves from `bytes` to `partial` what `partial` lacks of its message (length prefix first), or all of
    /// `bytes` if that is not enough.
    private static func moveRestOfMessage(from bytes: inout ByteBuffer, to partial: inout ByteBuffer) {
        if partial.readableBytes < 2 {
            var head = bytes.readSlice(length: min(2 - partial.readableBytes, bytes.readableBytes))!
            partial.writeBuffer(&head)
        }
        guard let length = partial.getInteger(at: partial.readerIndex, as: UInt16.self) else { return }
        var rest = bytes.readSlice(length: min(2 + Int(length) - partial.readableBytes, bytes.readableBytes))!
        partial.writeBuffer(&rest)
    }

    /// Handles one whole Noise message; decrypted plaintext is collected in `plaintext` and handed on in pieces
    /// of `plaintextBatch`. Returns false once the connection has failed.
    private func handle(_ message: ByteBuffer, remaining: Int, plaintext: inout ByteBuffer?, context: ChannelHandlerContext) -> Bool {
        switch state {
        case .handshaking:
            readHandshakeMessage(message, context: context)
            return true
        case .transport:
            do {
                try decrypt(message, appendingTo: &plaintext, remaining: min(remaining, Self.plaintextBatch))
                if plaintext!.readableBytes >= Self.plaintextBatch {
                    // Handed on while it is still in cache, and in buffers small enough for the heap.
                    context.fireChannelRead(wrapInboundOut(plaintext!))
                    plaintext = nil
                }
                return true
            } catch {
                // What arrived intact before the bad message is still handed on, then the connection fails.
                if let plaintext { context.fireChannelRead(wrapInboundOut(plaintext)) }
                fail(context: context, error)
                return false
            }
        case .failed:
            return false
        }
    }

    /// How much plaintext is collected from one read before it is handed on: small messages are passed on
    /// together, a large read in pieces that are decoded while still in the CPU cache.
    private static let plaintextBatch = 64 * 1024

    private var isFailed: Bool {
        if case .failed = state { true } else { false }
    }

    private func readHandshakeMessage(_ message: ByteBuffer, context: ChannelHandlerContext) {
        guard case let .handshaking(handshake) = state else { return }
        do {
            _ = try handshake.state.readMessage(Array(message.readableBytesView))
            if handshake.state.isMyTurn {
                writeHandshakeMessage(try handshake.state.writeMessage(), context: context)
            }
            if handshake.state.isComplete { try complete(handshake, context: context) }
        } catch {
            fail(context: context, ProtocolError.handshakeFailed("\(error)"))
        }
    }

    /// Decrypts one transport message onto `plaintext` (made on first use, with room for what else the read holds).
    private func decrypt(_ message: ByteBuffer, appendingTo plaintext: inout ByteBuffer?, remaining: Int) throws {
        let plaintextCount = message.readableBytes - AESGCMKey.tagCount
        guard plaintextCount >= 0 else { throw CryptoError.authenticationFailed }
        if plaintext == nil { plaintext = Self.allocator.buffer(capacity: plaintextCount + remaining) }
        try message.withUnsafeReadableBytes { ciphertext in
            _ = try plaintext!.writeWithUnsafeMutableBytes(minimumWritableBytes: plaintextCount) { out in
                try transport!.receive.decrypt(associatedData: UnsafeRawBufferPointer(start: nil, count: 0), ciphertext: ciphertext, into: out)
            }
        }
        usedCipher = true
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        queue(unwrapOutboundIn(data), promise: promise)
    }

    /// Copies `bytes` into the output (or keeps them until the handshake is done); `promise` completes with
    /// the write that carries them, or fails at once if the connection has failed.
    private func queue(_ bytes: ByteBuffer, promise: EventLoopPromise<Void>?) {
        switch state {
        case .failed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        case let .handshaking(handshake):
            handshake.beforeTransport.append((bytes, promise))
        case .transport:
            output.append(bytes, allocator: Self.allocator)
            if let promise { promises.append(promise) }
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .transport:
            flushOutput(context: context)
        case let .handshaking(handshake):
            handshake.flushRequested = true
        case .failed:
            break
        }
    }

    // MARK: Direct use from handlers on the same event loop

    /// Queues a copy of `bytes` for the peer, like a pipeline write without a promise (dropped if the
    /// connection has failed). Call on the channel's event loop; sent at the next flush.
    public func enqueue(_ bytes: ByteBuffer) {
        queue(bytes, promise: nil)
    }

    /// Queues a copy of `first`, then of `second` (a delivery's shared part and its wrap) in one call.
    public func enqueue(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
        switch state {
        case .failed:
            break
        case let .handshaking(handshake):
            var buffer = Self.allocator.buffer(capacity: first.count + second.count)
            buffer.writeBytes(first)
            buffer.writeBytes(second)
            handshake.beforeTransport.append((buffer, nil))
        case .transport:
            output.append(first, second, allocator: Self.allocator)
        }
    }

    /// Lets `encode` write plaintext for the peer straight into the output buffer. Call on the channel's event loop.
    public func enqueue(encoding encode: (inout ByteBuffer) -> Void) {
        switch state {
        case .failed:
            break
        case let .handshaking(handshake):
            var buffer = Self.allocator.buffer(capacity: 64)
            encode(&buffer)
            handshake.beforeTransport.append((buffer, nil))
        case .transport:
            output.append(allocator: Self.allocator, encoding: encode)
        }
    }

    /// Encrypts and sends everything queued; `promise` completes once those bytes were written to the socket
    /// (or fails if they could not be). Call on the channel's event loop.
    public func flushNow(promise: EventLoopPromise<Void>?) {
        guard let context, case .transport = state else {
            if case let .handshaking(handshake) = state {
                if let promise { handshake.beforeTransport.append((Self.allocator.buffer(capacity: 0), promise)) }
                handshake.flushRequested = true
            } else {
                promise?.fail(ChannelError.ioOnClosedChannel)
            }
            return
        }
        if let promise { promises.append(promise) }
        flushOutput(context: context)
    }

    /// Hands `receipt` back to its observer, as written once the write carrying everything queued so far reached
    /// the socket, as not written if it could not (the connection failed or closed first). Whichever flush sends
    /// those bytes, this handler's own or a pipeline flush, answers it. Call on the channel's event loop.
    public func notify(_ receipt: consuming WriteReceipt) {
        if case .failed = state {
            receipt.answer(false)
        } else {
            receipts.append(receipt)
        }
    }

    /// Frees what the session keeps between messages if it encrypted or decrypted nothing since the last call:
    /// its AES-GCM contexts and the storage of its last write, both made again for the next message. Called
    /// periodically, this keeps an idle connection's memory small. Returns whether an established session's were
    /// released. Call on the channel's event loop.
    @discardableResult
    public func releaseIdleMemoryIfUnused() -> Bool {
        guard !usedCipher else {
            usedCipher = false
            return false
        }
        releaseIdleMemory()
        return transport != nil
    }

    /// Frees the session's AES-GCM contexts and the storage of its last write now; they are made again for the
    /// next message. Call on the channel's event loop.
    public func releaseIdleMemory() {
        usedCipher = false
        transport?.releaseContexts()
        output.releaseSpare()
    }

    // MARK: Internals

    private func complete(_ handshake: Handshake, context: ChannelHandlerContext) throws {
        guard let remoteStatic = handshake.state.remoteStatic else { throw ProtocolError.handshakeFailed("no remote static key") }
        handshake.timeout?.cancel()
        transport = try handshake.state.split()
        state = .transport
        for (buffer, promise) in handshake.beforeTransport {
            output.append(buffer, allocator: Self.allocator)
            if let promise { promises.append(promise) }
        }
        context.fireUserInboundEventTriggered(NoiseHandshakeCompleted(remoteStatic: remoteStatic, handshakeHash: handshake.state.handshakeHash))
        if handshake.flushRequested { flushOutput(context: context) }
    }

    private func writeHandshakeMessage(_ message: [UInt8], context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: message.count + 2)
        buffer.writeInteger(UInt16(message.count))
        buffer.writeBytes(message)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Seals the output buffer and writes it with one flush; the write completes the queued promises.
    private func flushOutput(context: ChannelHandlerContext) {
        let wire: ByteBuffer?
        do {
            wire = try output.seal(with: &transport!.send)
        } catch {
            fail(context: context, error) // fails every queued promise
            return
        }
        if !receipts.isEmpty {
            // Handed to the write's callback whole; `removeAll(keepingCapacity:)` would allocate a second buffer.
            let waiting = receipts
            receipts = []
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenComplete { result in
                let ok = (try? result.get()) != nil
                Self.answer(waiting, ok)
            }
            promises.append(written)
        }
        let promise: EventLoopPromise<Void>?
        switch promises.count {
        case 0:
            promise = nil
        case 1:
            promise = promises.removeLast()
        default:
            let batch = promises
            promises.removeAll(keepingCapacity: true)
            promise = context.eventLoop.makePromise()
            promise!.futureResult.whenComplete { result in batch.forEach { $0.completeWith(result) } }
        }
        guard let wire else {
            promise?.succeed()
            return
        }
        usedCipher = true
        context.write(wrapOutboundOut(wire), promise: promise)
        context.flush()
    }

    /// Moves to `.failed` and fails everything waiting to be written.
    private func failPending(_ error: any Error) {
        if case let .handshaking(handshake) = state {
            handshake.timeout?.cancel()
            for entry in handshake.beforeTransport { entry.promise?.fail(error) }
        }
        state = .failed
        let queued = promises, waiting = receipts
        promises = []
        receipts = []
        output = NoiseOutputBuffer()
        for promise in queued { promise.fail(error) }
        Self.answer(waiting, false)
    }

    /// Answers every receipt in place (through a buffer pointer: reading an element of the captured array would copy
    /// it, a retain and a release of its observer and bytes per message).
    private static func answer(_ receipts: [WriteReceipt], _ written: Bool) {
        receipts.withUnsafeBufferPointer { receipts in
            for index in receipts.indices { receipts[index].answer(written) }
        }
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        failPending(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension NoiseChannelHandler: Sendable {}

