import LanChatCrypto

/// Someone on the server, with their identity key.
public struct Peer: Hashable, Sendable {
    public let name: String
    public let key: PublicKey

    public init(name: String, key: PublicKey) {
        self.name = name
        self.key = key
    }

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
    /// The server reported something not tied to one request.
    case notice(String)
    case disconnected(reason: String)
}

/// The server's answer to a sent message.
public struct SendReceipt: Hashable, Sendable {
    public let messageID: String
    public let delivered: Int
    public let stored: Int
    public let missed: [String]
}
