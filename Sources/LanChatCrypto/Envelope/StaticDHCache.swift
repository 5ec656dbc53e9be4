import Synchronization

/// Caches DH(local identity, peer identity) per peer, so a sender pays one X25519 per recipient per
/// envelope (the ephemeral `es`) instead of two. Thread-safe; bounded.
public final class StaticDHCache: Sendable {
    private let identity: PrivateKey
    private let capacity: Int
    private let entries = Mutex<[PublicKey: SecretBytes]>([:])

    /// A cache for DH results of `identity` with up to `capacity` peers.
    public init(identity: PrivateKey, capacity: Int = 4096) {
        self.identity = identity
        self.capacity = capacity
    }

    /// DH(identity, peer), computed once per peer.
    public func sharedSecret(with peer: PublicKey) throws -> SecretBytes {
        if let cached = entries.withLock({ $0[peer] }) { return cached }
        let secret = try identity.sharedSecret(with: peer)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[peer] = secret
        }
        return secret
    }
}
