import NIOCore

extension Frame {
    /// Parses one frame body (the bytes after the length prefix, type byte first). Every field is checked:
    /// truncation, bad UTF-8, wrong key lengths, unknown types and trailing bytes throw `ProtocolError`.
    public init(decoding frame: inout ByteBuffer) throws(ProtocolError) {
        let typeByte: UInt8 = try frame.readWireInteger("frame type")
        guard let kind = Kind(rawValue: typeByte) else { throw ProtocolError.unknownFrameType(typeByte) }
        switch kind {
        case .hello:
            let version: UInt16 = try frame.readWireInteger("protocol version")
            let name = try frame.readString8("name")
            let clientVersion = try frame.readString8("client version")
            let flags = try frame.readFlags("hello flags", defined: Hello.presenceFlag | Hello.sendsOnlyFlag | Hello.acknowledgesLiveFlag)
            self = .hello(Hello(
                protocolVersion: version, name: name, clientVersion: clientVersion,
                wantsPresence: flags & Hello.presenceFlag != 0, sendsOnly: flags & Hello.sendsOnlyFlag != 0,
                acknowledgesLive: flags & Hello.acknowledgesLiveFlag != 0
            ))
        case .welcome:
            let version: UInt16 = try frame.readWireInteger("protocol version")
            let serverName = try frame.readString8("server name")
            let serverVersion = try frame.readString8("server version")
            let count: UInt16 = try frame.readWireInteger("online count")
            var online: [DirectoryEntry] = []
            for _ in 0..<count { online.append(try DirectoryEntry(decoding: &frame)) }
            self = .welcome(Welcome(protocolVersion: version, serverName: serverName, serverVersion: serverVersion, online: online))
        case .presence:
            let eventByte: UInt8 = try frame.readWireInteger("presence event")
            guard let event = Presence.Event(rawValue: eventByte) else { throw ProtocolError.malformedFrame("unknown presence event \(eventByte)") }
            self = .presence(Presence(event: event, user: try DirectoryEntry(decoding: &frame)))
        case .lookup:
            self = .lookup(Lookup(requestID: try frame.readWireInteger("request id"), name: try frame.readString8("name")))
        case .lookupResult:
            let requestID: UInt32 = try frame.readWireInteger("request id")
            let name = try frame.readString8("name")
            let statusByte: UInt8 = try frame.readWireInteger("status")
            guard let status = LookupResult.Status(rawValue: statusByte) else { throw ProtocolError.malformedFrame("unknown lookup status \(statusByte)") }
            let key = status == .unknown ? nil : try frame.readKey("key")
            self = .lookupResult(LookupResult(requestID: requestID, name: name, status: status, key: key))
        case .send:
            // Read like the relay reads it, from the type byte (already consumed here).
            frame.moveReaderIndex(to: frame.readerIndex - 1)
            let view = try SendView(decoding: frame)
            frame.moveReaderIndex(to: frame.writerIndex)
            self = .send(view.send)
        case .deliver:
            let stored = try frame.readFlags("deliver flags")
            self = .deliver(Deliver(stored: stored, header: try frame.readBytes16("header"), body: try frame.readBytes32("body"), wrap: try frame.readBytes16("wrap")))
        case .ack:
            let requestID: UInt32 = try frame.readWireInteger("request id")
            let delivered: UInt16 = try frame.readWireInteger("delivered count")
            let stored: UInt16 = try frame.readWireInteger("stored count")
            let count: UInt16 = try frame.readWireInteger("missed count")
            var missed: [String] = []
            for _ in 0..<count { missed.append(try frame.readString8("missed name")) }
            self = .ack(Ack(requestID: requestID, delivered: delivered, stored: stored, missed: missed))
        case .error:
            let requestID: UInt32 = try frame.readWireInteger("request id")
            let code = ErrorCode(rawValue: try frame.readWireInteger("error code")) ?? .unknown
            self = .error(ErrorFrame(requestID: requestID, code: code, reason: try frame.readString16("reason")))
        case .ping:
            self = .ping(try frame.readWireInteger("ping nonce"))
        case .pong:
            self = .pong(try frame.readWireInteger("pong nonce"))
        case .bye:
            self = .bye(try frame.readString16("reason"))
        case .deliveryAck:
            guard let messageID = frame.readBytes(length: 16) else { throw ProtocolError.malformedFrame("truncated message id") }
            self = .deliveryAck(DeliveryAck(messageID: messageID))
        case .listUsers:
            self = .listUsers(requestID: try frame.readWireInteger("request id"))
        case .userList:
            let requestID: UInt32 = try frame.readWireInteger("request id")
            let count: UInt16 = try frame.readWireInteger("user count")
            var users: [UserList.Entry] = []
            for _ in 0..<count {
                let user = try DirectoryEntry(decoding: &frame)
                users.append(UserList.Entry(user: user, online: try frame.readFlags("online flag")))
            }
            self = .userList(UserList(requestID: requestID, users: users))
        }
        guard frame.readableBytes == 0 else { throw ProtocolError.malformedFrame("\(frame.readableBytes) unexpected bytes after a \(kind) frame") }
    }
}

extension DirectoryEntry {
    init(decoding buffer: inout ByteBuffer) throws(ProtocolError) {
        self.init(name: try buffer.readString8("user name"), key: try buffer.readKey("user key"))
    }
}

/// Splits the decrypted byte stream into frames: `u32 length`, then that many bytes (type byte and body).
/// A length above `maxFrameLength` throws at once, before any of the frame is buffered.
public struct FrameDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = Frame

    public let maxFrameLength: Int

    public init(maxFrameLength: Int = ProtocolLimits.defaultMaxFrameLength) {
        self.maxFrameLength = maxFrameLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try nextFrame(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// Takes one frame from `buffer` if it holds a whole one.
    public func nextFrame(_ buffer: inout ByteBuffer) throws -> Frame? {
        guard var body = try nextFrameBody(&buffer) else { return nil }
        return try Frame(decoding: &body)
    }

    /// Takes the bytes of one frame (type byte first, length prefix removed) from `buffer` if it holds a whole
    /// one, without decoding them.
    public func nextFrameBody(_ buffer: inout ByteBuffer) throws(ProtocolError) -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length > 0 else { throw ProtocolError.malformedFrame("empty frame") }
        guard length <= maxFrameLength else { throw ProtocolError.frameTooLarge(length: Int(length), limit: maxFrameLength) }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))!
    }
}

/// Cuts a stream of plaintext pieces into frames inside the handler that uses them, for a pipeline without a
/// separate decoding stage (the relay: one fewer handler per connection, and no frame boxed into `NIOAny` and
/// cast back per message). Bytes of an unfinished frame wait for the next piece.
public struct FrameAssembler {
    private let decoder: FrameDecoder
    private var buffered: ByteBuffer?
    /// The error that ended the stream: every later `next()` throws it again.
    private var failure: ProtocolError?

    public init(maxFrameLength: Int = ProtocolLimits.defaultMaxFrameLength) {
        decoder = FrameDecoder(maxFrameLength: maxFrameLength)
    }

    /// Adds the bytes that follow those added before.
    public mutating func append(_ bytes: ByteBuffer) {
        guard bytes.readableBytes > 0, failure == nil else { return }
        guard buffered != nil else {
            buffered = bytes
            return
        }
        // The unfinished frame moves to the front rather than growing a storage mostly read already.
        buffered!.discardReadBytes()
        buffered!.writeImmutableBuffer(bytes)
    }

    /// The next whole frame, or nil until more bytes arrive. Throws `ProtocolError` for a malformed or oversized
    /// frame, and again on every later call: the stream cannot be read past it.
    public mutating func next() throws(ProtocolError) -> Frame? {
        guard var body = try nextBody() else { return nil }
        do throws(ProtocolError) {
            return try Frame(decoding: &body)
        } catch {
            throw failed(error)
        }
    }

    /// The bytes of the next whole frame (type byte first), undecoded, for a reader that decodes only some
    /// frames; nil until more bytes arrive. Throws like `next()`.
    public mutating func nextBody() throws(ProtocolError) -> ByteBuffer? {
        if let failure { throw failure }
        guard buffered != nil else { return nil }
        do {
            guard let body = try decoder.nextFrameBody(&buffered!) else { return nil }
            if buffered!.readableBytes == 0 { buffered = nil }
            return body
        } catch {
            throw failed(error)
        }
    }

    /// Ends the stream with `error`.
    private mutating func failed(_ error: ProtocolError) -> ProtocolError {
        failure = error
        buffered = nil
        return error
    }}
