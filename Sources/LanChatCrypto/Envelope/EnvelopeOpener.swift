/// Opens envelopes addressed to one identity.
public struct EnvelopeOpener: Sendable {
    public let recipientName: String
    public let identity: PrivateKey
    private let cache: PeerKeyCache

    public init(recipientName: String, identity: PrivateKey, cache: PeerKeyCache? = nil) {
        self.recipientName = recipientName
        self.identity = identity
        self.cache = cache ?? PeerKeyCache(identity: identity)
    }

    /// Verifies and decrypts one envelope: the wrap as a Noise K message from the header's sender key, the
    /// content key against the commitment, then the body. Any mismatch throws and yields no plaintext.
    public func open(header headerBytes: [UInt8], body: [UInt8], wrap: [UInt8]) throws -> OpenedEnvelope {
        let header = try EnvelopeHeader(decoding: headerBytes)
        if case let .direct(recipient) = header.kind, recipient != recipientName {
            throw EnvelopeError.notAddressedToMe(recipient: recipient)
        }
        guard wrap.count == RecipientWrap.byteCount else { throw EnvelopeError.wrapRejected }
        var handshake = try NoiseHandshakeState(
            pattern: .K, role: .responder,
            prologue: EnvelopeFormat.wrapPrologue(header: headerBytes, body: body),
            localStatic: identity, remoteStatic: header.senderKey,
            precomputedStaticStatic: try? cache.peer(header.senderKey).staticShared
        )
        let contentKeyBytes: [UInt8]
        do {
            contentKeyBytes = try handshake.readMessage(wrap)
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
