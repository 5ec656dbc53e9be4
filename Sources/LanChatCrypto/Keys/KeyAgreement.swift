import COpenSSL

/// A peer's X25519 public key as an OpenSSL key object, made once and reused for every agreement with that peer
/// (making one costs OpenSSL a key-manager lookup by name, about as much as a tenth of the agreement itself).
public final class PeerKey: @unchecked Sendable {
    /// The OpenSSL key object; immutable after creation, so safe to share between threads.
    let pkey: OpaquePointer

    /// Makes the OpenSSL key for `publicKey`.
    public init(_ publicKey: PublicKey) throws {
        let pkey = publicKey.withUnsafeBytes {
            EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count)
        }
        guard let pkey else { throw CryptoError.invalidPublicKey }
        self.pkey = pkey
    }

    deinit { EVP_PKEY_free(pkey) }
}

/// An X25519 public-key object whose key is replaced for each use (`EVP_PKEY_set1_encoded_public_key`): for
/// one-time keys such as a sender's ephemeral, which would otherwise each cost a new OpenSSL object. Not for
/// concurrent use.
final class ReusablePeerKey {
    let pkey: OpaquePointer

    init() throws {
        var basePoint = [UInt8](repeating: 0, count: PublicKey.byteCount)
        basePoint[0] = 9
        guard let pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, basePoint, basePoint.count) else {
            throw CryptoError.openSSL("EVP_PKEY_new_raw_public_key")
        }
        self.pkey = pkey
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Makes the object hold `raw` (32 bytes).
    func set(_ raw: ArraySlice<UInt8>) throws {
        guard raw.count == PublicKey.byteCount else { throw CryptoError.invalidPublicKey }
        let ok = raw.withUnsafeBufferPointer { EVP_PKEY_set1_encoded_public_key(pkey, $0.baseAddress, $0.count) }
        guard ok == 1 else {
            OpenSSLErrorQueue.clear()
            throw CryptoError.invalidPublicKey
        }
    }
}

/// X25519 agreements of one private key with any number of peers over one OpenSSL derivation context, which is
/// set up once (`EVP_PKEY_derive_init`) instead of once per agreement. Not for concurrent use.
public final class KeyAgreement {
    private let ctx: OpaquePointer
    /// The private key, kept alive for the context.
    private let key: PrivateKey

    /// Prepares agreements with `key`.
    public init(_ key: PrivateKey) throws {
        guard let ctx = EVP_PKEY_CTX_new_from_pkey(nil, key.pkey, nil) else { throw CryptoError.openSSL("EVP_PKEY_CTX_new_from_pkey") }
        guard EVP_PKEY_derive_init(ctx) == 1 else {
            EVP_PKEY_CTX_free(ctx)
            throw CryptoError.openSSL("EVP_PKEY_derive_init")
        }
        self.ctx = ctx
        self.key = key
    }

    deinit { EVP_PKEY_CTX_free(ctx) }

    /// The X25519 shared secret with `peer`; throws `CryptoError.invalidPublicKey` when it would be all zeros.
    public func sharedSecret(with peer: PeerKey) throws -> SecretBytes {
        try sharedSecret(withKey: peer.pkey)
    }

    /// The X25519 shared secret with the key `peer` holds now.
    func sharedSecret(with peer: ReusablePeerKey) throws -> SecretBytes {
        try sharedSecret(withKey: peer.pkey)
    }

    private func sharedSecret(withKey peer: OpaquePointer) throws -> SecretBytes {
        // Without OpenSSL's peer validation, which makes a context for the peer key and fetches a checker for an
        // X25519 key (a public key is any 32 bytes); a low-order point still fails below.
        guard EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) == 1 else {
            OpenSSLErrorQueue.clear()
            throw CryptoError.invalidPublicKey
        }
        return try SecretBytes(count: 32) { out in
            var length = out.count
            // OpenSSL itself fails the derivation for an all-zero result (a low-order peer point).
            guard EVP_PKEY_derive(ctx, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length) == 1, length == 32 else {
                OpenSSLErrorQueue.clear()
                throw CryptoError.invalidPublicKey
            }
            guard !ConstantTime.isAllZero(UnsafeRawBufferPointer(out)) else { throw CryptoError.invalidPublicKey }
        }
    }
}
