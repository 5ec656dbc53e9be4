import COpenSSL

/// AES-256-GCM (NIST SP 800-38D) with 96-bit nonces and 128-bit tags, through `EVP_CIPHER_CTX`.
///
/// An `AESGCMKey` keeps its expanded key in a context per direction, made on first use, and only changes the
/// nonce per message, so a long-lived session key costs no per-message setup. The key itself is stored inline
/// and wiped when released. A duplex session's two keys, one per direction, share one object
/// (`init(sealingWith:openingWith:)`): one allocation per session, which matters for thousands of idle ones.
/// Not for concurrent use.
public final class AESGCMKey: @unchecked Sendable {
    /// Key length in bytes.
    public static let keyCount = 32
    /// Nonce length in bytes.
    public static let nonceCount = 12
    /// Tag length in bytes.
    public static let tagCount = 16

    /// Calls `final` (`EVP_EncryptFinal_ex` or `EVP_DecryptFinal_ex`) with the output room it asks for, on the
    /// stack rather than in an array per message (GCM writes nothing there); returns whether it succeeded.
    static func finishing(_ final: (UnsafeMutablePointer<UInt8>) -> Int32) -> Bool {
        var room: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &room) { final($0.baseAddress!.assumingMemoryBound(to: UInt8.self)) } == 1
    }

    private typealias KeyBytes = (UInt64, UInt64, UInt64, UInt64)
    private var sealingKey: KeyBytes = (0, 0, 0, 0)
    private var openingKey: KeyBytes = (0, 0, 0, 0)
    private var encryptorContext: OpaquePointer?
    private var decryptorContext: OpaquePointer?

    /// Prepares a 32-byte key for repeated use.
    public convenience init(_ key: UnsafeRawBufferPointer) throws {
        try self.init(SecretBytes(key))
    }

    /// Prepares a key held as secret bytes.
    public convenience init(_ key: SecretBytes) throws {
        try self.init(sealingWith: key, openingWith: key)
    }

    /// Prepares a session's two keys: `seal` and `streamingSealer` use `sealingKey`, `open` uses `openingKey`.
    public init(sealingWith sealingKey: SecretBytes, openingWith openingKey: SecretBytes) throws {
        // Both are checked before either is stored.
        for key in [sealingKey, openingKey] where key.count != Self.keyCount {
            throw CryptoError.invalidKeyLength(expected: Self.keyCount, actual: key.count)
        }
        Self.store(sealingKey, in: &self.sealingKey)
        Self.store(openingKey, in: &self.openingKey)
    }

    private static func store(_ key: SecretBytes, in bytes: inout KeyBytes) {
        key.withUnsafeBytes { source in
            withUnsafeMutableBytes(of: &bytes) { $0.copyMemory(from: source) }
        }
    }

    deinit {
        releaseContexts()
        withUnsafeMutableBytes(of: &sealingKey) { OPENSSL_cleanse($0.baseAddress, $0.count) }
        withUnsafeMutableBytes(of: &openingKey) { OPENSSL_cleanse($0.baseAddress, $0.count) }
    }

    /// Frees the expanded key schedules (about 1 KB per direction in OpenSSL); the next use makes them again.
    /// For keys that sit unused for a long time, such as those of idle connections.
    public func releaseContexts() {
        EVP_CIPHER_CTX_free(encryptorContext)
        EVP_CIPHER_CTX_free(decryptorContext)
        encryptorContext = nil
        decryptorContext = nil
    }

    private var encryptor: OpaquePointer {
        get throws {
            if let encryptorContext { return encryptorContext }
            let context = try makeContext(encrypting: true)
            encryptorContext = context
            return context
        }
    }

    private var decryptor: OpaquePointer {
        get throws {
            if let decryptorContext { return decryptorContext }
            let context = try makeContext(encrypting: false)
            decryptorContext = context
            return context
        }
    }

    private func makeContext(encrypting: Bool) throws -> OpaquePointer {
        guard let context = EVP_CIPHER_CTX_new() else { fatalError("EVP_CIPHER_CTX_new: out of memory") }
        // Read in place (`&`): a copy of the key in a temporary would not be wiped.
        let ok = encrypting
            ? withUnsafeBytes(of: &sealingKey) { EVP_EncryptInit_ex2(context, OpenSSLAlgorithms.aes256GCM, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, nil) }
            : withUnsafeBytes(of: &openingKey) { EVP_DecryptInit_ex2(context, OpenSSLAlgorithms.aes256GCM, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, nil) }
        guard ok == 1 else {
            EVP_CIPHER_CTX_free(context)
            throw CryptoError.openSSL("EVP_CipherInit_ex2")
        }
        return context
    }

    /// Encrypts the concatenation of `plaintextParts` into `out`, which must hold their length plus 16 bytes.
    /// Returns the number of bytes written (ciphertext then tag).
    public func seal(
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        plaintextParts: [UnsafeRawBufferPointer],
        into out: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        precondition(nonce.count == Self.nonceCount, "AES-GCM nonce must be 12 bytes")
        let plaintextCount = plaintextParts.reduce(0) { $0 + $1.count }
        precondition(out.count >= plaintextCount + Self.tagCount, "AES-GCM output buffer too small")
        let encryptor = try encryptor
        guard EVP_EncryptInit_ex2(encryptor, nil, nil, nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), nil) == 1 else {
            throw CryptoError.openSSL("EVP_EncryptInit_ex2")
        }
        var length: Int32 = 0
        if associatedData.count > 0 {
            guard EVP_EncryptUpdate(encryptor, nil, &length, associatedData.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(associatedData.count)) == 1 else {
                throw CryptoError.openSSL("EVP_EncryptUpdate")
            }
        }
        let base = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var written = 0
        for part in plaintextParts where part.count > 0 {
            guard EVP_EncryptUpdate(encryptor, base + written, &length, part.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(part.count)) == 1 else {
                throw CryptoError.openSSL("EVP_EncryptUpdate")
            }
            written += Int(length)
        }
        guard EVP_EncryptFinal_ex(encryptor, base + written, &length) == 1 else { throw CryptoError.openSSL("EVP_EncryptFinal_ex") }
        written += Int(length)
        guard EVP_CIPHER_CTX_ctrl(encryptor, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagCount), base + written) == 1 else {
            throw CryptoError.openSSL("EVP_CTRL_AEAD_GET_TAG")
        }
        return written + Self.tagCount
    }

    /// Decrypts `ciphertext` (ciphertext then 16-byte tag) into `out`, which must hold its length minus 16.
    /// Returns the plaintext length, or throws `CryptoError.authenticationFailed` and leaves `out` zeroed.
    public func open(
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        precondition(nonce.count == Self.nonceCount, "AES-GCM nonce must be 12 bytes")
        guard ciphertext.count >= Self.tagCount else { throw CryptoError.authenticationFailed }
        let bodyCount = ciphertext.count - Self.tagCount
        precondition(out.count >= bodyCount, "AES-GCM output buffer too small")
        let decryptor = try decryptor
        guard EVP_DecryptInit_ex2(decryptor, nil, nil, nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), nil) == 1 else {
            throw CryptoError.openSSL("EVP_DecryptInit_ex2")
        }
        var length: Int32 = 0
        if associatedData.count > 0 {
            guard EVP_DecryptUpdate(decryptor, nil, &length, associatedData.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(associatedData.count)) == 1 else {
                throw CryptoError.openSSL("EVP_DecryptUpdate")
            }
        }
        let input = ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let base = out.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) }
        if bodyCount > 0 {
            guard EVP_DecryptUpdate(decryptor, base, &length, input, Int32(bodyCount)) == 1 else {
                throw CryptoError.openSSL("EVP_DecryptUpdate")
            }
        }
        let tag = UnsafeMutableRawPointer(mutating: input + bodyCount)
        guard EVP_CIPHER_CTX_ctrl(decryptor, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagCount), tag) == 1 else {
            throw CryptoError.openSSL("EVP_CTRL_AEAD_SET_TAG")
        }
        var finalLength: Int32 = 0
        guard Self.finishing({ EVP_DecryptFinal_ex(decryptor, $0, &finalLength) }) else {
            OpenSSLErrorQueue.clear()
            if bodyCount > 0 { OPENSSL_cleanse(out.baseAddress, bodyCount) }
            throw CryptoError.authenticationFailed
        }
        return bodyCount
    }
}

/// One-shot AES-256-GCM with byte arrays, for single-use keys and tests.
public enum AESGCM {
    /// `ciphertext || tag` of `plaintext` under `key` and `nonce`, authenticating `associatedData`.
    public static func seal(key: [UInt8], nonce: [UInt8], plaintext: [UInt8], associatedData: [UInt8] = []) throws -> [UInt8] {
        try key.withUnsafeBytes { try AESGCMKey($0) }.seal(nonce: nonce, plaintext: plaintext, associatedData: associatedData)
    }

    /// The plaintext of `ciphertext || tag`; throws `CryptoError.authenticationFailed` on any mismatch.
    public static func open(key: [UInt8], nonce: [UInt8], ciphertext: [UInt8], associatedData: [UInt8] = []) throws -> [UInt8] {
        try key.withUnsafeBytes { try AESGCMKey($0) }.open(nonce: nonce, ciphertext: ciphertext, associatedData: associatedData)
    }
}

extension AESGCMKey {
    /// `ciphertext || tag` of `plaintext` under the sealing key and `nonce`, authenticating `associatedData`.
    public func seal(nonce: [UInt8], plaintext: [UInt8], associatedData: [UInt8] = []) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + AESGCMKey.tagCount)
        _ = try out.withUnsafeMutableBytes { o in
            try nonce.withUnsafeBytes { n in
                try associatedData.withUnsafeBytes { ad in
                    try plaintext.withUnsafeBytes { p in
                        try seal(nonce: n, associatedData: ad, plaintextParts: [p], into: o)
                    }
                }
            }
        }
        return out
    }

    /// The plaintext of `ciphertext || tag` under the opening key; throws `CryptoError.authenticationFailed` on any
    /// mismatch.
    public func open(nonce: [UInt8], ciphertext: [UInt8], associatedData: [UInt8] = []) throws -> [UInt8] {
        guard ciphertext.count >= AESGCMKey.tagCount else { throw CryptoError.authenticationFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - AESGCMKey.tagCount)
        _ = try out.withUnsafeMutableBytes { o in
            try nonce.withUnsafeBytes { n in
                try associatedData.withUnsafeBytes { ad in
                    try ciphertext.withUnsafeBytes { c in
                        try open(nonce: n, associatedData: ad, ciphertext: c, into: o)
                    }
                }
            }
        }
        return out
    }
}

extension AESGCMKey {
    /// Encrypts one message given in pieces, writing ciphertext as the pieces arrive (GCM is a stream mode),
    /// so a caller can encrypt several buffers into one message without concatenating them first.
    public struct StreamingSealer {
        private let ctx: OpaquePointer
        /// Plaintext bytes encrypted so far.
        public private(set) var count = 0

        fileprivate init(ctx: OpaquePointer) { self.ctx = ctx }

        /// Encrypts `part` into `out` (at least `part.count` bytes); returns the bytes written.
        public mutating func update(_ part: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws -> Int {
            guard part.count > 0 else { return 0 }
            precondition(out.count >= part.count)
            var length: Int32 = 0
            guard EVP_EncryptUpdate(ctx, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
                                    part.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(part.count)) == 1
            else { throw CryptoError.openSSL("EVP_EncryptUpdate") }
            count += Int(length)
            return Int(length)
        }

        /// Finishes the message and writes the 16-byte tag into `out`.
        public func finish(tagInto out: UnsafeMutableRawBufferPointer) throws {
            precondition(out.count >= AESGCMKey.tagCount)
            var length: Int32 = 0
            guard AESGCMKey.finishing({ EVP_EncryptFinal_ex(ctx, $0, &length) }),
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, Int32(AESGCMKey.tagCount), out.baseAddress) == 1
            else { throw CryptoError.openSSL("EVP_EncryptFinal_ex") }
        }
    }

    /// Starts a streaming encryption, without associated data, under the nonce `0x00000000 || counter` (big-endian),
    /// the nonce layout of Noise's AESGCM cipher functions.
    public func streamingSealer(counterNonce counter: UInt64) throws -> StreamingSealer {
        let encryptor = try encryptor
        var nonce: (UInt32, UInt32, UInt32) = (0, UInt32(truncatingIfNeeded: counter >> 32).bigEndian, UInt32(truncatingIfNeeded: counter).bigEndian)
        let ok = withUnsafeBytes(of: &nonce) {
            EVP_EncryptInit_ex2(encryptor, nil, nil, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), nil)
        }
        guard ok == 1 else { throw CryptoError.openSSL("EVP_EncryptInit_ex2") }
        return StreamingSealer(ctx: encryptor)
    }
}
