/// One message in the saved conversations.
public struct HistoryEntry: Hashable, Sendable, Codable {
    public enum Direction: String, Sendable, Codable { case incoming = "in", outgoing = "out" }

    /// Hex of the 16-byte message id.
    public let id: String
    public let direction: Direction
    /// The other party: the sender of an incoming message; the recipient of an outgoing private one; `*` for
    /// an outgoing broadcast.
    public let peer: String
    public let sender: String
    public let isPrivate: Bool
    public let text: String
    /// The sender's clock, ms since 1970.
    public let sentAt: UInt64
    /// When it was saved here, ms since 1970.
    public let recordedAt: UInt64
    /// Whether the other party was verified at the time.
    public let verified: Bool

    public init(id: String, direction: Direction, peer: String, sender: String, isPrivate: Bool, text: String, sentAt: UInt64, recordedAt: UInt64, verified: Bool) {
        self.id = id
        self.direction = direction
        self.peer = peer
        self.sender = sender
        self.isPrivate = isPrivate
        self.text = text
        self.sentAt = sentAt
        self.recordedAt = recordedAt
        self.verified = verified
    }
}

/// A message waiting in the outbox for the server to come back.
public struct OutboxEntry: Hashable, Sendable {
    public let sequence: Int64
    /// The private recipient, or nil for a broadcast.
    public let recipient: String?
    public let includeOffline: Bool
    public let text: String
}
