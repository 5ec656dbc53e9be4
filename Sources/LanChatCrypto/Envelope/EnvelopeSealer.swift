/// Seals messages from one identity. Reuses DH(sender, recipient) per recipient and one ephemeral key per
/// envelope for all its wraps; each wrap is still a complete, valid Noise K message.
public struct EnvelopeSealer: Sendable {
    public let senderName: String
    public let identity: PrivateKey
    private let cache: StaticDHCache

    public init(senderName: String, identity: PrivateKey, cache: StaticDHCache? = nil) {
        self.senderName = senderName
        self.identity = identity
        self.cache = cache ?? StaticDHCache(identity: identity)
    }

    /// Seals `plaintext` for `recipients`. A direct message must name exactly its one recipient.
    /// - Parameter messageID: 16 bytes; a fresh random id when nil (a fixed one is for tests and resends).
    public func seal(
        _ plaintext: [UInt8],
        kind: EnvelopeKind,
        to recipients: [EnvelopeRecipient],
        timestamp: UInt64 = EnvelopeHeader.currentTimestamp(),
        messageID: [UInt8]? = nil
    ) throws -> SealedEnvelope {
        guard !recipients.isEmpty else { throw EnvelopeError.noRecipients }
        if case let .direct(name) = kind, recipients.count != 1 || recipients[0].name != name {
            throw EnvelopeError.directNeedsOneRecipient(name)
        }
        let contentKey = try SecureRandom.secret(32)
        let header = try EnvelopeHeader(
            kind: kind,
            messageID: messageID ?? SecureRandom.bytes(16),
            timestamp: timestamp,
            senderName: senderName,
            senderKey: identity.publicKey,
            commitment: EnvelopeFormat.commitment(to: contentKey)
        ).encoded
        let contentKeyBytes = contentKey.bytes
        let body = try AESGCM.seal(key: contentKeyBytes, nonce: EnvelopeFormat.bodyNonce, plaintext: plaintext, associatedData: header)
        let prologue = EnvelopeFormat.wrapPrologue(header: header, body: body)
        let ephemeral = try PrivateKey()
        let wraps = try recipients.map { recipient in
            var handshake = try NoiseHandshakeState(
                pattern: .K, role: .initiator, prologue: prologue,
                localStatic: identity, localEphemeral: ephemeral, remoteStatic: recipient.publicKey,
                precomputedStaticStatic: cache.sharedSecret(with: recipient.publicKey)
            )
            return RecipientWrap(recipient: recipient.name, wrap: try handshake.writeMessage(payload: contentKeyBytes))
        }
        return SealedEnvelope(header: header, body: body, wraps: wraps)
    }
}
