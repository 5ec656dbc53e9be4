import LanChatCrypto
import LanChatProtocol
import NIOCore

/// Checks a `send` frame against the connection it came on, without decrypting anything: the header must
/// parse, name this connection's user and key as sender, and its kind must match the wraps.
enum SendValidation {
    /// A refusal to report to the sender.
    struct Refusal: Error {
        let code: ErrorCode
        let reason: String
    }

    /// The parsed header of a send that passed every check.
    struct Accepted {
        let header: EnvelopeHeader
        var isDirect: Bool { if case .direct = header.kind { true } else { false } }
    }

    /// Checks `send`; returns its header or throws a refusal.
    static func check(_ send: Send, from sender: ClientSession) throws(Refusal) -> Accepted {
        guard send.header.readableBytes <= ProtocolLimits.maxHeaderLength else {
            throw Refusal(code: .badEnvelope, reason: "the envelope header is longer than \(ProtocolLimits.maxHeaderLength) bytes")
        }
        let header: EnvelopeHeader
        do {
            header = try EnvelopeHeader(decoding: send.header.readableBytesView)
        } catch {
            throw Refusal(code: .badEnvelope, reason: "the envelope header does not parse: \(error)")
        }
        guard header.senderName == sender.name, header.senderKey == sender.key else {
            throw Refusal(code: .senderMismatch, reason: "the envelope's sender (\(header.senderName)) is not this connection's user (\(sender.name)) and key")
        }
        guard !send.wraps.isEmpty else { throw Refusal(code: .badEnvelope, reason: "the envelope has no recipients") }
        guard send.wraps.count <= ProtocolLimits.maxRecipients else {
            throw Refusal(code: .tooManyRecipients, reason: "at most \(ProtocolLimits.maxRecipients) recipients per envelope")
        }
        if case let .direct(recipient) = header.kind {
            guard send.wraps.count == 1, send.wraps[0].recipient == recipient else {
                throw Refusal(code: .badEnvelope, reason: "a direct message to \(recipient) must carry exactly one wrap, for \(recipient)")
            }
        }
        var seen = Set<String>()
        for wrap in send.wraps {
            guard wrap.wrap.readableBytes == ProtocolLimits.wrapLength else {
                throw Refusal(code: .badEnvelope, reason: "the wrap for \(wrap.recipient) is not \(ProtocolLimits.wrapLength) bytes")
            }
            guard wrap.recipient != sender.name else { throw Refusal(code: .badEnvelope, reason: "an envelope cannot be addressed to its sender") }
            guard seen.insert(wrap.recipient).inserted else { throw Refusal(code: .badEnvelope, reason: "\(wrap.recipient) is named twice") }
        }
        return Accepted(header: header)
    }
}
