import Dispatch
import Synchronization

/// Seals messages from one identity. Reuses DH(sender, recipient) and the recipient's OpenSSL key object per
/// recipient, and one ephemeral key per envelope for all its wraps; each wrap is still a complete, valid Noise K
/// message. The wraps of a large envelope are computed on all cores.
public struct EnvelopeSealer: Sendable {
    public let senderName: String
    public let identity: PrivateKey
    private let cache: PeerKeyCache
    private let parallel: Bool

    /// - Parameter parallel: whether the wraps of a large envelope (32 recipients or more) may be computed on
    ///   every core (`DispatchQueue.concurrentPerform`): `seal` then occupies them all and blocks its caller until
    ///   the envelope is done, as a sequential seal would for longer.
    public init(senderName: String, identity: PrivateKey, cache: PeerKeyCache? = nil, parallel: Bool = true) {
        self.senderName = senderName
        self.identity = identity
        self.cache = cache ?? PeerKeyCache(identity: identity)
        self.parallel = parallel
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
        let wrapper = Wrapper(
            identity: identity, ephemeral: try PrivateKey(), cache: cache, parallel: parallel,
            prologue: EnvelopeFormat.wrapPrologue(header: header, body: body), contentKey: contentKeyBytes
        )
        return SealedEnvelope(header: header, body: body, wraps: try wrapper.wraps(for: recipients))
    }
}

/// Wraps one envelope's content key for each recipient.
private struct Wrapper: Sendable {
    let identity: PrivateKey
    let ephemeral: PrivateKey
    let cache: PeerKeyCache
    let parallel: Bool
    let prologue: [UInt8]
    let contentKey: [UInt8]

    /// Wraps per run on another thread: each costs one X25519 (about 50 µs), a run's setup some microseconds.
    /// Runs are many and short, so that a thread that starts late (an idle core waking up) leaves the others
    /// the rest of the work instead of holding up the envelope with a large share of its own.
    private static let wrapsPerRun = 16

    /// The wraps for `recipients`, in their order: in runs on all cores when there are enough of them.
    func wraps(for recipients: [EnvelopeRecipient]) throws -> [RecipientWrap] {
        let runs = parallel ? recipients.count / Self.wrapsPerRun : 1
        guard runs > 1 else { return try wraps(for: recipients[...]) }
        let results = Mutex<[Result<[RecipientWrap], any Error>?]>(Array(repeating: nil, count: runs))
        DispatchQueue.concurrentPerform(iterations: runs) { run in
            let range = (recipients.count * run / runs)..<(recipients.count * (run + 1) / runs)
            let result = Result { try wraps(for: recipients[range]) }
            results.withLock { $0[run] = result }
        }
        return try results.withLock { $0 }.flatMap { try $0!.get() }
    }

    /// The wraps for a run of recipients, over one key-agreement context and one set of hash contexts.
    private func wraps(for recipients: ArraySlice<EnvelopeRecipient>) throws -> [RecipientWrap] {
        let agreement = try KeyAgreement(ephemeral)
        let contexts = NoiseContexts()
        return try recipients.map { recipient in
            let peer = try cache.peer(recipient.publicKey)
            var handshake = try NoiseHandshakeState(
                pattern: .K, role: .initiator, prologue: prologue,
                localStatic: identity, localEphemeral: ephemeral, remoteStatic: recipient.publicKey,
                precomputed: [.es: try agreement.sharedSecret(with: peer.key), .ss: peer.staticShared], contexts: contexts
            )
            return RecipientWrap(recipient: recipient.name, wrap: try handshake.writeMessage(payload: contentKey))
        }
    }
}
