/// Machine-readable reasons in an `error` frame; the frame also carries a human-readable text.
public enum ErrorCode: UInt16, Sendable, CaseIterable {
    case unsupportedVersion = 1
    case malformedFrame = 2
    case frameTooLarge = 3
    case notRegistered = 4
    case alreadyRegistered = 5
    case invalidName = 6
    case nameTaken = 7
    case senderMismatch = 8
    case unknownRecipient = 9
    /// Not sent since offline recipients' messages are stored; kept so the code is not reused.
    case recipientOffline = 10
    case badEnvelope = 11
    case rateLimited = 12
    case tooManyRecipients = 13
    case shuttingDown = 14
    case replaced = 15
    case internalError = 16
    case queueFull = 17
    /// A code this implementation does not know (from a newer peer).
    case unknown = 0xFFFF
}
