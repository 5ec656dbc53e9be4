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

    /// The 60-digit safety number with `name`'s `key`, in twelve groups of five; both sides see the same.
    public func safetyNumber(with name: String, key: PublicKey) -> String {
        Self.safetyNumber(localName: self.name.value, localKey: publicKey, remoteName: name, remoteKey: key)
    }

    /// The grouped 60-digit safety number of two named keys.
    public static func safetyNumber(localName: String, localKey: PublicKey, remoteName: String, remoteKey: PublicKey) -> String {
        NumericFingerprint.grouped(NumericFingerprint.safetyNumber(localKey: localKey, localID: localName, remoteKey: remoteKey, remoteID: remoteName))
    }

    /// This user's own 30-digit fingerprint, in groups of five.
    public var fingerprint: String {
        NumericFingerprint.grouped(NumericFingerprint.digits(for: publicKey, stableID: name.value))
    }
}
