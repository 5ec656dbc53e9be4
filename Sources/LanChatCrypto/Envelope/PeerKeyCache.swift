import Synchronization

/// What one identity keeps per peer it seals for or opens from: the peer's OpenSSL key object and
/// DH(identity, peer), so a sender pays one X25519 per recipient per envelope (the ephemeral `es`) instead of two,
/// and no key object is made again. Thread-safe; bounded.
public final class PeerKeyCache: Sendable {
    /// One peer's cached key object and static–static secret.
    public struct Peer: Sendable {
        public let key: PeerKey
        /// DH(identity, peer).
        public let staticShared: SecretBytes
    }

    private let identity: PrivateKey
    private let capacity: Int
    private let entries = Mutex<[PublicKey: Peer]>([:])

    /// A cache for up to `capacity` peers of `identity`.
    public init(identity: PrivateKey, capacity: Int = 4096) {
        self.identity = identity
        self.capacity = capacity
    }

    /// The cached entry for `publicKey`, made on first use; throws `CryptoError.invalidPublicKey` for a key no
    /// agreement is possible with.
    public func peer(_ publicKey: PublicKey) throws -> Peer {
        if let cached = entries.withLock({ $0[publicKey] }) { return cached }
        let key = try PeerKey(publicKey)
        let peer = Peer(key: key, staticShared: try KeyAgreement(identity).sharedSecret(with: key))
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[publicKey] = peer
        }
        return peer
    }
}
