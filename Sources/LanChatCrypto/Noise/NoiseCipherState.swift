/// A Noise CipherState for `AESGCM`: a key and a 64-bit nonce counter (Noise spec §5.1).
///
/// The nonce is 32 zero bits followed by the big-endian counter. The AES context is created once
/// per key and reused for every message.
public struct NoiseCipherState: Sendable {
    private var key: AESGCMKey?
    /// The next nonce to use.
    public private(set) var nonce: UInt64 = 0

    /// A cipher state with no key: encryption is the identity.
    public init() {}

    /// A cipher state with `key` (32 bytes) and nonce 0.
    public init(key: SecretBytes) throws {
        self.key = try AESGCMKey(key)
    }

    /// A cipher state with nonce 0 using one direction of `key`, which another cipher state shares for the other
    /// (a transport's sending state only seals, its receiving state only opens; see `NoiseTransport`).
    init(sharing key: AESGCMKey) {
        self.key = key
    }

    /// Whether a key is set.
    public var hasKey: Bool { key != nil }

    /// Frees the key's OpenSSL contexts until the next message (see `AESGCMKey.releaseContexts()`); for a
    /// transport's states, whose key is shared, both directions'.
    public func releaseContexts() {
        key?.releaseContexts()
    }

    /// Encrypts the concatenation of `plaintextParts` into `out` and advances the nonce; returns the bytes written.
    /// Without a key, copies the plaintext.
    public mutating func encrypt(
        associatedData: UnsafeRawBufferPointer,
        plaintextParts: [UnsafeRawBufferPointer],
        into out: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        guard let key else {
            var offset = 0
            for part in plaintextParts where part.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[offset...]).copyMemory(from: part)
                offset += part.count
            }
            return offset
        }
        guard nonce != .max else { throw CryptoError.nonceExhausted }
        let written = try withNonceBytes { try key.seal(nonce: $0, associatedData: associatedData, plaintextParts: plaintextParts, into: out) }
        nonce += 1
        return written
    }

    /// Decrypts `ciphertext` into `out` and advances the nonce; returns the plaintext length.
    /// A failed tag leaves the nonce unchanged and throws `CryptoError.authenticationFailed`.
    public mutating func decrypt(
        associatedData: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        guard let key else {
            UnsafeMutableRawBufferPointer(rebasing: out[0..<ciphertext.count]).copyMemory(from: ciphertext)
            return ciphertext.count
        }
        guard nonce != .max else { throw CryptoError.nonceExhausted }
        let read = try withNonceBytes { try key.open(nonce: $0, associatedData: associatedData, ciphertext: ciphertext, into: out) }
        nonce += 1
        return read
    }

    /// Encrypts `plaintext` with `associatedData`.
    public mutating func encrypt(associatedData: [UInt8] = [], plaintext: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + (hasKey ? AESGCMKey.tagCount : 0))
        let count = try out.withUnsafeMutableBytes { o in
            try associatedData.withUnsafeBytes { ad in
                try plaintext.withUnsafeBytes { p in try encrypt(associatedData: ad, plaintextParts: [p], into: o) }
            }
        }
        return Array(out[0..<count])
    }

    /// Decrypts `ciphertext` with `associatedData`.
    public mutating func decrypt(associatedData: [UInt8] = [], ciphertext: [UInt8]) throws -> [UInt8] {
        let tag = hasKey ? AESGCMKey.tagCount : 0
        guard ciphertext.count >= tag else { throw CryptoError.authenticationFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tag)
        let count = try out.withUnsafeMutableBytes { o in
            try associatedData.withUnsafeBytes { ad in
                try ciphertext.withUnsafeBytes { c in try decrypt(associatedData: ad, ciphertext: c, into: o) }
            }
        }
        return Array(out[0..<count])
    }

    /// Starts encrypting one transport message (no associated data) given in pieces; advances the nonce.
    /// Requires a key.
    public mutating func streamingSealer() throws -> AESGCMKey.StreamingSealer {
        guard let key else { throw CryptoError.noiseStateViolation("streaming encryption needs a key") }
        guard nonce != .max else { throw CryptoError.nonceExhausted }
        let sealer = try key.streamingSealer(counterNonce: nonce)
        nonce += 1
        return sealer
    }

    private func withNonceBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var bytes: (UInt64, UInt32) = (0, 0)
        return try withUnsafeMutableBytes(of: &bytes) { raw in
            raw.storeBytes(of: 0, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: nonce.bigEndian, toByteOffset: 4, as: UInt64.self)
            return try body(UnsafeRawBufferPointer(rebasing: raw[0..<12]))
        }
    }
}
