/// A message sealed for one or more recipients: header and body are shared, each recipient gets its own wrap.
public struct SealedEnvelope: Sendable {
    /// Canonical `EnvelopeHeader` bytes.
    public let header: [UInt8]
    /// AES-256-GCM of the plaintext under the content key, with the header as associated data (ciphertext || tag).
    public let body: [UInt8]
    /// One Noise K message per recipient, carrying the content key.
    public let wraps: [RecipientWrap]

    public init(header: [UInt8], body: [UInt8], wraps: [RecipientWrap]) {
        self.header = header
        self.body = body
        self.wraps = wraps
    }
}

/// The content key wrapped for one named recipient.
public struct RecipientWrap: Hashable, Sendable {
    public let recipient: String
    /// One `Noise_K_25519_AESGCM_SHA256` handshake message: ephemeral key (32) || encrypted content key (32 + 16).
    public let wrap: [UInt8]

    public init(recipient: String, wrap: [UInt8]) {
        self.recipient = recipient
        self.wrap = wrap
    }

    /// Length of every wrap.
    public static let byteCount = 32 + 32 + 16
}

/// Someone an envelope is sealed for.
public struct EnvelopeRecipient: Hashable, Sendable {
    public let name: String
    public let publicKey: PublicKey

    public init(name: String, publicKey: PublicKey) {
        self.name = name
        self.publicKey = publicKey
    }
}

/// What a recipient gets from opening an envelope.
public struct OpenedEnvelope: Sendable {
    public let header: EnvelopeHeader
    public let plaintext: [UInt8]
}

/// The fixed strings and derived values the envelope format binds together.
public enum EnvelopeFormat {
    /// Prefix of the commitment hash input.
    public static let commitmentLabel = Array("LanChat-v1 key commitment".utf8)
    /// Prefix of every wrap's Noise prologue.
    public static let wrapPrologueLabel = Array("LanChat-v1 wrap".utf8)
    /// The body's AES-GCM nonce; safe because each content key encrypts exactly one body.
    public static let bodyNonce = [UInt8](repeating: 0, count: 12)

    /// `SHA-256("LanChat-v1 key commitment" || CK)`.
    public static func commitment(to contentKey: SecretBytes) -> [UInt8] {
        commitmentLabel.withUnsafeBytes { label in contentKey.withUnsafeBytes { key in HashFunction.sha256.hash(label, key) } }
    }

    /// `"LanChat-v1 wrap" || header || SHA-256(body)`.
    public static func wrapPrologue(header: [UInt8], body: [UInt8]) -> [UInt8] {
        wrapPrologueLabel + header + SHA256.hash(body)
    }
}
