import NIOCore

extension Frame {
    /// Appends the whole frame (length prefix, type byte, body) to `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case let .deliver(deliver):
            deliver.encodeFrame(into: &buffer)
            return
        case let .ack(ack) where ack.missed.isEmpty:
            ack.encodeFrame(into: &buffer)
            return
        default:
            break
        }
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(kind.rawValue)
        switch self {
        case let .hello(hello):
            buffer.writeInteger(hello.protocolVersion)
            buffer.writeString8(hello.name)
            buffer.writeString8(hello.clientVersion)
            buffer.writeInteger(
                (hello.wantsPresence ? Hello.presenceFlag : 0) | (hello.sendsOnly ? Hello.sendsOnlyFlag : 0)
                    | (hello.acknowledgesLive ? Hello.acknowledgesLiveFlag : 0)
            )
        case let .welcome(welcome):
            buffer.writeInteger(welcome.protocolVersion)
            buffer.writeString8(welcome.serverName)
            buffer.writeString8(welcome.serverVersion)
            // A u16 count: beyond 65535 users online, the list is cut (clients learn the rest from presence and lookups).
            let online = welcome.online.prefix(Int(UInt16.max))
            buffer.writeInteger(UInt16(online.count))
            for entry in online { entry.encode(into: &buffer) }
        case let .presence(presence):
            buffer.writeInteger(presence.event.rawValue)
            presence.user.encode(into: &buffer)
        case let .lookup(lookup):
            buffer.writeInteger(lookup.requestID)
            buffer.writeString8(lookup.name)
        case let .lookupResult(result):
            buffer.writeInteger(result.requestID)
            buffer.writeString8(result.name)
            buffer.writeInteger(result.status.rawValue)
            if result.status != .unknown { buffer.writeBytes(result.key ?? []) }
        case let .send(send):
            buffer.writeInteger(send.requestID)
            buffer.writeInteger(send.storeForOffline ? UInt8(1) : 0)
            buffer.writeBytes16(send.header)
            buffer.writeBytes32(send.body)
            buffer.writeInteger(UInt16(send.wraps.count))
            for wrap in send.wraps {
                buffer.writeString8(wrap.recipient)
                buffer.writeBytes16(wrap.wrap)
            }
        case .deliver:
            preconditionFailure("encoded by Deliver.encodeFrame")
        case let .ack(ack):
            buffer.writeInteger(ack.requestID)
            buffer.writeInteger(ack.delivered)
            buffer.writeInteger(ack.stored)
            let missed = ack.missed.prefix(Int(UInt16.max))
            buffer.writeInteger(UInt16(missed.count))
            for name in missed { buffer.writeString8(name) }
        case let .error(error):
            buffer.writeInteger(error.requestID)
            buffer.writeInteger(error.code.rawValue)
            buffer.writeString16(error.reason)
        case let .ping(nonce), let .pong(nonce):
            buffer.writeInteger(nonce)
        case let .bye(reason):
            buffer.writeString16(reason)
        case let .deliveryAck(ack):
            buffer.writeBytes(ack.messageID)
        case let .listUsers(requestID):
            buffer.writeInteger(requestID)
        case let .userList(list):
            buffer.writeInteger(list.requestID)
            let users = list.users.prefix(Int(UInt16.max))
            buffer.writeInteger(UInt16(users.count))
            for entry in users {
                entry.user.encode(into: &buffer)
                buffer.writeInteger(entry.online ? UInt8(1) : 0)
            }
        }
        buffer.setInteger(UInt32(buffer.writerIndex - lengthIndex - 4), at: lengthIndex)
    }

    /// The frame as a new buffer.
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        encode(into: &buffer)
        return buffer
    }
}

extension DirectoryEntry {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeString8(name)
        buffer.writeBytes(key)
    }
}

// The frames the relay writes once per message (a delivery and its acknowledgement) are encoded with one
// capacity check and raw stores: field by field, each `ByteBuffer` write is an out-of-line call with a run-time
// exclusivity check, and together they were a fifth of the relay's time in the direct-message benchmark.

extension Deliver {
    /// Appends the whole `deliver` frame.
    func encodeFrame(into buffer: inout ByteBuffer) {
        header.withUnsafeReadableBytes { header in
            body.withUnsafeReadableBytes { body in
                wrap.withUnsafeReadableBytes { Self.encodeFrame(stored: stored, header: header, body: body, wrap: $0, into: &buffer) }
            }
        }
    }

    /// Appends the `deliver` frame of these parts, exactly as `Frame.deliver(Deliver(…)).encode(into:)` does, without
    /// making the frame (for the relay, which has the parts in the bytes of the `send` it received).
    public static func encodeFrame(stored: Bool, header: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer, wrap: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        let headCount = headCount(header: header.count, body: body.count)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: headCount + wrap.count) { out in
            var writer = RawWriter(out)
            writeHead(to: &writer, stored: stored, header: header, body: body, wrapLength: wrap.count)
            writer.put(wrap)
            return headCount + wrap.count
        }
    }

    /// Bytes of a `deliver` frame before the wrap itself: length prefix, type, flags, header, body, wrap length.
    fileprivate static func headCount(header: Int, body: Int) -> Int {
        4 + 1 + 1 + 2 + header + 4 + body + 2
    }

    /// Writes a `deliver` frame up to and including the wrap's `u16` length.
    fileprivate static func writeHead(to writer: inout RawWriter, stored: Bool, header: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer, wrapLength: Int) {
        precondition(header.count <= Int(UInt16.max) && wrapLength <= Int(UInt16.max))
        writer.put(UInt32(headCount(header: header.count, body: body.count) - 4 + wrapLength))
        writer.put(Frame.Kind.deliver.rawValue)
        writer.put(stored ? UInt8(1) : 0)
        writer.put(UInt16(header.count))
        writer.put(header)
        writer.put(UInt32(body.count))
        writer.put(body)
        writer.put(UInt16(wrapLength))
    }
}

extension SendView {
    /// Bytes of the `deliver` frame of this direct message (with its one wrap), length prefix included.
    public var directDeliveryCount: Int {
        Deliver.headCount(header: header.count, body: body.count) + recipients[0].wrap.count
    }

    /// Appends the `deliver` frame of this direct message, with its one wrap, straight from the `send` frame's bytes.
    public func encodeDirectDelivery(stored: Bool, into buffer: inout ByteBuffer) {
        withUnsafeBytes { frame in
            Deliver.encodeFrame(
                stored: stored, header: UnsafeRawBufferPointer(rebasing: frame[header]), body: UnsafeRawBufferPointer(rebasing: frame[body]),
                wrap: UnsafeRawBufferPointer(rebasing: frame[recipients[0].wrap]), into: &buffer
            )
        }
    }
}

extension Ack {
    /// Appends the whole `ack` frame; for an acknowledgement without missed recipients.
    func encodeFrame(into buffer: inout ByteBuffer) {
        precondition(missed.isEmpty)
        let count = 4 + 1 + 4 + 2 + 2 + 2
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { out in
            var writer = RawWriter(out)
            writer.put(UInt32(count - 4))
            writer.put(Frame.Kind.ack.rawValue)
            writer.put(requestID)
            writer.put(delivered)
            writer.put(stored)
            writer.put(UInt16(0))
            return count
        }
    }
}

/// Stores big-endian integers and copies bytes into memory the caller has sized.
private struct RawWriter {
    private let out: UnsafeMutableRawBufferPointer
    private var offset = 0

    init(_ out: UnsafeMutableRawBufferPointer) {
        self.out = out
    }

    mutating func put<Integer: FixedWidthInteger>(_ value: Integer) {
        out.storeBytes(of: value.bigEndian, toByteOffset: offset, as: Integer.self)
        offset += MemoryLayout<Integer>.size
    }

    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        UnsafeMutableRawBufferPointer(rebasing: out[offset...]).copyMemory(from: bytes)
        offset += bytes.count
    }
}

/// The `deliver` frame split for fan-out: everything up to and including the wrap's length is the same for
/// every recipient and is encoded once; the recipient's wrap itself (bytes of the received `send` frame)
/// follows. Writing `shared` then the wrap produces exactly `Frame.deliver(…).encode`.
public struct DeliveryEncoding: Sendable {
    /// Length prefix, type byte, flags, header, body and the wrap's `u16` length: identical for every recipient.
    public let shared: ByteBuffer

    /// Encodes the shared part for wraps of `wrapLength` bytes.
    public init(stored: Bool = false, header: ByteBuffer, body: ByteBuffer, wrapLength: Int = ProtocolLimits.wrapLength, allocator: ByteBufferAllocator) {
        self = header.withUnsafeReadableBytes { header in
            body.withUnsafeReadableBytes { Self(stored: stored, header: header, body: $0, wrapLength: wrapLength, allocator: allocator) }
        }
    }

    /// Encodes the shared part from the bytes of the header and the body.
    public init(stored: Bool = false, header: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer, wrapLength: Int = ProtocolLimits.wrapLength, allocator: ByteBufferAllocator) {
        let count = Deliver.headCount(header: header.count, body: body.count)
        var buffer = allocator.buffer(capacity: count)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { out in
            var writer = RawWriter(out)
            Deliver.writeHead(to: &writer, stored: stored, header: header, body: body, wrapLength: wrapLength)
            return count
        }
        shared = buffer
    }
}
