import LanChatCrypto
import NIOCore

/// Fired inbound once the Noise handshake has finished: the peer's authenticated static key.
public struct NoiseHandshakeCompleted: Sendable {
    public let remoteStatic: PublicKey
    public let handshakeHash: [UInt8]
}

/// Runs a `Noise_XX_25519_AESGCM_SHA256` handshake on a connection, then encrypts and decrypts its byte stream.
///
/// Inbound it takes whole Noise messages (put a 2-byte length-field decoder in front) and passes on plaintext
/// bytes. Outbound it takes plaintext bytes, keeps them until flush, and then encrypts everything written
/// since the last flush into as few Noise messages as possible (each at most 65535 bytes), each prefixed with
/// its 2-byte big-endian length, as one write.
public final class NoiseChannelHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case handshaking(NoiseHandshakeState)
        case transport(NoiseTransport)
        case failed
    }

    private var state: State
    private var pending = CircularBuffer<(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)>(initialCapacity: 4)
    private var pendingBytes = 0
    private var flushRequested = false
    private let handshakeTimeout: TimeAmount
    private var timeout: Scheduled<Void>?

    /// - Parameters:
    ///   - role: `.initiator` for a client, `.responder` for the server.
    ///   - localStatic: this side's static key (the user's identity key, or the server's key).
    public init(
        role: NoiseHandshakeState.Role,
        localStatic: PrivateKey,
        prologue: [UInt8] = ProtocolLimits.noisePrologue,
        handshakeTimeout: TimeAmount = .seconds(10)
    ) throws {
        state = .handshaking(try NoiseHandshakeState(pattern: .XX, role: role, prologue: prologue, localStatic: localStatic))
        self.handshakeTimeout = handshakeTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    /// Arms the handshake timeout and, for the initiator, sends the first message. Runs once.
    private func start(context: ChannelHandlerContext) {
        guard timeout == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            let (handler, context) = loopBound.value
            if case .handshaking = handler.state {
                handler.fail(context: context, ProtocolError.handshakeFailed("no handshake within \(Double(handler.handshakeTimeout.nanoseconds) / 1e9) s"))
            }
        }
        if case var .handshaking(handshake) = state, handshake.isMyTurn {
            do {
                let message = try handshake.writeMessage()
                state = .handshaking(handshake)
                writeHandshakeMessage(message, context: context)
            } catch {
                fail(context: context, ProtocolError.handshakeFailed("\(error)"))
            }
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        state = .failed
        failPending(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        switch state {
        case var .handshaking(handshake):
            do {
                _ = try handshake.readMessage(Array(message.readableBytesView))
                if handshake.isMyTurn {
                    writeHandshakeMessage(try handshake.writeMessage(), context: context)
                }
                if handshake.isComplete {
                    try complete(handshake, context: context)
                } else {
                    state = .handshaking(handshake)
                }
            } catch {
                fail(context: context, ProtocolError.handshakeFailed("\(error)"))
            }
        case var .transport(transport):
            let plaintextCount = message.readableBytes - AESGCMKey.tagCount
            guard plaintextCount >= 0 else {
                fail(context: context, CryptoError.authenticationFailed)
                return
            }
            var plaintext = context.channel.allocator.buffer(capacity: plaintextCount)
            do {
                try message.withUnsafeReadableBytes { ciphertext in
                    _ = try plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: plaintextCount) { out in
                        try transport.receive.decrypt(associatedData: UnsafeRawBufferPointer(start: nil, count: 0), ciphertext: ciphertext, into: out)
                    }
                }
            } catch {
                fail(context: context, error)
                return
            }
            state = .transport(transport)
            context.fireChannelRead(wrapInboundOut(plaintext))
        case .failed:
            break
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .failed = state {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let buffer = unwrapOutboundIn(data)
        pendingBytes += buffer.readableBytes
        pending.append((buffer, promise))
    }

    public func flush(context: ChannelHandlerContext) {
        guard case .transport = state else {
            flushRequested = true
            return
        }
        flushPending(context: context)
    }

    // MARK: Internals

    private func complete(_ handshake: NoiseHandshakeState, context: ChannelHandlerContext) throws {
        guard let remoteStatic = handshake.remoteStatic else { throw ProtocolError.handshakeFailed("no remote static key") }
        timeout?.cancel()
        state = .transport(try handshake.split())
        context.fireUserInboundEventTriggered(NoiseHandshakeCompleted(remoteStatic: remoteStatic, handshakeHash: handshake.handshakeHash))
        if flushRequested || !pending.isEmpty { flushPending(context: context) }
    }

    private func writeHandshakeMessage(_ message: [UInt8], context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: message.count + 2)
        buffer.writeInteger(UInt16(message.count))
        buffer.writeBytes(message)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func flushPending(context: ChannelHandlerContext) {
        flushRequested = false
        guard !pending.isEmpty, case var .transport(transport) = state else { return }
        let messageCount = (pendingBytes + ProtocolLimits.maxNoisePlaintext - 1) / ProtocolLimits.maxNoisePlaintext
        var out = context.channel.allocator.buffer(capacity: pendingBytes + max(messageCount, 1) * (2 + AESGCMKey.tagCount))
        var promises: [EventLoopPromise<Void>] = []
        do {
            // Walk the pending writes once, in order, cutting Noise messages of at most 65519 plaintext bytes.
            var remaining = pendingBytes
            var messageLeft = 0
            var sealer: AESGCMKey.StreamingSealer?
            for entry in pending {
                var buffer = entry.buffer
                while buffer.readableBytes > 0 {
                    if messageLeft == 0 {
                        messageLeft = min(remaining, ProtocolLimits.maxNoisePlaintext)
                        out.writeInteger(UInt16(messageLeft + AESGCMKey.tagCount))
                        sealer = try transport.send.streamingSealer()
                    }
                    let take = min(messageLeft, buffer.readableBytes)
                    try buffer.withUnsafeReadableBytes { bytes in
                        _ = try out.writeWithUnsafeMutableBytes(minimumWritableBytes: take) {
                            try sealer!.update(UnsafeRawBufferPointer(rebasing: bytes[..<take]), into: $0)
                        }
                    }
                    buffer.moveReaderIndex(forwardBy: take)
                    messageLeft -= take
                    remaining -= take
                    if messageLeft == 0 {
                        _ = try out.writeWithUnsafeMutableBytes(minimumWritableBytes: AESGCMKey.tagCount) { tag in
                            try sealer!.finish(tagInto: tag)
                            return AESGCMKey.tagCount
                        }
                    }
                }
                if let promise = entry.promise { promises.append(promise) }
            }
            pending.removeAll(keepingCapacity: true)
        } catch {
            fail(context: context, error) // fails every pending write's promise
            return
        }
        pendingBytes = 0
        state = .transport(transport)
        let promise: EventLoopPromise<Void>? = promises.isEmpty ? nil : context.eventLoop.makePromise()
        if let promise {
            let batch = promises
            promise.futureResult.whenComplete { result in batch.forEach { $0.completeWith(result) } }
        }
        context.write(wrapOutboundOut(out), promise: promise)
        context.flush()
    }

    private func failPending(_ error: any Error) {
        while let entry = pending.popFirst() { entry.promise?.fail(error) }
        pendingBytes = 0
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        timeout?.cancel()
        state = .failed
        failPending(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension NoiseChannelHandler: Sendable {}
