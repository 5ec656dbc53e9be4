import LanChatCrypto

/// Someone on the server, with their identity key and how far this client trusts it.
public struct Peer: Hashable, Sendable {
    public let name: String
    public let key: PublicKey
    /// The contact's trust state when this value was made (nil when not known).
    public let state: Contact.State?

    public init(name: String, key: PublicKey, state: Contact.State? = nil) {
        self.name = name
        self.key = key
        self.state = state
    }

    /// True when the user verified this key by comparing safety numbers.
    public var isVerified: Bool { state == .verified }

    /// Their 30-digit fingerprint, in groups of five.
    public var fingerprint: String {
        NumericFingerprint.grouped(NumericFingerprint.digits(for: key, stableID: name))
    }
}

/// A message that was opened and authenticated.
public struct ReceivedMessage: Hashable, Sendable {
    /// Hex of the 16-byte message id.
    public let id: String
    public let sender: Peer
    public let text: String
    /// True for a direct message, false for a broadcast.
    public let isPrivate: Bool
    /// The sender's clock, in ms since 1970.
    public let sentAt: UInt64
}

/// What happens on a connection, for any user interface to show.
public enum ChatEvent: Hashable, Sendable {
    case message(ReceivedMessage)
    case joined(Peer)
    case left(Peer)
    /// An incoming envelope failed verification and was dropped; the reason is for the user.
    case rejected(reason: String)
    /// The server presents a different key for a known contact: a loud warning. Nothing is sent to or
    /// shown from the new key until the user accepts it (trust) or verifies it.
    case keyChanged(name: String, pinnedFingerprint: String, presentedFingerprint: String)
    /// First connection to this server address: its key is now pinned.
    case serverPinned(address: String, fingerprint: String)
    /// The server reported something not tied to one request.
    case notice(String)
    case disconnected(reason: String)
}

/// The server's answer to a sent message.
public struct SendReceipt: Hashable, Sendable {
    public let messageID: String
    /// The envelope's timestamp, ms since 1970.
    public let sentAt: UInt64
    public let delivered: Int
    public let stored: Int
    public let missed: [String]
    /// Online users left out because their key changed and is not accepted yet.
    public let skipped: [String]
}
