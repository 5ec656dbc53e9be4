/// Why an envelope could not be sealed or opened. An envelope that fails to open yields no plaintext.
public enum EnvelopeError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformedHeader(String)
    case unsupportedVersion(UInt8)
    case noRecipients
    case directNeedsOneRecipient(String)
    /// The wrap does not decrypt with this recipient's key and the header's sender key (tampered, moved or not ours).
    case wrapRejected
    /// The content key in the wrap does not match the header's key commitment.
    case commitmentMismatch
    /// The body does not decrypt under the committed content key with this header.
    case bodyRejected
    /// A direct message addressed to someone else.
    case notAddressedToMe(recipient: String)

    public var description: String {
        switch self {
        case let .malformedHeader(why): "malformed envelope header: \(why)"
        case let .unsupportedVersion(version): "unsupported envelope format version \(version) (this client reads version \(EnvelopeHeader.currentVersion))"
        case .noRecipients: "an envelope needs at least one recipient"
        case let .directNeedsOneRecipient(name): "a direct message to \(name) must be wrapped for exactly that one recipient"
        case .wrapRejected: "the envelope's key wrap is not valid for this recipient and sender"
        case .commitmentMismatch: "the envelope's content key does not match its commitment"
        case .bodyRejected: "the envelope's body failed authentication"
        case let .notAddressedToMe(recipient): "the direct message is addressed to \(recipient), not to this user"
        }
    }
}
