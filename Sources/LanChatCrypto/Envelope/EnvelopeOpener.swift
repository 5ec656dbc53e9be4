import Synchronization

/// Opens envelopes addressed to one identity.
public struct EnvelopeOpener: Sendable {
    public let recipientName: String
    public let identity: PrivateKey
    private let cache: PeerKeyCache
    private let spareContexts: SpareContexts

    public init(recipientName: String, identity: PrivateKey, cache: PeerKeyCache? = nil) {
        self.recipientName = recipientName
        self.identity = identity
        self.cache = cache ?? PeerKeyCache(identity: identity)
        spareContexts = SpareContexts(identity: identity)
    }

    /// Verifies and decrypts one envelope: the wrap as a Noise K message from the header's sender key, the
    /// content key against the commitment, then the body. Any mismatch throws and yields no plaintext.
    public func open(header headerBytes: [UInt8], body: [UInt8], wrap: [UInt8]) throws -> OpenedEnvelope {
        let header = try EnvelopeHeader(decoding: headerBytes)
        if case let .direct(recipient) = header.kind, recipient != recipientName {
            throw EnvelopeError.notAddressedToMe(recipient: recipient)
        }
        guard wrap.count == RecipientWrap.byteCount else { throw EnvelopeError.wrapRejected }
        let contentKeyBytes: [UInt8]
        do {
            contentKeyBytes = try spareContexts.using { contexts in
                // The wrap starts with the sender's ephemeral key: `es` is DH(identity, that key).
                try contexts.ephemeral.set(wrap.prefix(PublicKey.byteCount))
                var handshake = try NoiseHandshakeState(
                    pattern: .K, role: .responder,
                    prologue: EnvelopeFormat.wrapPrologue(header: headerBytes, body: body),
                    localStatic: identity, localEphemeral: nil, remoteStatic: header.senderKey,
                    precomputed: [.es: try contexts.agreement.sharedSecret(with: contexts.ephemeral), .ss: try cache.peer(header.senderKey).staticShared],
                    contexts: contexts.noise
                )
                return try handshake.readMessage(wrap)
            }
        } catch {
            throw EnvelopeError.wrapRejected
        }
        let contentKey = SecretBytes(contentKeyBytes)
        guard contentKey.count == 32, ConstantTime.equals(EnvelopeFormat.commitment(to: contentKey), header.commitment) else {
            throw EnvelopeError.commitmentMismatch
        }
        do {
            let plaintext = try AESGCM.open(key: contentKeyBytes, nonce: EnvelopeFormat.bodyNonce, ciphertext: body, associatedData: headerBytes)
            return OpenedEnvelope(header: header, plaintext: plaintext)
        } catch {
            throw EnvelopeError.bodyRejected
        }
    }
}

/// The OpenSSL objects one open needs, kept for the next: a key-agreement context for the identity, a key object
/// for the sender's ephemeral key, and hash contexts. Each is used by one open at a time; concurrent opens make more.
private final class SpareContexts: Sendable {
    final class Contexts: @unchecked Sendable {
        // Used by one open at a time: taken out of the list while in use.
        let agreement: KeyAgreement
        let ephemeral: ReusablePeerKey
        let noise = NoiseContexts()

        init(identity: PrivateKey) throws {
            agreement = try KeyAgreement(identity)
            ephemeral = try ReusablePeerKey()
        }
    }

    private let identity: PrivateKey
    private let idle = Mutex<[Contexts]>([])

    init(identity: PrivateKey) { self.identity = identity }

    /// Runs `body` with contexts of its own; afterwards they keep no key material of that open (the HMAC context
    /// forgets the last HKDF key, from which the wrap's key could be recomputed).
    func using<R>(_ body: (Contexts) throws -> R) throws -> R {
        let contexts = try idle.withLock { $0.popLast() } ?? Contexts(identity: identity)
        defer {
            contexts.noise.hmac.forgetKey()
            idle.withLock { $0.append(contexts) }
        }
        return try body(contexts)
    }
}
