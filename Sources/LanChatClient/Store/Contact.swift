import LanChatCrypto

/// Someone whose key this client has seen, and how far it trusts that key.
public struct Contact: Hashable, Sendable {
    /// How a contact's key is trusted.
    public enum State: String, Sendable {
        /// Pinned on first sight; no message exchanged yet.
        case new
        /// Pinned (trust on first use) and used.
        case pinned
        /// The user compared safety numbers and confirmed them.
        case verified
        /// The server presented a different key; nothing is sent to or shown from it until the user accepts it.
        case changed
    }

    public let name: String
    /// The pinned key: the one messages are encrypted to and checked against.
    public let key: PublicKey
    /// When it was first seen, in ms since 1970.
    public let firstSeen: UInt64
    public let state: State
    /// The different key the server presented, while `state` is `changed`.
    public let pendingKey: PublicKey?
    /// True when the contact was verified before its key changed: only verifying again unblocks it.
    public let verifiedBeforeChange: Bool

    public var fingerprint: String {
        NumericFingerprint.grouped(NumericFingerprint.digits(for: key, stableID: name))
    }

    /// What to tell a user who did not confirm the safety number with this contact: a contact verified
    /// before stays verified, since the key compared then is the one still pinned.
    public var notConfirmedNotice: String {
        guard state == .verified else { return "Not verified." }
        return "\(name) stays verified from before, with the same key. If the numbers really differ, your two clients "
            + "disagree about a key: do not trust this chat until you find out why."
    }

    /// Whether messages may be sent to and accepted from the pinned key.
    public var isUsable: Bool { state != .changed }
}
