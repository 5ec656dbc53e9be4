#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether an envelope is for one named recipient or for everyone it was wrapped for.
public enum EnvelopeKind: Hashable, Sendable {
    case direct(recipient: String)
    case broadcast
}

/// The authenticated header of a sealed envelope. Its canonical encoding is the body's associated data
/// and part of every wrap's prologue, so none of it can change without the envelope failing to open.
///
/// Encoding (all integers big-endian): version u8 = 1 · kind u8 (1 direct, 2 broadcast) · message id [16] ·
/// timestamp u64 (ms since 1970) · sender name (u8 length, UTF-8) · sender public key [32] · commitment [32] ·
/// for a direct message only: recipient name (u8 length, UTF-8). Nothing may follow.
public struct EnvelopeHeader: Hashable, Sendable {
    /// The only format version this code writes and reads.
    public static let currentVersion: UInt8 = 1

    public let kind: EnvelopeKind
    public let messageID: [UInt8]
    public let timestamp: UInt64
    public let senderName: String
    public let senderKey: PublicKey
    public let commitment: [UInt8]

    public init(kind: EnvelopeKind, messageID: [UInt8], timestamp: UInt64, senderName: String, senderKey: PublicKey, commitment: [UInt8]) throws {
        guard messageID.count == 16 else { throw EnvelopeError.malformedHeader("message id must be 16 bytes") }
        guard commitment.count == 32 else { throw EnvelopeError.malformedHeader("commitment must be 32 bytes") }
        try Self.checkName(senderName)
        if case let .direct(recipient) = kind { try Self.checkName(recipient) }
        self.kind = kind
        self.messageID = messageID
        self.timestamp = timestamp
        self.senderName = senderName
        self.senderKey = senderKey
        self.commitment = commitment
    }

    /// The canonical bytes.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(120)
        out.append(Self.currentVersion)
        switch kind {
        case .direct: out.append(1)
        case .broadcast: out.append(2)
        }
        out += messageID
        withUnsafeBytes(of: timestamp.bigEndian) { out += $0 }
        Self.appendName(senderName, to: &out)
        senderKey.withUnsafeBytes { out += $0 }
        out += commitment
        if case let .direct(recipient) = kind { Self.appendName(recipient, to: &out) }
        return out
    }

    /// Decodes canonical bytes; anything else (unknown version or kind, bad lengths, bad UTF-8, trailing bytes) throws.
    public init(decoding bytes: some Collection<UInt8>) throws {
        var reader = ByteReader(Array(bytes))
        let version = try reader.byte()
        guard version == Self.currentVersion else { throw EnvelopeError.unsupportedVersion(version) }
        let kindByte = try reader.byte()
        let messageID = try reader.bytes(16)
        let timestamp = try reader.uint64()
        let senderName = try reader.name()
        let senderKey = try PublicKey(rawRepresentation: reader.bytes(32))
        let commitment = try reader.bytes(32)
        let kind: EnvelopeKind
        switch kindByte {
        case 1: kind = .direct(recipient: try reader.name())
        case 2: kind = .broadcast
        default: throw EnvelopeError.malformedHeader("unknown kind \(kindByte)")
        }
        guard reader.isAtEnd else { throw EnvelopeError.malformedHeader("trailing bytes") }
        try self.init(kind: kind, messageID: messageID, timestamp: timestamp, senderName: senderName, senderKey: senderKey, commitment: commitment)
    }

    /// Milliseconds since 1970 now.
    public static func currentTimestamp() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
    }

    private static func checkName(_ name: String) throws {
        guard !name.utf8.isEmpty, name.utf8.count <= 255 else { throw EnvelopeError.malformedHeader("a name must be 1 to 255 bytes") }
    }

    private static func appendName(_ name: String, to out: inout [UInt8]) {
        out.append(UInt8(name.utf8.count))
        out += name.utf8
    }
}

/// Sequential reads from a byte array that throw on truncation.
private struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func byte() throws -> UInt8 { try bytes(1)[0] }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        guard bytes.count - offset >= count else { throw EnvelopeError.malformedHeader("truncated") }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func uint64() throws -> UInt64 {
        try bytes(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func name() throws -> String {
        let raw = try bytes(Int(byte()))
        guard let name = String(validating: raw, as: UTF8.self) else { throw EnvelopeError.malformedHeader("a name is not valid UTF-8") }
        return name
    }
}

/// Where the fields a relay checks lie in canonical header bytes, found without copying anything: the
/// same structural checks as `EnvelopeHeader(decoding:)` (version, kind, lengths, nothing trailing), with
/// names left as bytes for the caller to compare.
public struct EnvelopeRoutingFields: Sendable {
    /// Byte range of the message id in every header.
    public static let messageIDRange = 2..<18

    public let isDirect: Bool
    public let senderName: Range<Int>
    public let senderKey: Range<Int>
    /// The recipient's name, for a direct message.
    public let recipientName: Range<Int>?

    public init(parsing bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count >= 2 else { throw EnvelopeError.malformedHeader("truncated") }
        guard bytes[0] == EnvelopeHeader.currentVersion else { throw EnvelopeError.unsupportedVersion(bytes[0]) }
        guard bytes[1] == 1 || bytes[1] == 2 else { throw EnvelopeError.malformedHeader("unknown kind \(bytes[1])") }
        isDirect = bytes[1] == 1
        var offset = Self.messageIDRange.upperBound + 8
        func name() throws -> Range<Int> {
            guard offset < bytes.count else { throw EnvelopeError.malformedHeader("truncated") }
            let length = Int(bytes[offset])
            guard length > 0, offset + 1 + length <= bytes.count else { throw EnvelopeError.malformedHeader("truncated") }
            defer { offset += 1 + length }
            return offset + 1..<offset + 1 + length
        }
        senderName = try name()
        senderKey = offset..<offset + PublicKey.byteCount
        offset += PublicKey.byteCount + 32
        guard offset <= bytes.count else { throw EnvelopeError.malformedHeader("truncated") }
        recipientName = isDirect ? try name() : nil
        guard offset == bytes.count else { throw EnvelopeError.malformedHeader("trailing bytes") }
    }
}
