import COpenSSL

/// An X25519 private key held by OpenSSL (`EVP_PKEY`); its memory is wiped by OpenSSL when released.
public final class PrivateKey: @unchecked Sendable {
    /// The OpenSSL key object; immutable after creation, so safe to share between threads.
    let pkey: OpaquePointer
    /// The matching public key.
    public let publicKey: PublicKey

    /// Generates a fresh key pair (`EVP_PKEY_X25519`).
    public convenience init() throws {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nil) else { throw CryptoError.openSSL("EVP_PKEY_CTX_new_id") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var generated: OpaquePointer?
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_keygen(ctx, &generated) == 1, let generated else {
            throw CryptoError.openSSL("EVP_PKEY_keygen")
        }
        try self.init(taking: generated)
    }

    /// Loads a raw 32-byte private scalar (for test vectors and key import).
    public convenience init(rawRepresentation: [UInt8]) throws {
        guard rawRepresentation.count == 32 else { throw CryptoError.invalidKeyLength(expected: 32, actual: rawRepresentation.count) }
        let pkey = rawRepresentation.withUnsafeBufferPointer {
            EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, $0.baseAddress, $0.count)
        }
        guard let pkey else { throw CryptoError.openSSL("EVP_PKEY_new_raw_private_key") }
        try self.init(taking: pkey)
    }

    /// Takes ownership of an X25519 `EVP_PKEY` that holds a private key.
    init(taking pkey: OpaquePointer) throws {
        self.pkey = pkey
        var raw = [UInt8](repeating: 0, count: PublicKey.byteCount)
        var length = raw.count
        guard EVP_PKEY_get_raw_public_key(pkey, &raw, &length) == 1, length == PublicKey.byteCount else {
            EVP_PKEY_free(pkey)
            throw CryptoError.openSSL("EVP_PKEY_get_raw_public_key")
        }
        publicKey = try PublicKey(rawRepresentation: raw)
    }

    deinit { EVP_PKEY_free(pkey) }

    /// The X25519 shared secret with `peer`; throws `CryptoError.invalidPublicKey` when it would be all zeros.
    /// (For many agreements, `KeyAgreement` and `PeerKey` reuse the OpenSSL objects this makes each time.)
    public func sharedSecret(with peer: PublicKey) throws -> SecretBytes {
        try KeyAgreement(self).sharedSecret(with: PeerKey(peer))
    }

    /// The raw 32-byte private scalar, as wiped-on-release secret bytes (for test vectors).
    public func rawSecret() throws -> SecretBytes {
        try SecretBytes(count: 32) { out in
            var length = out.count
            guard EVP_PKEY_get_raw_private_key(pkey, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length) == 1 else {
                throw CryptoError.openSSL("EVP_PKEY_get_raw_private_key")
            }
        }
    }
}
