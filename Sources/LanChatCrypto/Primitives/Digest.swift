import COpenSSL

/// A hash function from OpenSSL's EVP digest interface.
public struct HashFunction: Sendable {
    /// Output length in bytes.
    public let outputCount: Int
    nonisolated(unsafe) let md: OpaquePointer

    /// SHA-256.
    public static var sha256: HashFunction { HashFunction(outputCount: 32, md: OpenSSLAlgorithms.sha256) }
    /// SHA-512.
    public static var sha512: HashFunction { HashFunction(outputCount: 64, md: OpenSSLAlgorithms.sha512) }

    /// The digest of the concatenation of `parts`.
    public func hash(_ parts: UnsafeRawBufferPointer...) -> [UInt8] {
        let hasher = Hasher(self)
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }

    /// The digest of `bytes`.
    public func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// An incremental hash computation over one reusable `EVP_MD_CTX`.
    public struct Hasher: ~Copyable {
        private let ctx: OpaquePointer
        private let function: HashFunction

        /// Starts a digest computation.
        public init(_ function: HashFunction) {
            guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
            self.ctx = ctx
            self.function = function
            reset()
        }

        deinit { EVP_MD_CTX_free(ctx) }

        /// Restarts the computation, keeping the context's allocation.
        public func reset() {
            guard EVP_DigestInit_ex2(ctx, function.md, nil) == 1 else {
                fatalError("EVP_DigestInit_ex2: \(OpenSSLErrorQueue.drain())")
            }
        }

        /// Feeds bytes into the digest.
        public func update(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count > 0 else { return }
            EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count)
        }

        /// Feeds bytes into the digest.
        public func update(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { update($0) }
        }

        /// Writes the digest into `out` (at least `outputCount` bytes) and restarts.
        public func finalize(into out: UnsafeMutableRawBufferPointer) {
            precondition(out.count >= function.outputCount)
            var length: UInt32 = 0
            EVP_DigestFinal_ex(ctx, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
            reset()
        }

        /// The digest; the hasher restarts for reuse.
        public func finalize() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: function.outputCount)
            out.withUnsafeMutableBytes { finalize(into: $0) }
            return out
        }
    }
}

/// SHA-256 (FIPS 180-4).
public enum SHA256 {
    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] { HashFunction.sha256.hash(bytes) }
}

/// SHA-512 (FIPS 180-4).
public enum SHA512 {
    /// The SHA-512 digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] { HashFunction.sha512.hash(bytes) }
}

/// HMAC-SHA256 (RFC 2104) through `EVP_MAC`.
public enum HMACSHA256 {
    /// The 32-byte authentication code of `message` under `key`.
    public static func authenticationCode(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer...) -> [UInt8] {
        guard let ctx = EVP_MAC_CTX_new(OpenSSLAlgorithms.hmac) else { fatalError("EVP_MAC_CTX_new: out of memory") }
        defer { EVP_MAC_CTX_free(ctx) }
        var emptyKey: UInt8 = 0
        let ok = withUnsafeMutablePointer(to: &emptyKey) { empty in
            lanchat_hmac_sha256_init(ctx, key.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(empty), key.count)
        }
        guard ok == 1 else { fatalError("EVP_MAC_init: \(OpenSSLErrorQueue.drain())") }
        for part in message where part.count > 0 {
            EVP_MAC_update(ctx, part.baseAddress!.assumingMemoryBound(to: UInt8.self), part.count)
        }
        var out = [UInt8](repeating: 0, count: 32)
        var length = 0
        EVP_MAC_final(ctx, &out, &length, out.count)
        return out
    }

    /// The 32-byte authentication code of `message` under `key`.
    public static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        key.withUnsafeBytes { k in message.withUnsafeBytes { m in authenticationCode(key: k, message: m) } }
    }
}

/// A reusable HMAC-SHA256 context (`EVP_MAC_CTX`): keyed anew for each code, or kept keyed for the next
/// (`authenticateAgain`), so a run of codes (as in Noise's HKDF) costs no context setup. It holds the last key
/// until `forgetKey()` or release. Not for concurrent use.
final class HMACSHA256Context {
    private let ctx: OpaquePointer
    private var digestSet = false

    init() {
        guard let ctx = EVP_MAC_CTX_new(OpenSSLAlgorithms.hmac) else { fatalError("EVP_MAC_CTX_new: out of memory") }
        self.ctx = ctx
    }

    deinit { EVP_MAC_CTX_free(ctx) }

    /// Writes HMAC-SHA256(key, concatenation of `parts`) into `out` (32 bytes).
    func authenticate(key: UnsafeRawBufferPointer, _ parts: UnsafeRawBufferPointer..., into out: UnsafeMutableRawBufferPointer) {
        var emptyKey: UInt8 = 0
        let ok = withUnsafeMutablePointer(to: &emptyKey) { empty -> Int32 in
            let keyPointer = key.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(empty)
            // The digest parameter is set once; later inits only change the key.
            return digestSet ? EVP_MAC_init(ctx, keyPointer, key.count, nil) : lanchat_hmac_sha256_init(ctx, keyPointer, key.count)
        }
        guard ok == 1 else { fatalError("EVP_MAC_init: \(OpenSSLErrorQueue.drain())") }
        digestSet = true
        finish(parts, into: out)
    }

    /// Writes HMAC-SHA256 of the concatenation of `parts` into `out` (32 bytes) under the key of the previous
    /// `authenticate`, whose keyed state OpenSSL kept (no key setup).
    func authenticateAgain(_ parts: UnsafeRawBufferPointer..., into out: UnsafeMutableRawBufferPointer) {
        precondition(digestSet, "authenticateAgain needs a key from an earlier authenticate")
        guard EVP_MAC_init(ctx, nil, 0, nil) == 1 else { fatalError("EVP_MAC_init: \(OpenSSLErrorQueue.drain())") }
        finish(parts, into: out)
    }

    private static let zeroKey = [UInt8](repeating: 0, count: 32)

    /// Overwrites the key state kept from the last code (with an all-zero key), for a context that is kept for
    /// later use.
    func forgetKey() {
        guard digestSet else { return }
        // OpenSSL wipes its copy of the previous key and recomputes the keyed state from the new one.
        guard Self.zeroKey.withUnsafeBufferPointer({ EVP_MAC_init(ctx, $0.baseAddress, $0.count, nil) }) == 1 else {
            fatalError("EVP_MAC_init: \(OpenSSLErrorQueue.drain())")
        }
    }

    private func finish(_ parts: [UnsafeRawBufferPointer], into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 32)
        for part in parts where part.count > 0 {
            EVP_MAC_update(ctx, part.baseAddress!.assumingMemoryBound(to: UInt8.self), part.count)
        }
        var length = 0
        EVP_MAC_final(ctx, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, 32)
    }
}
