import LanChatClient
import LanChatCrypto
import LanChatProtocol
import LanChatServer
import NIOCore
import Testing

@Suite("Trust: pinned keys, key changes, replays and name bindings")
struct TrustTests {
    @Test("a server that substitutes another key for bob is caught: no encryption to it, no message shown from it, until /trust")
    func keySubstitution() async throws {
        let aliceStore = try ClientStore.inMemory()
        let alice = try makeIdentity("alice")

        // On the honest server alice sees bob's real key and pins it.
        let honest = try await TestServer.start()
        let bob = try await ChatClient.connect(to: honest.address, as: makeIdentity("bob"))
        let aliceOnHonest = try await ChatClient.connect(to: honest.address, as: alice, store: aliceStore)
        #expect(try aliceStore.contact(named: "bob")?.key == bob.identity.publicKey)
        await aliceOnHonest.close()
        await bob.close()
        await honest.stop()

        // A malicious server hands out mallory's key as bob's.
        let malicious = try await TestServer.start()
        let mallory = try await RawClient(port: malicious.server.port)
        try await mallory.register(as: "bob")
        let victim = try await ChatClient.connect(to: malicious.address, as: alice, store: aliceStore)
        let log = EventLog(victim)
        try await log.wait(for: "a key-change warning") { events in
            events.first { if case let .keyChanged(name, _, _) = $0 { name == "bob" } else { false } }
        }
        await #expect {
            try await victim.sendPrivate("for bob only", to: "bob")
        } throws: { error in
            if case let .keyChanged(name, _, _, _) = error as? ClientError { name == "bob" } else { false }
        }
        await #expect(throws: ClientError.self) { try await victim.broadcast("hello all") }
        #expect(!mallory.frames.contains { if case .deliver = $0 { true } else { false } })
        #expect(try aliceStore.contact(named: "bob")?.state == .changed)

        // The impostor's messages are never shown as bob's.
        let forged = try EnvelopeSealer(senderName: "bob", identity: mallory.key)
            .seal(MessageBytes.text("it's me, bob"), kind: .direct(recipient: "alice"), to: [EnvelopeRecipient(name: "alice", publicKey: alice.publicKey)])
        try await mallory.send(.send(sendFrame(forged, requestID: 1)))
        try await log.wait(for: "the forged message to be rejected") { _ in log.rejections.first { $0.contains("bob") } }
        #expect(log.messages.isEmpty)

        // After the user accepts the new key, what came under it is shown at once, and the flow works again.
        let accepted = try victim.trust("bob")
        #expect(accepted.key == mallory.key.publicKey && accepted.state == .pinned)
        try await log.waitForMessage("it's me, bob")
        try await victim.sendPrivate("after trusting", to: "bob")
        try await mallory.waitFor("the delivery") { if case .deliver = $0 { true } else { false } }
        try await mallory.send(.send(sendFrame(EnvelopeSealer(senderName: "bob", identity: mallory.key)
            .seal(MessageBytes.text("now accepted"), kind: .direct(recipient: "alice"), to: [EnvelopeRecipient(name: "alice", publicKey: alice.publicKey)]), requestID: 2)))
        try await log.waitForMessage("now accepted")
        #expect(log.messages.map(\.text) == ["it's me, bob", "now accepted"])
        await victim.close()
        await mallory.close()
        await malicious.stop()
    }

    @Test("a rogue server with another key at a pinned address is refused until trust-server")
    func rogueServer() async throws {
        let store = try ClientStore.inMemory()
        let alice = try makeIdentity("alice")
        let genuine = try await TestServer.start()
        let port = genuine.server.port
        let first = try await ChatClient.connect(to: genuine.address, as: alice, store: store)
        await first.close()
        await genuine.stop()

        let rogue = try await TestServer.start(port: port)
        await #expect {
            _ = try await ChatClient.connect(to: rogue.address, as: alice, store: store)
        } throws: { error in
            guard case let .serverKeyChanged(address, pinned, presented, _) = error as? ClientError else { return false }
            return address == rogue.address.description && pinned == ServerFingerprint.of(genuine.server.publicKey)
                && presented == ServerFingerprint.of(rogue.server.publicKey) && "\(error)".contains("WARNING")
        }
        #expect(rogue.server.onlineCount == 0, "alice never registered with the rogue server")

        let presented = try await ChatClient.fetchServerKey(of: rogue.address, as: alice)
        #expect(presented == rogue.server.publicKey)
        try store.trustServer(address: rogue.address.description, key: presented)
        let trusted = try await ChatClient.connect(to: rogue.address, as: alice, store: store)
        await trusted.close()
        await rogue.stop()
    }

    @Test("a replayed delivery is rejected; the same id from another sender is not confused")
    func replay() async throws {
        let server = try await TestServer.start()
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let log = EventLog(bob)
        let bobRecipient = [EnvelopeRecipient(name: "bob", publicKey: bob.identity.publicKey)]
        let mallory = try await RawClient(port: server.server.port)
        try await mallory.register(as: "mallory")
        let carol = try await RawClient(port: server.server.port)
        try await carol.register(as: "carol")

        let messageID = try SecureRandom.bytes(16)
        let original = try EnvelopeSealer(senderName: "mallory", identity: mallory.key)
            .seal(MessageBytes.text("pay 5 goats"), kind: .direct(recipient: "bob"), to: bobRecipient, messageID: messageID)
        try await mallory.send(.send(sendFrame(original, requestID: 1)))
        try await log.waitForMessage("pay 5 goats")
        try await mallory.send(.send(sendFrame(original, requestID: 2)))
        try await log.wait(for: "the replay to be rejected") { _ in log.rejections.first { $0.contains("replayed") } }

        let sameID = try EnvelopeSealer(senderName: "carol", identity: carol.key)
            .seal(MessageBytes.text("different sender, same id"), kind: .direct(recipient: "bob"), to: bobRecipient, messageID: messageID)
        try await carol.send(.send(sendFrame(sameID, requestID: 1)))
        try await log.waitForMessage("different sender, same id")

        let stale = try EnvelopeSealer(senderName: "carol", identity: carol.key).seal(
            MessageBytes.text("from long ago"), kind: .direct(recipient: "bob"), to: bobRecipient,
            timestamp: EnvelopeHeader.currentTimestamp() - MessageWindow.maxAge - 60_000
        )
        try await carol.send(.send(sendFrame(stale, requestID: 2)))
        try await log.wait(for: "the stale message to be rejected") { _ in log.rejections.first { $0.contains("window") } }
        #expect(log.messages.map(\.text) == ["pay 5 goats", "different sender, same id"])
        await mallory.close()
        await carol.close()
        await bob.close()
        await server.stop()
    }

    @Test("alice and bob see the same safety number; a key change moves a verified contact to blocked")
    func verification() async throws {
        let server = try await TestServer.start()
        let aliceStore = try ClientStore.inMemory()
        let bobIdentity = try makeIdentity("bob")
        let bob = try await ChatClient.connect(to: server.address, as: bobIdentity)
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"), store: aliceStore)
        try await EventLog(bob).wait(for: "alice to join") { _ in bob.peers.isEmpty ? nil : true }
        let seenByAlice = try alice.safetyNumber(with: "bob")
        let seenByBob = try bob.safetyNumber(with: "alice")
        #expect(seenByAlice == seenByBob)
        #expect(seenByAlice.split(separator: " ").count == 12)
        try alice.markVerified("bob")
        #expect(alice.peers.first { $0.name == "bob" }?.isVerified == true)
        await alice.close()
        await bob.close()
        await server.stop()

        // bob shows up elsewhere with a new key: the verified mark is gone and bob is blocked.
        let other = try await TestServer.start()
        let newBob = try await ChatClient.connect(to: other.address, as: makeIdentity("bob"))
        let aliceAgain = try await ChatClient.connect(to: other.address, as: alice.identity, store: aliceStore)
        let contact = try #require(try aliceStore.contact(named: "bob"))
        #expect(contact.state == .changed && contact.verifiedBeforeChange)
        await #expect(throws: ClientError.self) { try await aliceAgain.sendPrivate("hi", to: "bob") }
        #expect(throws: TrustError.mustVerify("bob")) { try aliceAgain.trust("bob") }
        try await waitUntil("the new bob to see alice join") { newBob.peers.contains { $0.name == "alice" } }
        #expect(try aliceAgain.safetyNumber(with: "bob") == newBob.safetyNumber(with: "alice"))
        try aliceAgain.markVerified("bob")
        try await aliceAgain.sendPrivate("verified again", to: "bob")
        await aliceAgain.close()
        await newBob.close()
        await other.stop()
    }

    @Test("a second key for a registered name is refused, also while its owner is offline and after a restart")
    func nameSquatting() async throws {
        let folder = try TemporaryFolder()
        var server = try await TestServer.start(folder: folder)
        let owner = try makeIdentity("bob")
        let first = try await ChatClient.connect(to: server.address, as: owner)
        await first.close()
        let squatter = try makeIdentity("bob")
        await #expect { _ = try await ChatClient.connect(to: server.address, as: squatter) } throws: { error in
            if case let .refused(frame) = error as? ClientError { frame.code == .nameTaken && frame.reason.contains("belongs to another key") } else { false }
        }
        await server.stop()

        server = try await TestServer.start(folder: folder)
        await #expect { _ = try await ChatClient.connect(to: server.address, as: squatter) } throws: { error in
            if case let .refused(frame) = error as? ClientError { frame.code == .nameTaken } else { false }
        }
        let again = try await ChatClient.connect(to: server.address, as: owner)
        #expect(try await again.lookup("bob")?.key == owner.publicKey)
        await again.close()
        await server.stop()

        #expect(try ServerDatabase(dataDirectory: folder.path + "/server").releaseName("bob"))
        server = try await TestServer.start(folder: folder)
        let newOwner = try await ChatClient.connect(to: server.address, as: squatter)
        await newOwner.close()
        await server.stop()
    }

    @Test("a name that differs from a registered one only in letter case is refused, whoever's key it is")
    func lookalikeNames() async throws {
        let server = try await TestServer.start()
        let alice = try makeIdentity("alice")
        await (try await ChatClient.connect(to: server.address, as: alice)).close()
        for impostor in [try makeIdentity("Alice"), try makeIdentity("ALICE"), Identity(name: try UserName("aLiCe"), key: alice.key)] {
            await #expect { _ = try await ChatClient.connect(to: server.address, as: impostor) } throws: { error in
                if case let .refused(frame) = error as? ClientError {
                    frame.code == .nameTaken && frame.reason.contains("differs only in letter case from 'alice'")
                } else { false }
            }
        }
        let again = try await ChatClient.connect(to: server.address, as: alice)
        #expect(try await again.lookup("Alice") == nil)
        await again.close()
        await server.stop()
    }

    @Test("the directory answers for registered users who are offline")
    func offlineLookup() async throws {
        let server = try await TestServer.start()
        let carol = try makeIdentity("carol")
        await (try await ChatClient.connect(to: server.address, as: carol)).close()
        let dave = try await ChatClient.connect(to: server.address, as: makeIdentity("dave"))
        let found = try #require(try await dave.lookup("carol"))
        #expect(found.key == carol.publicKey)
        #expect(try await dave.lookup("nobody") == nil)
        await dave.close()
        await server.stop()
    }

    @Test("a hostile server cannot reach the user's terminal: names no client could register are ignored, and its texts arrive printable")
    func hostileServerText() async throws {
        let alice = try makeIdentity("alice")
        let carol = try PrivateKey(), mallory = try PrivateKey()
        let toAlice = [EnvelopeRecipient(name: "alice", publicKey: alice.publicKey)]
        func deliver(_ text: String, from name: String, key: PrivateKey) throws -> Frame {
            let envelope = try EnvelopeSealer(senderName: name, identity: key).seal(MessageBytes.text(text), kind: .direct(recipient: "alice"), to: toAlice)
            return .deliver(Deliver(header: ByteBuffer(bytes: envelope.header), body: ByteBuffer(bytes: envelope.body), wrap: ByteBuffer(bytes: envelope.wraps[0].wrap)))
        }
        let server = try await ScriptedServer(answeringHelloWith: [
            .welcome(Welcome(serverName: "relay\u{1B}]0;pwned\u{07}", serverVersion: "1\n2", online: [
                DirectoryEntry(name: "eve\u{1B}[2J", key: Array(mallory.publicKey.rawRepresentation)),
                DirectoryEntry(name: "carol", key: Array(carol.publicKey.rawRepresentation)),
            ])),
            .presence(Presence(event: .joined, user: DirectoryEntry(name: "bob\rcarol", key: Array(mallory.publicKey.rawRepresentation)))),
            try deliver("from a name nobody can register", from: "carol\u{1B}[1A", key: mallory),
            try deliver("real text", from: "carol", key: carol),
            .error(ErrorFrame(code: .unknown, reason: "look\u{1B}[2J\nhere")),
        ])
        let client = try await ChatClient.connect(to: server.address, as: alice, store: ClientStore.inMemory())
        let log = EventLog(client)
        try await log.wait(for: "the server's notice") { events in
            events.first { if case .notice = $0 { true } else { false } }
        }
        #expect(client.serverName == "relay?]0;pwned? (1?2)")
        #expect(client.peers.map(\.name) == ["carol"])
        #expect(try client.store.contacts().map(\.name) == ["carol"])
        #expect(log.messages.map(\.text) == ["real text"])
        #expect(log.rejections == ["dropped a message whose sender, 'carol?[1A', is not a LanChat user name"])
        #expect(log.all.contains { if case .notice("look?[2J?here") = $0 { true } else { false } }, "\(log.all)")
        #expect(!log.all.contains { if case .joined = $0 { true } else { false } })
        await client.close()
        await server.stop()
    }
}

/// Plaintexts in the client's content format.
enum MessageBytes {
    static func text(_ text: String) -> [UInt8] { [1] + Array(text.utf8) }
}
