/// A Noise SymmetricState with SHA-256 (Noise spec §5.2): chaining key, handshake hash and cipher state.
struct NoiseSymmetricState {
    private(set) var chainingKey: SecretBytes
    private(set) var handshakeHash: [UInt8]
    private(set) var cipher = NoiseCipherState()

    /// `InitializeSymmetric(protocol_name)`.
    init(protocolName: String) {
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
        handshakeHash = handshakeHash.withUnsafeBytes { h in data.withUnsafeBytes { d in HashFunction.sha256.hash(h, d) } }
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

    /// `Split()`: the initiator-to-responder and responder-to-initiator cipher states.
    func split() throws -> (NoiseCipherState, NoiseCipherState) {
        let (first, second) = try hkdf(SecretBytes([]))
        return (try NoiseCipherState(key: first), try NoiseCipherState(key: second))
    }

    /// Noise's `HKDF(chaining_key, input_key_material, 2)`, which is RFC 5869 HKDF with the chaining key as salt and empty info.
    private func hkdf(_ inputKeyMaterial: SecretBytes) throws -> (SecretBytes, SecretBytes) {
        let output = try chainingKey.withUnsafeBytes { salt in
            try inputKeyMaterial.withUnsafeBytes { ikm in
                try HKDFSHA256.deriveSecret(inputKeyMaterial: ikm, salt: salt, info: UnsafeRawBufferPointer(start: nil, count: 0), outputCount: 64)
            }
        }
        return output.withUnsafeBytes { both in
            (SecretBytes(both[0..<32]), SecretBytes(both[32..<64]))
        }
    }
}
