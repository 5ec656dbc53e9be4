import LanChatCrypto
import Testing

@Suite("Envelope routing fields (the relay's in-place header check)")
struct EnvelopeRoutingFieldsTests {
    private func header(_ kind: EnvelopeKind) throws -> [UInt8] {
        try EnvelopeHeader(
            kind: kind, messageID: SecureRandom.bytes(16), timestamp: 1_795_609_153_780, senderName: "alice",
            senderKey: PrivateKey().publicKey, commitment: SecureRandom.bytes(32)
        ).encoded
    }

    @Test("the ranges point at the same fields the full decoder reads")
    func agreesWithDecoder() throws {
        for kind in [EnvelopeKind.direct(recipient: "bob"), .broadcast] {
            let bytes = try header(kind)
            let decoded = try EnvelopeHeader(decoding: bytes)
            let fields = try bytes.withUnsafeBytes { try EnvelopeRoutingFields(parsing: $0) }
            #expect(Array(bytes[fields.senderName]) == Array("alice".utf8))
            #expect(Array(bytes[fields.senderKey]) == decoded.senderKey.rawRepresentation)
            #expect(Array(bytes[EnvelopeRoutingFields.messageIDRange]) == decoded.messageID)
            #expect(fields.isDirect == (kind != .broadcast))
            #expect(fields.recipientName.map { Array(bytes[$0]) } == (kind == .broadcast ? nil : Array("bob".utf8)))
        }
    }

    @Test("every header the full decoder refuses for its structure is refused too")
    func refusesWhatTheDecoderRefuses() throws {
        for kind in [EnvelopeKind.direct(recipient: "bob"), .broadcast] {
            let bytes = try header(kind)
            var variants = (0..<bytes.count).map { Array(bytes[..<$0]) }
            variants.append(bytes + [0])
            for (index, value) in [(0, UInt8(2)), (1, UInt8(3)), (1, UInt8(0))] {
                var changed = bytes
                changed[index] = value
                variants.append(changed)
            }
            for variant in variants {
                #expect(throws: (any Error).self) { try EnvelopeHeader(decoding: variant) }
                #expect(throws: (any Error).self) { try variant.withUnsafeBytes { try EnvelopeRoutingFields(parsing: $0) } }
            }
        }
    }
}
