import LanChatCrypto
import Testing

@Suite("Noise against published vectors")
struct NoiseVectorTests {
    @Test("Noise_XX_25519_AESGCM_SHA256: every handshake message, the handshake hash and every transport message")
    func xx() throws {
        let file = try Vectors.load("noise_xx_25519_aesgcm_sha256", as: NoiseFile.self)
        #expect(file.vectors.count == 2)
        for vector in file.vectors {
            var initiator = try NoiseHandshakeState(
                pattern: .XX, role: .initiator, prologue: hex(vector.init_prologue),
                localStatic: PrivateKey(rawRepresentation: hex(vector.init_static)),
                localEphemeral: PrivateKey(rawRepresentation: hex(vector.init_ephemeral))
            )
            var responder = try NoiseHandshakeState(
                pattern: .XX, role: .responder, prologue: hex(vector.resp_prologue),
                localStatic: PrivateKey(rawRepresentation: hex(vector.resp_static)),
                localEphemeral: PrivateKey(rawRepresentation: hex(vector.resp_ephemeral!))
            )
            for (index, message) in vector.messages.prefix(3).enumerated() {
                let initiatorWrites = index % 2 == 0
                let written = initiatorWrites
                    ? try initiator.writeMessage(payload: hex(message.payload))
                    : try responder.writeMessage(payload: hex(message.payload))
                #expect(written == hex(message.ciphertext), "handshake message \(index)")
                let read = initiatorWrites ? try responder.readMessage(written) : try initiator.readMessage(written)
                #expect(read == hex(message.payload))
            }
            #expect(initiator.isComplete && responder.isComplete)
            if let expectedHash = vector.handshake_hash {
                #expect(initiator.handshakeHash == hex(expectedHash))
            }
            #expect(initiator.handshakeHash == responder.handshakeHash)
            #expect(initiator.remoteStatic == (try PrivateKey(rawRepresentation: hex(vector.resp_static)).publicKey))
            #expect(responder.remoteStatic == (try PrivateKey(rawRepresentation: hex(vector.init_static)).publicKey))
            var initiatorTransport = try initiator.split()
            var responderTransport = try responder.split()
            for (index, message) in vector.messages.dropFirst(3).enumerated() {
                let responderSends = index % 2 == 0
                let ciphertext = responderSends
                    ? try responderTransport.send.encrypt(plaintext: hex(message.payload))
                    : try initiatorTransport.send.encrypt(plaintext: hex(message.payload))
                #expect(ciphertext == hex(message.ciphertext), "transport message \(index)")
                let plaintext = responderSends
                    ? try initiatorTransport.receive.decrypt(ciphertext: ciphertext)
                    : try responderTransport.receive.decrypt(ciphertext: ciphertext)
                #expect(plaintext == hex(message.payload))
            }
        }
    }

    @Test("Noise_K_25519_AESGCM_SHA256: the handshake message, the handshake hash and every transport message")
    func k() throws {
        let file = try Vectors.load("noise_k_25519_aesgcm_sha256", as: NoiseFile.self)
        #expect(file.vectors.count == 2)
        for vector in file.vectors {
            var initiator = try NoiseHandshakeState(
                pattern: .K, role: .initiator, prologue: hex(vector.init_prologue),
                localStatic: PrivateKey(rawRepresentation: hex(vector.init_static)),
                localEphemeral: PrivateKey(rawRepresentation: hex(vector.init_ephemeral)),
                remoteStatic: PublicKey(rawRepresentation: hex(vector.init_remote_static!))
            )
            var responder = try NoiseHandshakeState(
                pattern: .K, role: .responder, prologue: hex(vector.resp_prologue),
                localStatic: PrivateKey(rawRepresentation: hex(vector.resp_static)),
                remoteStatic: PublicKey(rawRepresentation: hex(vector.resp_remote_static!))
            )
            let first = vector.messages[0]
            let written = try initiator.writeMessage(payload: hex(first.payload))
            #expect(written == hex(first.ciphertext))
            #expect(try responder.readMessage(written) == hex(first.payload))
            if let expectedHash = vector.handshake_hash {
                #expect(initiator.handshakeHash == hex(expectedHash))
                #expect(responder.handshakeHash == hex(expectedHash))
            }
            var sender = try initiator.split()
            var receiver = try responder.split()
            for (index, message) in vector.messages.dropFirst().enumerated() {
                let ciphertext = try sender.send.encrypt(plaintext: hex(message.payload))
                #expect(ciphertext == hex(message.ciphertext), "transport message \(index)")
                #expect(try receiver.receive.decrypt(ciphertext: ciphertext) == hex(message.payload))
            }
        }
    }

    @Test("handshake misuse and tampering are typed errors")
    func misuse() throws {
        var initiator = try NoiseHandshakeState(pattern: .XX, role: .initiator, prologue: [], localStatic: PrivateKey())
        var responder = try NoiseHandshakeState(pattern: .XX, role: .responder, prologue: [], localStatic: PrivateKey())
        #expect(throws: CryptoError.self) { try responder.writeMessage() }
        #expect(throws: CryptoError.self) { try initiator.split() }
        let first = try initiator.writeMessage()
        #expect(throws: CryptoError.self) { try responder.readMessage(Array(first.prefix(31))) }
        var fresh = try NoiseHandshakeState(pattern: .XX, role: .responder, prologue: [], localStatic: PrivateKey())
        _ = try fresh.readMessage(first)
        var second = try fresh.writeMessage()
        second[40] ^= 0x80
        #expect(throws: CryptoError.authenticationFailed) { try initiator.readMessage(second) }
        _ = responder
    }

    @Test("different prologues do not complete a handshake")
    func prologueMismatch() throws {
        var initiator = try NoiseHandshakeState(pattern: .XX, role: .initiator, prologue: Array("LanChat/1".utf8), localStatic: PrivateKey())
        var responder = try NoiseHandshakeState(pattern: .XX, role: .responder, prologue: Array("LanChat/2".utf8), localStatic: PrivateKey())
        _ = try responder.readMessage(initiator.writeMessage())
        let second = try responder.writeMessage()
        #expect(throws: CryptoError.authenticationFailed) { try initiator.readMessage(second) }
    }
}
