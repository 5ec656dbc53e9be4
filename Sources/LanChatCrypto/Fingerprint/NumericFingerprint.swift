/// Safety numbers exactly as libsignal's numeric fingerprint, version 1.
///
/// Per party: `buf = SHA-512(0x0000 || key || id || key)`, then 5199 more rounds of `buf = SHA-512(buf || key)`,
/// where `key = 0x05 || public key` and `id` is the user name in UTF-8. The first 30 bytes, read as six
/// 5-byte big-endian numbers each taken mod 100000, give 30 digits. Two parties' digits, smaller first,
/// make the 60-digit safety number that both compute alike.
public enum NumericFingerprint {
    /// Rounds of SHA-512 per party.
    public static let iterations = 5200
    static let version: [UInt8] = [0x00, 0x00]

    /// One party's 30 digits.
    public static func digits(for key: PublicKey, stableID: String, iterations: Int = iterations) -> String {
        digits(serializedKey: [0x05] + key.rawRepresentation, stableID: Array(stableID.utf8), iterations: iterations)
    }

    /// One party's 30 digits from an already serialized (33-byte, 0x05-prefixed) key.
    public static func digits(serializedKey: [UInt8], stableID: [UInt8], iterations: Int = iterations) -> String {
        let hasher = HashFunction.Hasher(.sha512)
        var buffer = [UInt8](repeating: 0, count: 64)
        hasher.update(version)
        hasher.update(serializedKey)
        hasher.update(stableID)
        serializedKey.withUnsafeBytes { key in
            buffer.withUnsafeMutableBytes { out in
                hasher.update(key)
                hasher.finalize(into: out)
                for _ in 1..<iterations {
                    hasher.update(UnsafeRawBufferPointer(out))
                    hasher.update(key)
                    hasher.finalize(into: out)
                }
            }
        }
        var text = ""
        for chunk in 0..<6 {
            let value = buffer[chunk * 5..<chunk * 5 + 5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 100_000
            let digits = String(value)
            text += String(repeating: "0", count: 5 - digits.count) + digits
        }
        return text
    }

    /// The 60-digit safety number of two parties: both halves, the smaller first.
    public static func safetyNumber(localKey: PublicKey, localID: String, remoteKey: PublicKey, remoteID: String) -> String {
        let local = digits(for: localKey, stableID: localID)
        let remote = digits(for: remoteKey, stableID: remoteID)
        return local <= remote ? local + remote : remote + local
    }

    /// Digits in groups of five separated by spaces ("12345 67890 ...").
    public static func grouped(_ digits: String) -> String {
        var groups: [Substring] = []
        var rest = Substring(digits)
        while !rest.isEmpty {
            groups.append(rest.prefix(5))
            rest = rest.dropFirst(5)
        }
        return groups.joined(separator: " ")
    }
}
