import LanChatCrypto
import Testing

@Suite("Primitives against published vectors")
struct PrimitiveVectorTests {
    @Test("X25519: RFC 7748 §5.2 and §6.1")
    func x25519() throws {
        let file = try Vectors.load("x25519", as: X25519File.self)
        #expect(file.vectors.count == 3)
        for vector in file.vectors {
            switch vector.type {
            case "scalar_mult":
                let key = try PrivateKey(rawRepresentation: hex(vector.scalar!))
                let secret = try key.sharedSecret(with: PublicKey(rawRepresentation: hex(vector.u_in!)))
                #expect(secret.bytes == hex(vector.u_out!), "\(vector.name)")
            default:
                let alice = try PrivateKey(rawRepresentation: hex(vector.alice_private!))
                let bob = try PrivateKey(rawRepresentation: hex(vector.bob_private!))
                #expect(alice.publicKey.rawRepresentation == hex(vector.alice_public!))
                #expect(bob.publicKey.rawRepresentation == hex(vector.bob_public!))
                #expect(try alice.sharedSecret(with: bob.publicKey).bytes == hex(vector.shared_secret!))
                #expect(try bob.sharedSecret(with: alice.publicKey).bytes == hex(vector.shared_secret!))
            }
        }
    }

    @Test("HKDF-SHA256: RFC 5869 A.1–A.3")
    func hkdf() throws {
        let file = try Vectors.load("hkdf_sha256", as: HKDFFile.self)
        #expect(file.vectors.count == 3)
        for vector in file.vectors {
            let okm = try HKDFSHA256.derive(
                inputKeyMaterial: hex(vector.ikm), salt: hex(vector.salt), info: hex(vector.info), outputCount: vector.length
            )
            #expect(okm == hex(vector.okm), "\(vector.name)")
        }
    }

    @Test("AES-256-GCM: GCM spec test cases 13–16, and a flipped tag bit is rejected")
    func aesGCM() throws {
        let file = try Vectors.load("aes_256_gcm", as: GCMFile.self)
        #expect(file.vectors.count == 4)
        for vector in file.vectors {
            let sealed = try AESGCM.seal(key: hex(vector.key), nonce: hex(vector.iv), plaintext: hex(vector.plaintext), associatedData: hex(vector.aad))
            #expect(sealed == hex(vector.ciphertext) + hex(vector.tag), "\(vector.name)")
            let opened = try AESGCM.open(key: hex(vector.key), nonce: hex(vector.iv), ciphertext: sealed, associatedData: hex(vector.aad))
            #expect(opened == hex(vector.plaintext))
            var tampered = sealed
            tampered[tampered.count - 1] ^= 0x01
            #expect(throws: CryptoError.authenticationFailed) {
                try AESGCM.open(key: hex(vector.key), nonce: hex(vector.iv), ciphertext: tampered, associatedData: hex(vector.aad))
            }
            #expect(throws: CryptoError.authenticationFailed) {
                try AESGCM.open(key: hex(vector.key), nonce: hex(vector.iv), ciphertext: sealed, associatedData: hex(vector.aad) + [1])
            }
        }
    }

    @Test("AES-256-GCM with a session's two keys: seals under the sealing key, opens under the opening key only")
    func aesGCMKeyPair() throws {
        let vector = try Vectors.load("aes_256_gcm", as: GCMFile.self).vectors[0]
        let key = SecretBytes(hex(vector.key)), other = SecretBytes(try SecureRandom.bytes(32))
        let sealer = try AESGCMKey(sealingWith: key, openingWith: other), opener = try AESGCMKey(sealingWith: other, openingWith: key)
        let (nonce, aad, plaintext) = (hex(vector.iv), hex(vector.aad), hex(vector.plaintext))
        func seal(_ cipher: AESGCMKey) throws -> [UInt8] { try cipher.seal(nonce: nonce, plaintext: plaintext, associatedData: aad) }
        func open(_ cipher: AESGCMKey, _ sealed: [UInt8]) throws -> [UInt8] { try cipher.open(nonce: nonce, ciphertext: sealed, associatedData: aad) }
        let sealed = try seal(sealer)
        #expect(sealed == hex(vector.ciphertext) + hex(vector.tag))
        #expect(try open(opener, sealed) == plaintext)
        #expect(throws: CryptoError.authenticationFailed) { try open(sealer, sealed) }
        #expect(try seal(opener) != sealed)
    }

    @Test("a public key: its 32 bytes back, equal keys equal and hashed alike, any other length refused")
    func publicKeyBytes() throws {
        let bytes = try SecureRandom.bytes(32)
        let key = try PublicKey(rawRepresentation: bytes), same = try PublicKey(rawRepresentation: bytes[...])
        #expect(key.rawRepresentation == bytes)
        #expect(key.withUnsafeBytes { Array($0) } == bytes)
        #expect(key == same && key.hashValue == same.hashValue)
        for index in [0, 8, 16, 31] {
            var changed = bytes
            changed[index] ^= 0x80
            #expect(try PublicKey(rawRepresentation: changed) != key, "byte \(index)")
        }
        #expect(Set([key, same, try PrivateKey().publicKey]).count == 2)
        #expect(throws: CryptoError.invalidPublicKey) { try PublicKey(rawRepresentation: bytes + [0]) }
        #expect(throws: CryptoError.invalidPublicKey) { try PublicKey(rawRepresentation: []) }
    }

    @Test("SHA-256, SHA-512 and HMAC-SHA256 known answers")
    func digests() {
        #expect(Hex.encode(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(SHA512.hash(Array("abc".utf8))) ==
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        // RFC 4231 test case 2.
        #expect(Hex.encode(HMACSHA256.authenticationCode(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))) ==
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("a low-order public key gives no shared secret")
    func lowOrderPoint() throws {
        let key = try PrivateKey()
        #expect(throws: CryptoError.invalidPublicKey) { try key.sharedSecret(with: PublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32))) }
        var one = [UInt8](repeating: 0, count: 32)
        one[0] = 1
        #expect(throws: CryptoError.invalidPublicKey) { try key.sharedSecret(with: PublicKey(rawRepresentation: one)) }
        #expect(throws: CryptoError.invalidPublicKey) { try PublicKey(rawRepresentation: [UInt8](repeating: 9, count: 31)) }
    }

    @Test("random bytes differ and keys are fresh")
    func randomness() throws {
        #expect(try SecureRandom.bytes(32) != SecureRandom.bytes(32))
        #expect(try PrivateKey().publicKey != PrivateKey().publicKey)
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
    }
}
