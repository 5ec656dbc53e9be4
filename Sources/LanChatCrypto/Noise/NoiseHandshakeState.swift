/// A Noise HandshakeState (Noise spec §5.3) for `Noise_XX_25519_AESGCM_SHA256` and `Noise_K_25519_AESGCM_SHA256`.
public struct NoiseHandshakeState {
    /// Which side of the handshake this state plays.
    public enum Role: Sendable { case initiator, responder }

    /// Largest Noise message (spec §3).
    public static let maxMessageCount = 65535

    public let pattern: NoisePattern
    public let role: Role
    private var symmetric: NoiseSymmetricState
    private let localStatic: PrivateKey?
    private var localEphemeral: PrivateKey?
    /// The peer's static key: given in advance (K), or learned during the handshake (XX).
    public private(set) var remoteStatic: PublicKey?
    private var remoteEphemeral: PublicKey?
    /// DH results computed before the handshake, by token.
    private let precomputed: [NoisePattern.Token: SecretBytes]
    private var messageIndex = 0

    /// Starts a handshake.
    /// - Parameter localEphemeral: a fixed ephemeral key, for test vectors or to share one ephemeral among several
    ///   one-way messages; a fresh one is generated when nil.
    public init(
        pattern: NoisePattern,
        role: Role,
        prologue: [UInt8],
        localStatic: PrivateKey?,
        localEphemeral: PrivateKey? = nil,
        remoteStatic: PublicKey? = nil
    ) throws {
        try self.init(
            pattern: pattern, role: role, prologue: prologue, localStatic: localStatic, localEphemeral: localEphemeral,
            remoteStatic: remoteStatic, precomputed: [:], contexts: NoiseContexts()
        )
    }

    /// Starts a handshake with DH results already computed for some tokens (as this role computes them), and
    /// OpenSSL contexts shared with other handshakes run one after another on the same thread.
    init(
        pattern: NoisePattern,
        role: Role,
        prologue: [UInt8],
        localStatic: PrivateKey?,
        localEphemeral: PrivateKey?,
        remoteStatic: PublicKey?,
        precomputed: [NoisePattern.Token: SecretBytes],
        contexts: NoiseContexts
    ) throws {
        self.pattern = pattern
        self.role = role
        self.localStatic = localStatic
        self.localEphemeral = localEphemeral
        self.remoteStatic = remoteStatic
        self.precomputed = precomputed
        symmetric = NoiseSymmetricState(protocolName: pattern.protocolName, contexts: contexts)
        symmetric.mixHash(prologue)
        let (initiatorPre, responderPre) = pattern.preMessages
        for (tokens, isLocal) in [(initiatorPre, role == .initiator), (responderPre, role == .responder)] where tokens.contains(.s) {
            if isLocal {
                guard let localStatic else { throw CryptoError.noiseStateViolation("pattern \(pattern) needs a local static key") }
                symmetric.mixHash(localStatic.publicKey)
            } else {
                guard let remoteStatic else { throw CryptoError.noiseStateViolation("pattern \(pattern) needs the remote static key") }
                symmetric.mixHash(remoteStatic)
            }
        }
    }

    /// True once every message of the pattern has been written or read.
    public var isComplete: Bool { messageIndex == pattern.messages.count }

    /// True when the next message is this side's to write.
    public var isMyTurn: Bool { !isComplete && (messageIndex % 2 == 0) == (role == .initiator) }

    /// The handshake hash `h`, a unique name for this session.
    public var handshakeHash: [UInt8] { symmetric.handshakeHash }

    /// Writes the next handshake message carrying `payload`.
    public mutating func writeMessage(payload: [UInt8] = []) throws -> [UInt8] {
        guard isMyTurn else { throw CryptoError.noiseStateViolation("not this side's turn to write") }
        var message: [UInt8] = []
        for token in pattern.messages[messageIndex] {
            switch token {
            case .e:
                let ephemeral = try localEphemeral ?? PrivateKey()
                localEphemeral = ephemeral
                ephemeral.publicKey.withUnsafeBytes { message += $0 }
                symmetric.mixHash(ephemeral.publicKey)
            case .s:
                guard let localStatic else { throw CryptoError.noiseStateViolation("no local static key to send") }
                message += try symmetric.encryptAndHash(localStatic.publicKey.rawRepresentation)
            default:
                try symmetric.mixKey(dh(token))
            }
        }
        message += try symmetric.encryptAndHash(payload)
        guard message.count <= Self.maxMessageCount else { throw CryptoError.malformedNoiseMessage("longer than 65535 bytes") }
        messageIndex += 1
        return message
    }

    /// Reads the peer's next handshake message and returns its payload.
    public mutating func readMessage(_ message: [UInt8]) throws -> [UInt8] {
        guard !isComplete, !isMyTurn else { throw CryptoError.noiseStateViolation("not the peer's turn to write") }
        guard message.count <= Self.maxMessageCount else { throw CryptoError.malformedNoiseMessage("longer than 65535 bytes") }
        var rest = message[...]
        func take(_ count: Int) throws -> [UInt8] {
            guard rest.count >= count else { throw CryptoError.malformedNoiseMessage("too short for its pattern") }
            defer { rest = rest.dropFirst(count) }
            return Array(rest.prefix(count))
        }
        for token in pattern.messages[messageIndex] {
            switch token {
            case .e:
                let key = try take(PublicKey.byteCount)
                remoteEphemeral = try PublicKey(rawRepresentation: key)
                symmetric.mixHash(key)
            case .s:
                let sealed = try take(PublicKey.byteCount + (symmetric.hasKey ? AESGCMKey.tagCount : 0))
                remoteStatic = try PublicKey(rawRepresentation: symmetric.decryptAndHash(sealed))
            default:
                try symmetric.mixKey(dh(token))
            }
        }
        let payload = try symmetric.decryptAndHash(Array(rest))
        messageIndex += 1
        return payload
    }

    /// The transport cipher states once the handshake is complete (`Split()`), oriented for this side. Both keys
    /// live in one `AESGCMKey`, shared by the two states (one allocation per session instead of two).
    public func split() throws -> NoiseTransport {
        guard isComplete else { throw CryptoError.noiseStateViolation("handshake is not complete") }
        let (initiatorToResponder, responderToInitiator) = try symmetric.split()
        let key = role == .initiator
            ? try AESGCMKey(sealingWith: initiatorToResponder, openingWith: responderToInitiator)
            : try AESGCMKey(sealingWith: responderToInitiator, openingWith: initiatorToResponder)
        return NoiseTransport(send: NoiseCipherState(sharing: key), receive: NoiseCipherState(sharing: key))
    }

    private func dh(_ token: NoisePattern.Token) throws -> SecretBytes {
        if let secret = precomputed[token] { return secret }
        // Map the token to (local key, remote key) for this role (Noise spec §5.3).
        let useLocalEphemeral: Bool, useRemoteEphemeral: Bool
        switch (token, role) {
        case (.ee, _): (useLocalEphemeral, useRemoteEphemeral) = (true, true)
        case (.es, .initiator), (.se, .responder): (useLocalEphemeral, useRemoteEphemeral) = (true, false)
        case (.es, .responder), (.se, .initiator): (useLocalEphemeral, useRemoteEphemeral) = (false, true)
        case (.ss, _): (useLocalEphemeral, useRemoteEphemeral) = (false, false)
        default: throw CryptoError.noiseStateViolation("not a DH token")
        }
        guard let local = useLocalEphemeral ? localEphemeral : localStatic else {
            throw CryptoError.noiseStateViolation("missing local key for \(token)")
        }
        guard let remote = useRemoteEphemeral ? remoteEphemeral : remoteStatic else {
            throw CryptoError.noiseStateViolation("missing remote key for \(token)")
        }
        return try local.sharedSecret(with: remote)
    }
}

/// The two transport cipher states of a finished handshake, oriented for one side. `send` only encrypts and
/// `receive` only decrypts: they share one `AESGCMKey` that holds both keys (one allocation per session), so a
/// transport belongs to one thread, and releasing either state's contexts releases both.
public struct NoiseTransport: Sendable {
    /// Encrypts messages this side sends.
    public var send: NoiseCipherState
    /// Decrypts messages this side receives.
    public var receive: NoiseCipherState

    /// Frees both directions' OpenSSL contexts until the next message (see `AESGCMKey.releaseContexts()`): the
    /// shared key's, through either state.
    public func releaseContexts() {
        send.releaseContexts()
    }
}
