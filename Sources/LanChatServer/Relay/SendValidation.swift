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

    /// What routing needs from a send that passed every check.
    struct Accepted {
        let isDirect: Bool
    }

    /// Checks `send`; throws a refusal. The header is read in place, not decoded into copies: this runs for every
    /// message the relay forwards. `names`, the recipients' names, are checked (addressed to the sender, named twice)
    /// when given; nil skips those checks, for names that passed them for this sender before.
    static func check(_ send: SendView, from sender: ClientSession, checkingNames names: [String]?) throws(Refusal) -> Accepted {
        guard send.header.count <= ProtocolLimits.maxHeaderLength else {
            throw Refusal(code: .badEnvelope, reason: "the envelope header is longer than \(ProtocolLimits.maxHeaderLength) bytes")
        }
        let verdict: Result<Accepted, Refusal> = send.withUnsafeBytes { frame in
            let header = UnsafeRawBufferPointer(rebasing: frame[send.header])
            let fields: EnvelopeRoutingFields
            do {
                fields = try EnvelopeRoutingFields(parsing: header)
            } catch {
                return .failure(Refusal(code: .badEnvelope, reason: "the envelope header does not parse: \(error)"))
            }
            guard sameBytes(header[fields.senderName], sender.name), sameBytes(header[fields.senderKey], sender.key) else {
                let claimed = PrintableText.line(String(decoding: header[fields.senderName], as: UTF8.self))
                return .failure(Refusal(code: .senderMismatch, reason: "the envelope's sender (\(claimed)) is not this connection's user (\(sender.name)) and key"))
            }
            if let recipient = fields.recipientName {
                guard send.recipients.count == 1,
                      LanChatServer.sameBytes(UnsafeRawBufferPointer(rebasing: header[recipient]), UnsafeRawBufferPointer(rebasing: frame[send.recipients[0].name])) else {
                    let name = PrintableText.line(String(decoding: header[recipient], as: UTF8.self))
                    return .failure(Refusal(code: .badEnvelope, reason: "a direct message to \(name) must carry exactly one wrap, for \(name)"))
                }
            }
            return .success(Accepted(isDirect: fields.isDirect))
        }
        let accepted = try verdict.get()
        guard !send.recipients.isEmpty else { throw Refusal(code: .badEnvelope, reason: "the envelope has no recipients") }
        guard send.recipients.count <= ProtocolLimits.maxRecipients else {
            throw Refusal(code: .tooManyRecipients, reason: "at most \(ProtocolLimits.maxRecipients) recipients per envelope")
        }
        for index in send.recipients.indices where send.recipients[index].wrap.count != ProtocolLimits.wrapLength {
            throw Refusal(code: .badEnvelope, reason: "the wrap for \(send.recipientName(at: index)) is not \(ProtocolLimits.wrapLength) bytes")
        }
        guard let names else { return accepted }
        // A direct message has one wrap: nothing can repeat, and no set need be built for it.
        var seen = names.count > 1 ? Set<String>(minimumCapacity: names.count) : []
        for name in names {
            guard name != sender.name else { throw Refusal(code: .badEnvelope, reason: "an envelope cannot be addressed to its sender") }
            guard names.count == 1 || seen.insert(name).inserted else { throw Refusal(code: .badEnvelope, reason: "\(name) is named twice") }
        }
        return accepted
    }

    /// Whether a header field holds exactly the bytes of `key`.
    private static func sameBytes(_ field: Slice<UnsafeRawBufferPointer>, _ key: PublicKey) -> Bool {
        key.withUnsafeBytes { LanChatServer.sameBytes(UnsafeRawBufferPointer(rebasing: field), $0) }
    }

    /// Whether a header field holds exactly the UTF-8 of `string`.
    private static func sameBytes(_ field: Slice<UnsafeRawBufferPointer>, _ string: String) -> Bool {
        var string = string
        return string.withUTF8 { LanChatServer.sameBytes(UnsafeRawBufferPointer(rebasing: field), UnsafeRawBufferPointer($0)) }
    }
}
