import LanChatCrypto
import Testing

@Suite("Sealed envelopes")
struct EnvelopeTests {
    /// A user with a key pair who can seal and open envelopes.
    struct Party {
        let name: String
        let key: PrivateKey

        init(_ name: String) throws {
            self.name = name
            key = try PrivateKey()
        }

        var recipient: EnvelopeRecipient { EnvelopeRecipient(name: name, publicKey: key.publicKey) }
        var sealer: EnvelopeSealer { EnvelopeSealer(senderName: name, identity: key) }
        var opener: EnvelopeOpener { EnvelopeOpener(recipientName: name, identity: key) }

        /// Opens `envelope` with the wrap addressed to this party.
        func open(_ envelope: SealedEnvelope) throws -> OpenedEnvelope {
            try opener.open(header: envelope.header, body: envelope.body, wrap: wrap(in: envelope))
        }

        func wrap(in envelope: SealedEnvelope) throws -> [UInt8] {
            try #require(envelope.wraps.first { $0.recipient == name }).wrap
        }
    }

    let alice: Party
    let bob: Party
    let plaintext = Array("meet at the usual place at 6".utf8)
    let timestamp: UInt64 = 1_700_000_000_123

    init() throws {
        alice = try Party("alice")
        bob = try Party("bob")
    }

    // MARK: Round trips

    @Test("a direct message to one recipient opens with its plaintext and header")
    func directRoundTrip() throws {
        let envelope = try alice.sealer.seal(plaintext, kind: .direct(recipient: "bob"), to: [bob.recipient], timestamp: timestamp)
        #expect(envelope.wraps.map(\.recipient) == ["bob"])
        #expect(envelope.wraps[0].wrap.count == RecipientWrap.byteCount)

        let opened = try bob.open(envelope)
        #expect(opened.plaintext == plaintext)
        expectHeader(opened.header, from: alice, kind: .direct(recipient: "bob"))
    }

    @Test("a broadcast to 50 recipients opens for each of them with its own wrap")
    func broadcastRoundTrip() throws {
        let recipients = try (0..<50).map { try Party("user\($0)") }
        let envelope = try alice.sealer.seal(plaintext, kind: .broadcast, to: recipients.map(\.recipient), timestamp: timestamp)
        #expect(envelope.wraps.map(\.recipient) == recipients.map(\.name))

        var messageIDs: Set<[UInt8]> = []
        for recipient in recipients {
            let opened = try recipient.open(envelope)
            #expect(opened.plaintext == plaintext, "\(recipient.name)")
            expectHeader(opened.header, from: alice, kind: .broadcast)
            messageIDs.insert(opened.header.messageID)
        }
        #expect(messageIDs.count == 1)
    }

    // MARK: Tampering

    @Test("flipping any single bit of the header, the body or the wrap makes open throw")
    func everyBitFlipIsRejected() throws {
        let envelope = try alice.sealer.seal(Array("hi bob".utf8), kind: .direct(recipient: "bob"), to: [bob.recipient])
        let wrap = try bob.wrap(in: envelope)
        let opener = bob.opener
        #expect(try opener.open(header: envelope.header, body: envelope.body, wrap: wrap).plaintext == Array("hi bob".utf8))

        for bit in 0..<envelope.header.count * 8 {
            #expect(throws: EnvelopeError.self, "header bit \(bit)") {
                try opener.open(header: flipping(bit, of: envelope.header), body: envelope.body, wrap: wrap)
            }
        }
        for bit in 0..<envelope.body.count * 8 {
            #expect(throws: EnvelopeError.wrapRejected, "body bit \(bit)") {
                try opener.open(header: envelope.header, body: flipping(bit, of: envelope.body), wrap: wrap)
            }
        }
        for bit in 0..<wrap.count * 8 {
            #expect(throws: EnvelopeError.wrapRejected, "wrap bit \(bit)") {
                try opener.open(header: envelope.header, body: envelope.body, wrap: flipping(bit, of: wrap))
            }
        }
    }

    @Test("in a 50-recipient broadcast, flipping any bit of one wrap, or sampled bits of the others, makes open throw")
    func broadcastWrapBitFlipsAreRejected() throws {
        let recipients = try (0..<50).map { try Party("user\($0)") }
        let envelope = try alice.sealer.seal(plaintext, kind: .broadcast, to: recipients.map(\.recipient))
        let sampledBits = [0, 7, 255, 256, 300, 511, 512, 639]

        for (index, recipient) in recipients.enumerated() {
            let wrap = try recipient.wrap(in: envelope)
            let opener = recipient.opener
            let bits = index == 17 ? Array(0..<wrap.count * 8) : sampledBits
            for bit in bits {
                #expect(throws: EnvelopeError.wrapRejected, "\(recipient.name), wrap bit \(bit)") {
                    try opener.open(header: envelope.header, body: envelope.body, wrap: flipping(bit, of: wrap))
                }
            }
            #expect(try opener.open(header: envelope.header, body: envelope.body, wrap: wrap).plaintext == plaintext)
        }
    }

    @Test("someone the envelope was not sealed for cannot open it with any of its wraps")
    func nonRecipientIsRejected() throws {
        let carol = try Party("carol")
        let mallory = try Party("mallory")
        let envelope = try alice.sealer.seal(plaintext, kind: .broadcast, to: [bob.recipient, carol.recipient])
        for wrap in envelope.wraps {
            #expect(throws: EnvelopeError.wrapRejected, "wrap for \(wrap.recipient)") {
                try mallory.opener.open(header: envelope.header, body: envelope.body, wrap: wrap.wrap)
            }
        }
    }

    @Test("a recipient who knows the content key cannot pass a different body to another recipient as the sender's")
    func recipientCannotForgeBody() throws {
        let carol = try Party("carol")
        let envelope = try alice.sealer.seal(plaintext, kind: .broadcast, to: [bob.recipient, carol.recipient])

        // Bob unwraps the content key himself, as any recipient can.
        var responder = try NoiseHandshakeState(
            pattern: .K, role: .responder,
            prologue: EnvelopeFormat.wrapPrologue(header: envelope.header, body: envelope.body),
            localStatic: bob.key, remoteStatic: alice.key.publicKey
        )
        let contentKey = try responder.readMessage(bob.wrap(in: envelope))
        let header = try EnvelopeHeader(decoding: envelope.header)
        #expect(EnvelopeFormat.commitment(to: SecretBytes(contentKey)) == header.commitment)

        // A forged body under the real content key and header decrypts fine on its own...
        let forged = Array("send the money to mallory".utf8)
        let forgedBody = try AESGCM.seal(key: contentKey, nonce: EnvelopeFormat.bodyNonce, plaintext: forged, associatedData: envelope.header)
        #expect(try AESGCM.open(key: contentKey, nonce: EnvelopeFormat.bodyNonce, ciphertext: forgedBody, associatedData: envelope.header) == forged)

        // ...but Carol's wrap binds the original body.
        #expect(throws: EnvelopeError.wrapRejected) {
            try carol.opener.open(header: envelope.header, body: forgedBody, wrap: carol.wrap(in: envelope))
        }

        // Nor can Bob make Carol a new wrap: he cannot compute the sender's side of the handshake.
        var initiator = try NoiseHandshakeState(
            pattern: .K, role: .initiator,
            prologue: EnvelopeFormat.wrapPrologue(header: envelope.header, body: forgedBody),
            localStatic: bob.key, remoteStatic: carol.key.publicKey
        )
        let bobsWrap = try initiator.writeMessage(payload: contentKey)
        #expect(throws: EnvelopeError.wrapRejected) {
            try carol.opener.open(header: envelope.header, body: forgedBody, wrap: bobsWrap)
        }
    }

    @Test("a wrap moved into another envelope from the same sender to the same recipient is rejected")
    func movedWrapIsRejected() throws {
        let first = try alice.sealer.seal(Array("first".utf8), kind: .direct(recipient: "bob"), to: [bob.recipient])
        let second = try alice.sealer.seal(Array("second".utf8), kind: .direct(recipient: "bob"), to: [bob.recipient])
        #expect(throws: EnvelopeError.wrapRejected) {
            try bob.opener.open(header: second.header, body: second.body, wrap: bob.wrap(in: first))
        }
        #expect(throws: EnvelopeError.wrapRejected) {
            try bob.opener.open(header: first.header, body: first.body, wrap: bob.wrap(in: second))
        }
    }

    @Test("a sender who wraps different content keys for different recipients is caught by the commitment")
    func differentContentKeysAreRejected() throws {
        let carol = try Party("carol")
        let contentKey = try SecureRandom.bytes(32)
        let otherKey = try SecureRandom.bytes(32)
        let header = try EnvelopeHeader(
            kind: .broadcast, messageID: SecureRandom.bytes(16), timestamp: timestamp,
            senderName: alice.name, senderKey: alice.key.publicKey,
            commitment: EnvelopeFormat.commitment(to: SecretBytes(contentKey))
        ).encoded
        let body = try AESGCM.seal(key: contentKey, nonce: EnvelopeFormat.bodyNonce, plaintext: plaintext, associatedData: header)

        func wrap(_ key: [UInt8], for recipient: Party) throws -> [UInt8] {
            var handshake = try NoiseHandshakeState(
                pattern: .K, role: .initiator,
                prologue: EnvelopeFormat.wrapPrologue(header: header, body: body),
                localStatic: alice.key, remoteStatic: recipient.key.publicKey
            )
            return try handshake.writeMessage(payload: key)
        }

        #expect(try bob.opener.open(header: header, body: body, wrap: wrap(contentKey, for: bob)).plaintext == plaintext)
        #expect(throws: EnvelopeError.commitmentMismatch) {
            try carol.opener.open(header: header, body: body, wrap: wrap(otherKey, for: carol))
        }
    }

    // MARK: Header encoding

    @Test("the header's canonical encoding round-trips for direct and broadcast messages")
    func headerRoundTrip() throws {
        for kind in [EnvelopeKind.direct(recipient: "bob"), .broadcast] {
            let header = try makeHeader(kind: kind)
            let encoded = header.encoded
            let decoded = try EnvelopeHeader(decoding: encoded)
            #expect(decoded == header)
            #expect(decoded.encoded == encoded)
            #expect(encoded[0] == EnvelopeHeader.currentVersion)
        }
    }

    @Test("a header with an unknown version is refused as unsupported")
    func unknownVersion() throws {
        var encoded = try makeHeader(kind: .broadcast).encoded
        for version: UInt8 in [0, 2, 255] {
            encoded[0] = version
            #expect(throws: EnvelopeError.unsupportedVersion(version)) { try EnvelopeHeader(decoding: encoded) }
        }
    }

    @Test("trailing bytes, truncation, bad UTF-8 names and unknown kinds are malformed headers")
    func malformedHeaders() throws {
        let direct = try makeHeader(kind: .direct(recipient: "bob")).encoded
        let broadcast = try makeHeader(kind: .broadcast).encoded

        expectMalformed(direct + [0], "trailing byte")
        for length in 0..<direct.count { expectMalformed(Array(direct.prefix(length)), "direct truncated to \(length)") }
        for length in 0..<broadcast.count { expectMalformed(Array(broadcast.prefix(length)), "broadcast truncated to \(length)") }

        let senderNameOffset = 1 + 1 + 16 + 8 + 1
        var badSender = broadcast
        badSender[senderNameOffset] = 0xFF
        expectMalformed(badSender, "sender name not UTF-8")
        var badRecipient = direct
        badRecipient[direct.count - 1] = 0xC3
        expectMalformed(badRecipient, "recipient name ends inside a UTF-8 sequence")

        for kind: UInt8 in [0, 3, 255] {
            var unknownKind = broadcast
            unknownKind[1] = kind
            expectMalformed(unknownKind, "kind \(kind)")
        }
    }

    @Test("a direct message addressed to someone else is refused before unwrapping")
    func notAddressedToMe() throws {
        let carol = try Party("carol")
        let envelope = try alice.sealer.seal(plaintext, kind: .direct(recipient: "carol"), to: [carol.recipient])
        #expect(throws: EnvelopeError.notAddressedToMe(recipient: "carol")) {
            try bob.opener.open(header: envelope.header, body: envelope.body, wrap: carol.wrap(in: envelope))
        }
    }

    // MARK: Sealer

    @Test("the sealer's cached DH and shared ephemeral still give valid Noise K wraps")
    func wrapsAreValidNoiseMessages() throws {
        let recipients = try (0..<5).map { try Party("user\($0)") }
        let sealer = alice.sealer
        let first = try sealer.seal(plaintext, kind: .broadcast, to: recipients.map(\.recipient))
        let second = try sealer.seal(plaintext, kind: .broadcast, to: recipients.map(\.recipient))

        for envelope in [first, second] {
            let wraps = envelope.wraps.map(\.wrap)
            #expect(Set(wraps.map { Array($0.prefix(32)) }).count == 1, "one ephemeral per envelope")
            #expect(Set(wraps.map { Array($0.dropFirst(32)) }).count == wraps.count, "each wrap encrypts differently")
            for recipient in recipients {
                // A new opener (no cached DH) and a plain Noise K responder both accept the wrap.
                #expect(try recipient.open(envelope).plaintext == plaintext)
                var responder = try NoiseHandshakeState(
                    pattern: .K, role: .responder,
                    prologue: EnvelopeFormat.wrapPrologue(header: envelope.header, body: envelope.body),
                    localStatic: recipient.key, remoteStatic: alice.key.publicKey
                )
                let contentKey = try responder.readMessage(recipient.wrap(in: envelope))
                let header = try EnvelopeHeader(decoding: envelope.header)
                #expect(EnvelopeFormat.commitment(to: SecretBytes(contentKey)) == header.commitment)
            }
        }
        #expect(first.wraps[0].wrap.prefix(32) != second.wraps[0].wrap.prefix(32), "a fresh ephemeral for each envelope")
    }

    @Test("wraps computed in runs on several cores are each recipient's own, in order, under one ephemeral", arguments: [true, false])
    func wrapsFromSeveralThreads(parallel: Bool) throws {
        let recipients = try (0..<70).map { try Party("user\($0)") }
        let sealer = EnvelopeSealer(senderName: alice.name, identity: alice.key, parallel: parallel)
        let envelope = try sealer.seal(plaintext, kind: .broadcast, to: recipients.map(\.recipient))
        #expect(envelope.wraps.map(\.recipient) == recipients.map(\.name))
        #expect(Set(envelope.wraps.map { Array($0.wrap.prefix(32)) }).count == 1, "one ephemeral for the whole envelope")
        for (index, recipient) in recipients.enumerated() {
            #expect(try recipient.opener.open(header: envelope.header, body: envelope.body, wrap: envelope.wraps[index].wrap).plaintext == plaintext)
        }
    }

    @Test("a recipient key that allows no agreement fails the seal, whichever run wraps it", arguments: [true, false])
    func invalidRecipientKeyFailsTheSeal(parallel: Bool) throws {
        var recipients = try (0..<70).map { try Party("user\($0)").recipient }
        recipients[53] = EnvelopeRecipient(name: "low-order", publicKey: try PublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32)))
        let sealer = EnvelopeSealer(senderName: alice.name, identity: alice.key, parallel: parallel)
        #expect(throws: CryptoError.invalidPublicKey) { try sealer.seal(plaintext, kind: .broadcast, to: recipients) }
    }

    @Test("an opener that refused a wrap with a low-order or foreign ephemeral key still opens the next envelopes")
    func openerAfterRefusedEphemerals() throws {
        let opener = bob.opener
        let envelope = try alice.sealer.seal(plaintext, kind: .direct(recipient: "bob"), to: [bob.recipient])
        let wrap = try bob.wrap(in: envelope)
        let lowOrder = [UInt8](repeating: 0, count: 32) + wrap.dropFirst(32)
        let foreign = try PrivateKey().publicKey.rawRepresentation + wrap.dropFirst(32)
        for bad in [lowOrder, foreign, lowOrder] {
            #expect(throws: EnvelopeError.wrapRejected) { try opener.open(header: envelope.header, body: envelope.body, wrap: bad) }
            #expect(try opener.open(header: envelope.header, body: envelope.body, wrap: wrap).plaintext == plaintext)
        }
        let next = try alice.sealer.seal(Array("and another".utf8), kind: .direct(recipient: "bob"), to: [bob.recipient])
        #expect(try opener.open(header: next.header, body: next.body, wrap: bob.wrap(in: next)).plaintext == Array("and another".utf8))
    }

    @Test("one opener opens envelopes from several senders on several threads at once, each to its own plaintext")
    func openerOnSeveralThreads() async throws {
        let senders = try (0..<4).map { try Party("sender\($0)") }
        let envelopes = try senders.flatMap { sender in
            try (0..<20).map { index in
                let plaintext = Array("message \(index) from \(sender.name)".utf8)
                return (plaintext, try sender.sealer.seal(plaintext, kind: .broadcast, to: [bob.recipient]))
            }
        }
        let opener = bob.opener
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<4 {
                tasks.addTask {
                    for (plaintext, envelope) in envelopes.shuffled() {
                        let opened = try opener.open(header: envelope.header, body: envelope.body, wrap: envelope.wraps[0].wrap)
                        #expect(opened.plaintext == plaintext)
                    }
                }
            }
            try await tasks.waitForAll()
        }
    }

    @Test("the sealer refuses a direct message not wrapped for exactly its one recipient, and an empty recipient list")
    func sealerRecipientRules() throws {
        let carol = try Party("carol")
        #expect(throws: EnvelopeError.directNeedsOneRecipient("bob")) {
            try alice.sealer.seal(plaintext, kind: .direct(recipient: "bob"), to: [bob.recipient, carol.recipient])
        }
        #expect(throws: EnvelopeError.directNeedsOneRecipient("bob")) {
            try alice.sealer.seal(plaintext, kind: .direct(recipient: "bob"), to: [carol.recipient])
        }
        #expect(throws: EnvelopeError.noRecipients) {
            try alice.sealer.seal(plaintext, kind: .broadcast, to: [])
        }
        #expect(throws: EnvelopeError.noRecipients) {
            try alice.sealer.seal(plaintext, kind: .direct(recipient: "bob"), to: [])
        }
    }

    // MARK: Helpers

    private func expectHeader(_ header: EnvelopeHeader, from sender: Party, kind: EnvelopeKind, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(header.senderName == sender.name, sourceLocation: sourceLocation)
        #expect(header.senderKey == sender.key.publicKey, sourceLocation: sourceLocation)
        #expect(header.kind == kind, sourceLocation: sourceLocation)
        #expect(header.timestamp == timestamp, sourceLocation: sourceLocation)
        #expect(header.messageID.count == 16, sourceLocation: sourceLocation)
    }

    private func makeHeader(kind: EnvelopeKind) throws -> EnvelopeHeader {
        try EnvelopeHeader(
            kind: kind, messageID: Array(1...16), timestamp: timestamp,
            senderName: "alice", senderKey: alice.key.publicKey, commitment: [UInt8](repeating: 0xAB, count: 32)
        )
    }

    private func expectMalformed(_ bytes: [UInt8], _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: EnvelopeError.self, comment, sourceLocation: sourceLocation) { try EnvelopeHeader(decoding: bytes) }
        guard let error else { return }  // the #expect above has recorded the missing error
        if case .malformedHeader = error { return }
        Issue.record("expected malformedHeader, got \(error): \(comment)", sourceLocation: sourceLocation)
    }
}

/// `bytes` with bit `bit` (counted from the first byte's least significant bit) inverted.
func flipping(_ bit: Int, of bytes: [UInt8]) -> [UInt8] {
    var copy = bytes
    copy[bit / 8] ^= 1 << (bit % 8)
    return copy
}
