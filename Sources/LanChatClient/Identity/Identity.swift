import LanChatCrypto
import LanChatProtocol

/// A user's identity: their name and their X25519 identity key.
public struct Identity: Sendable {
    public let name: UserName
    public let key: PrivateKey

    public init(name: UserName, key: PrivateKey) {
        self.name = name
        self.key = key
    }

    /// The identity's public key.
    public var publicKey: PublicKey { key.publicKey }

    /// This user's own 30-digit fingerprint, in groups of five.
    public var fingerprint: String {
        NumericFingerprint.grouped(NumericFingerprint.digits(for: publicKey, stableID: name.value))
    }
}
