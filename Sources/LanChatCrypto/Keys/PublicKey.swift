/// An X25519 public key: 32 bytes, little-endian u-coordinate (RFC 7748).
///
/// The bytes are stored inline (no allocation per key): a relay keeps one per connection, and opening an
/// envelope makes one per sender.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    /// Length of the raw key in bytes.
    public static let byteCount = 32

    private var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// Wraps 32 raw bytes; throws `CryptoError.invalidPublicKey` for any other length.
    public init(rawRepresentation: some Collection<UInt8>) throws {
        guard rawRepresentation.count == Self.byteCount else { throw CryptoError.invalidPublicKey }
        Swift.withUnsafeMutableBytes(of: &bytes) { $0.copyBytes(from: rawRepresentation) }
    }

    /// The 32 raw key bytes (a new array per call; `withUnsafeBytes` reads them in place).
    public var rawRepresentation: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the 32 raw key bytes.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try Swift.withUnsafeBytes(of: bytes, body)
    }

    /// Lowercase hex of the raw key.
    public var hex: String { Hex.encode(rawRepresentation) }

    /// Standard base64 of the raw key.
    public var base64: String { Base64.encode(rawRepresentation) }

    public var description: String { hex }

    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
        lhs.bytes.0 == rhs.bytes.0 && lhs.bytes.1 == rhs.bytes.1 && lhs.bytes.2 == rhs.bytes.2 && lhs.bytes.3 == rhs.bytes.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.0)
        hasher.combine(bytes.1)
        hasher.combine(bytes.2)
        hasher.combine(bytes.3)
    }
}

/// Standard base64 (RFC 4648) for displaying keys.
public enum Base64 {
    /// Encodes bytes with padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * offset) }
            for position in 0..<4 {
                if position <= chunk.count {
                    out.append(alphabet[Int((value >> (18 - 6 * position)) & 0x3f)])
                } else {
                    out.append(UInt8(ascii: "="))
                }
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
