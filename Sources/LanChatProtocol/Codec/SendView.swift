import NIOCore

/// A `send` frame read in place, as the relay reads every message: its fields are positions in the frame's
/// bytes, so reading one costs no copy, no reference count and no string per recipient. Every field is checked
/// (truncation, flag bits, UTF-8 of the names, trailing bytes) with the errors `ProtocolError` gives for any
/// frame; `send` gives the frame decoded into values, which is how `Frame(decoding:)` decodes a `send`.
public struct SendView: Sendable {
    /// Where one recipient's name and wrap lie in the frame's bytes.
    public struct Recipient: Sendable {
        @usableFromInline let nameStart: UInt32
        @usableFromInline let wrapStart: UInt32
        @usableFromInline let wrapCount: UInt16
        @usableFromInline let nameCount: UInt8

        /// The name's UTF-8 bytes, as positions in `SendView.withUnsafeBytes`'s buffer.
        @inlinable public var name: Range<Int> { Int(nameStart)..<Int(nameStart) + Int(nameCount) }
        /// The wrap's bytes, as positions in `SendView.withUnsafeBytes`'s buffer.
        @inlinable public var wrap: Range<Int> { Int(wrapStart)..<Int(wrapStart) + Int(wrapCount) }
    }

    /// The whole frame, type byte first (without the length prefix).
    public let frame: ByteBuffer
    public let requestID: UInt32
    /// Store the envelope for named recipients who are offline (always done for a direct message).
    public let storeForOffline: Bool
    /// The envelope header's bytes, as positions in `withUnsafeBytes`'s buffer.
    public let header: Range<Int>
    /// The envelope body's bytes, likewise.
    public let body: Range<Int>
    /// The recipients in the order of their wraps.
    public let recipients: [Recipient]

    /// Reads the bytes of a `send` frame (type byte first, as `FrameAssembler.nextBody` gives them).
    public init(decoding frame: ByteBuffer) throws(ProtocolError) {
        // Parsed before anything is stored, so that a refusal leaves nothing half made to clean up.
        let fields = try frame.withUnsafeReadableBytes { bytes throws(ProtocolError) in try Fields(parsing: bytes) }
        self.frame = frame
        requestID = fields.requestID
        storeForOffline = fields.storeForOffline
        header = fields.header
        body = fields.body
        recipients = fields.recipients
    }

    /// Calls `body` with the frame's bytes, which the ranges of this view index. (Inlinable: the relay calls it
    /// for every message, and a generic call across modules would not be specialized.)
    @inlinable
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try frame.withUnsafeReadableBytes(body)
    }

    /// The envelope header (a slice of the frame).
    public var headerBuffer: ByteBuffer { slice(header) }
    /// The envelope body (a slice of the frame).
    public var bodyBuffer: ByteBuffer { slice(body) }

    /// The name of the recipient at `index` (checked to be UTF-8 when the frame was read), as `PrintableText`.
    public func recipientName(at index: Int) -> String {
        withUnsafeBytes { Self.name(recipients[index], in: $0) }
    }

    /// Every recipient's name, in the order of the wraps.
    public var recipientNames: [String] {
        withUnsafeBytes { frame in recipients.map { Self.name($0, in: frame) } }
    }

    private static func name(_ recipient: Recipient, in frame: UnsafeRawBufferPointer) -> String {
        PrintableText.line(String(decoding: UnsafeRawBufferPointer(rebasing: frame[recipient.name]), as: UTF8.self))
    }

    /// The recipient at `index` and their wrap (a slice of the frame).
    public func wrap(at index: Int) -> Send.Wrap {
        Send.Wrap(recipient: recipientName(at: index), wrap: slice(recipients[index].wrap))
    }

    /// The frame decoded into values.
    public var send: Send {
        Send(requestID: requestID, storeForOffline: storeForOffline, header: headerBuffer, body: bodyBuffer, wraps: recipients.indices.map(wrap(at:)))
    }

    private func slice(_ range: Range<Int>) -> ByteBuffer {
        frame.getSlice(at: frame.readerIndex + range.lowerBound, length: range.count)!
    }
}

extension SendView {
    /// The parsed fields, read with a cursor over the raw bytes.
    private struct Fields {
        var requestID: UInt32 = 0
        var storeForOffline = false
        var header = 0..<0
        var body = 0..<0
        var recipients: [Recipient] = []

        init(parsing bytes: UnsafeRawBufferPointer) throws(ProtocolError) {
            var cursor = WireCursor(bytes: bytes)
            guard try cursor.integer("frame type", as: UInt8.self) == Frame.Kind.send.rawValue else { throw .malformedFrame("not a send frame") }
            requestID = try cursor.integer("request id")
            let flags: UInt8 = try cursor.integer("send flags")
            guard flags & ~1 == 0 else { throw .malformedFrame("unknown bits in send flags") }
            storeForOffline = flags == 1
            header = try cursor.bytes("header", count: Int(cursor.integer("header", as: UInt16.self)))
            body = try cursor.bytes("body", count: Int(cursor.integer("body", as: UInt32.self)))
            let count: UInt16 = try cursor.integer("wrap count")
            recipients.reserveCapacity(Int(count))
            for _ in 0..<count {
                let name = try cursor.utf8("recipient", count: Int(cursor.integer("recipient", as: UInt8.self)))
                let wrap = try cursor.bytes("wrap", count: Int(cursor.integer("wrap", as: UInt16.self)))
                recipients.append(Recipient(nameStart: UInt32(name.lowerBound), wrapStart: UInt32(wrap.lowerBound), wrapCount: UInt16(wrap.count), nameCount: UInt8(name.count)))
            }
            guard cursor.remaining == 0 else { throw .malformedFrame("\(cursor.remaining) unexpected bytes after a \(Frame.Kind.send) frame") }
        }
    }
}

/// Reads wire fields from raw bytes with the same checks and messages as the `ByteBuffer` readers.
private struct WireCursor {
    let bytes: UnsafeRawBufferPointer
    private var offset = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var remaining: Int { bytes.count - offset }

    @inline(__always)
    mutating func integer<Integer: FixedWidthInteger>(_ field: String, as: Integer.Type = Integer.self) throws(ProtocolError) -> Integer {
        let size = MemoryLayout<Integer>.size
        guard remaining >= size else { throw Self.truncated(field) }
        defer { offset += size }
        return Integer(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Integer.self))
    }

    @inline(__always)
    mutating func bytes(_ field: String, count: Int) throws(ProtocolError) -> Range<Int> {
        guard remaining >= count else { throw Self.truncated(field) }
        defer { offset += count }
        return offset..<offset + count
    }

    /// Like `bytes`, and the bytes must be UTF-8.
    mutating func utf8(_ field: String, count: Int) throws(ProtocolError) -> Range<Int> {
        let range = try bytes(field, count: count)
        guard isValidUTF8(UnsafeRawBufferPointer(rebasing: bytes[range]).bindMemory(to: UInt8.self)) else {
            throw .malformedFrame("\(field) is not valid UTF-8")
        }
        return range
    }

    /// The error for a field cut short (kept out of line: the readers above are inlined into every field's read).
    @inline(never)
    private static func truncated(_ field: String) -> ProtocolError {
        .malformedFrame("truncated \(field)")
    }
}
