/// A Noise SymmetricState with SHA-256 (Noise spec §5.2): chaining key, handshake hash and cipher state.
struct NoiseSymmetricState {
    private(set) var chainingKey: SecretBytes
    private(set) var handshakeHash: [UInt8]
    private(set) var cipher = NoiseCipherState()
    /// Digest and MAC contexts reused for every hash and HKDF of this handshake (and maybe of others before it).
    private let contexts: NoiseContexts

    /// `InitializeSymmetric(protocol_name)`.
    init(protocolName: String, contexts: NoiseContexts) {
        self.contexts = contexts
        let name = Array(protocolName.utf8)
        if name.count <= 32 {
            handshakeHash = name + [UInt8](repeating: 0, count: 32 - name.count)
        } else {
            handshakeHash = SHA256.hash(name)
        }
        chainingKey = SecretBytes(handshakeHash)
    }

    /// `MixKey(input_key_material)`.
    mutating func mixKey(_ inputKeyMaterial: SecretBytes) throws {
        let (nextChainingKey, tempKey) = try hkdf(inputKeyMaterial)
        chainingKey = nextChainingKey
        cipher = try NoiseCipherState(key: tempKey)
    }

    /// `MixHash(data)`.
    mutating func mixHash(_ data: [UInt8]) {
        data.withUnsafeBytes { mixHash($0) }
    }

    /// `MixHash` of a public key, read in place.
    mutating func mixHash(_ key: PublicKey) {
        key.withUnsafeBytes { mixHash($0) }
    }

    private mutating func mixHash(_ data: UnsafeRawBufferPointer) {
        let contexts = contexts
        contexts.hasher.update(handshakeHash)
        contexts.hasher.update(data)
        handshakeHash.withUnsafeMutableBytes { contexts.hasher.finalize(into: $0) }
    }

    /// `EncryptAndHash(plaintext)`.
    mutating func encryptAndHash(_ plaintext: [UInt8]) throws -> [UInt8] {
        let ciphertext = try cipher.encrypt(associatedData: handshakeHash, plaintext: plaintext)
        mixHash(ciphertext)
        return ciphertext
    }

    /// `DecryptAndHash(ciphertext)`.
    mutating func decryptAndHash(_ ciphertext: [UInt8]) throws -> [UInt8] {
        let plaintext = try cipher.decrypt(associatedData: handshakeHash, ciphertext: ciphertext)
        mixHash(ciphertext)
        return plaintext
    }

    var hasKey: Bool { cipher.hasKey }

    /// `Split()`: the initiator-to-responder and responder-to-initiator keys.
    func split() throws -> (SecretBytes, SecretBytes) {
        try hkdf(SecretBytes([]))
    }

    /// Noise's `HKDF(chaining_key, input_key_material, 2)` (spec §4.3): `temp = HMAC(ck, ikm)`,
    /// `out1 = HMAC(temp, 0x01)`, `out2 = HMAC(temp, out1 || 0x02)`, with HMAC-SHA256 from OpenSSL.
    private func hkdf(_ inputKeyMaterial: SecretBytes) throws -> (SecretBytes, SecretBytes) {
        let hmac = contexts.hmac
        let temp = chainingKey.withUnsafeBytes { salt in
            inputKeyMaterial.withUnsafeBytes { ikm in SecretBytes(count: 32) { hmac.authenticate(key: salt, ikm, into: $0) } }
        }
        var one: UInt8 = 1, two: UInt8 = 2
        let first = temp.withUnsafeBytes { key in
            withUnsafeBytes(of: &one) { marker in SecretBytes(count: 32) { hmac.authenticate(key: key, marker, into: $0) } }
        }
        // Under `temp` again: OpenSSL restarts from the keyed state instead of setting the key up anew.
        let second = first.withUnsafeBytes { previous in
            withUnsafeBytes(of: &two) { marker in SecretBytes(count: 32) { hmac.authenticateAgain(previous, marker, into: $0) } }
        }
        return (first, second)
    }
}

/// The reusable OpenSSL contexts of a handshake, or of several run one after another.
final class NoiseContexts: @unchecked Sendable {
    // A handshake state is used by one thread at a time; these contexts go with it.
    let hasher = HashFunction.Hasher(.sha256)
    let hmac = HMACSHA256Context()
}
