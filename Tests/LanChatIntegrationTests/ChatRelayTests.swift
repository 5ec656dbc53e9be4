import LanChatClient
import LanChatCrypto
import LanChatProtocol
import NIOCore
import Testing

@Suite("A real relay and real clients on 127.0.0.1")
struct ChatRelayTests {
    /// A server behind a recording proxy, with alice, bob and carol connected through it.
    struct Room {
        let server: TestServer
        let proxy: RecordingProxy
        let alice: ChatClient, bob: ChatClient, carol: ChatClient
        let aliceLog: EventLog, bobLog: EventLog, carolLog: EventLog

        static func open() async throws -> Room {
            let server = try await TestServer.start()
            let proxy = try await RecordingProxy(forwardingTo: server.server.port)
            let address = ServerAddress(host: "127.0.0.1", port: proxy.port)
            let alice = try await ChatClient.connect(to: address, as: makeIdentity("alice"))
            let bob = try await ChatClient.connect(to: address, as: makeIdentity("bob"))
            let carol = try await ChatClient.connect(to: address, as: makeIdentity("carol"))
            let room = Room(
                server: server, proxy: proxy, alice: alice, bob: bob, carol: carol,
                aliceLog: EventLog(alice), bobLog: EventLog(bob), carolLog: EventLog(carol)
            )
            try await room.aliceLog.wait(for: "carol to join") { events in
                events.contains { if case let .joined(peer) = $0 { peer.name == "carol" && peer.key == carol.identity.publicKey } else { false } } ? true : nil
            }
            return room
        }

        func close() async {
            for client in [alice, bob, carol] { await client.close() }
            try? await proxy.close()
            await server.stop()
        }
    }

    @Test("a private message reaches its recipient only, and the relay sees no plaintext")
    func privateMessage() async throws {
        let room = try await Room.open()
        let secret = "the key is under the mat 7f3a"
        let receipt = try await room.alice.sendPrivate(secret, to: "bob")
        #expect(receipt.delivered == 1)
        let received = try await room.bobLog.waitForMessage(secret)
        #expect(received.sender.name == "alice")
        #expect(received.sender.key == room.alice.identity.publicKey)
        #expect(received.isPrivate)
        #expect(received.id == receipt.messageID)
        // Carol's first message must be the broadcast sent after the private one.
        try await room.alice.broadcast("marker for carol")
        try await room.carolLog.waitForMessage("marker for carol")
        #expect(room.carolLog.messages.map(\.text) == ["marker for carol"])
        #expect(!room.proxy.contains(Array(secret.utf8)))
        #expect(!room.proxy.contains(Array("marker for carol".utf8)))
        #expect(!room.proxy.bytes.isEmpty)
        await room.close()
    }

    @Test("a broadcast reaches everyone else and not its sender, and the relay sees no plaintext")
    func broadcast() async throws {
        let room = try await Room.open()
        let text = "lunch at noon in room 42b"
        let receipt = try await room.alice.broadcast(text)
        #expect(receipt.delivered == 2)
        let atBob = try await room.bobLog.waitForMessage(text)
        let atCarol = try await room.carolLog.waitForMessage(text)
        #expect(!atBob.isPrivate && !atCarol.isPrivate)
        #expect(atBob.id == atCarol.id)
        try await room.bob.sendPrivate("marker for alice", to: "alice")
        try await room.aliceLog.waitForMessage("marker for alice")
        #expect(room.aliceLog.messages.map(\.text) == ["marker for alice"])
        #expect(!room.proxy.contains(Array(text.utf8)))
        await room.close()
    }

    @Test("the welcome lists who is online and presence changes reach everyone")
    func presence() async throws {
        let room = try await Room.open()
        #expect(Set(room.carol.peers.map(\.name)) == ["alice", "bob"])
        #expect(room.carol.peers.first { $0.name == "alice" }?.key == room.alice.identity.publicKey)
        await room.bob.close()
        try await room.carolLog.wait(for: "bob to leave") { events in
            events.contains { if case let .left(peer) = $0 { peer.name == "bob" } else { false } } ? true : nil
        }
        #expect(room.carol.peers.map(\.name) == ["alice"])
        await room.close()
    }

    @Test("a client that does not ask for presence gets an empty welcome and no presence frames, and still gets its messages")
    func presenceIsOptIn() async throws {
        let room = try await Room.open()
        let quiet = try await RawClient(port: room.server.server.port)
        try await quiet.register(as: "quiet", wantsPresence: false)
        let watcher = try await RawClient(port: room.server.server.port)
        try await watcher.register(as: "watcher")
        let dave = try await ChatClient.connect(to: ServerAddress(host: "127.0.0.1", port: room.server.server.port), as: makeIdentity("dave"))
        try await watcher.waitFor("dave to join") { if case let .presence(presence) = $0 { presence.user.name == "dave" } else { false } }
        await dave.close()
        try await watcher.waitFor("dave to leave") { if case let .presence(presence) = $0 { presence.event == .left && presence.user.name == "dave" } else { false } }

        _ = try await room.alice.sendPrivate("to the quiet one", to: "quiet")
        try await quiet.waitFor("alice's message") { if case .deliver = $0 { true } else { false } }
        guard case let .welcome(welcome)? = quiet.frames.first else { Issue.record("no welcome first"); return }
        #expect(welcome.online.isEmpty)
        #expect(!quiet.frames.contains { if case .presence = $0 { true } else { false } })
        guard case let .welcome(watcherWelcome)? = watcher.frames.first else { Issue.record("no welcome first"); return }
        #expect(Set(watcherWelcome.online.map(\.name)) == ["alice", "bob", "carol", "quiet", "watcher"])
        try await quiet.channel.close()
        try await watcher.channel.close()
        await room.close()
    }

    @Test("a sender's repeated envelopes to the same names follow recipients leaving and coming back, and are checked every time")
    func repeatedRecipients() async throws {
        let server = try await TestServer.start()
        let alice = try await RawClient(port: server.server.port)
        try await alice.register(as: "alice", wantsPresence: false)
        let bob = try await RawClient(port: server.server.port)
        try await bob.register(as: "bob", wantsPresence: false)
        let carolKey = try PrivateKey()
        let carol = try await RawClient(port: server.server.port, key: carolKey)
        try await carol.register(as: "carol", wantsPresence: false)
        let sealer = EnvelopeSealer(senderName: "alice", identity: alice.key)
        let everyone = [EnvelopeRecipient(name: "bob", publicKey: bob.key.publicKey), EnvelopeRecipient(name: "carol", publicKey: carolKey.publicKey)]
        /// Sends request `requestID` to bob and carol, with its wraps' names changed by `rename`; returns the answer.
        func broadcast(_ requestID: UInt32, rename: (inout [Send.Wrap]) -> Void = { _ in }) async throws -> Frame {
            var send = sendFrame(try sealer.seal(Array("\u{1}message \(requestID)".utf8), kind: .broadcast, to: everyone), requestID: requestID)
            rename(&send.wraps)
            try await alice.send(.send(send))
            return try await alice.waitFor("the answer to request \(requestID)") {
                switch $0 {
                case let .ack(ack): ack.requestID == requestID
                case let .error(error): error.requestID == requestID
                default: false
                }
            }
        }

        #expect(try await broadcast(1) == .ack(Ack(requestID: 1, delivered: 2)))
        #expect(try await broadcast(2) == .ack(Ack(requestID: 2, delivered: 2)))
        // Same names as the resolved ones, so the name checks are skipped; every other check still runs.
        let shortWrap = try await broadcast(21) { $0[1].wrap = $0[1].wrap.getSlice(at: $0[1].wrap.readerIndex, length: 10)! }
        guard case let .error(shortWrapError) = shortWrap else { Issue.record("accepted a short wrap: \(shortWrap)"); return }
        #expect(shortWrapError.code == .badEnvelope && shortWrapError.reason.contains("not \(ProtocolLimits.wrapLength) bytes"))
        let forged = sendFrame(try EnvelopeSealer(senderName: "carol", identity: alice.key).seal([1, 70], kind: .broadcast, to: everyone), requestID: 22)
        try await alice.send(.send(Send(requestID: 22, header: forged.header, body: forged.body, wraps: forged.wraps)))
        let forgedAnswer = try await alice.waitFor("the answer to request 22") { if case let .error(error) = $0 { error.requestID == 22 } else { false } }
        guard case let .error(forgedError) = forgedAnswer else { return }
        #expect(forgedError.code == .senderMismatch)

        await carol.close()
        let deadline = ContinuousClock.now + .seconds(10)
        while server.server.onlineCount > 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.server.onlineCount == 2)
        #expect(try await broadcast(3) == .ack(Ack(requestID: 3, delivered: 1, missed: ["carol"])))

        let carolAgain = try await RawClient(port: server.server.port, key: carolKey)
        try await carolAgain.register(as: "carol", wantsPresence: false)
        #expect(try await broadcast(4) == .ack(Ack(requestID: 4, delivered: 2)))
        try await carolAgain.waitFor("request 4 at carol's new connection") { if case .deliver = $0 { true } else { false } }

        // Names that differ from the last envelope's are checked again.
        let twice = try await broadcast(5) { $0[1].recipient = "bob" }
        guard case let .error(twiceError) = twice else { Issue.record("accepted bob named twice: \(twice)"); return }
        #expect(twiceError.code == .badEnvelope && twiceError.reason.contains("named twice"))
        let toSelf = try await broadcast(6) { $0[1].recipient = "alice" }
        guard case let .error(toSelfError) = toSelf else { Issue.record("accepted an envelope to its sender: \(toSelf)"); return }
        #expect(toSelfError.reason.contains("addressed to its sender"))
        #expect(try await broadcast(7) == .ack(Ack(requestID: 7, delivered: 2)))
        let deliveriesToBob = { bob.frames.filter { if case .deliver = $0 { true } else { false } }.count }
        while deliveriesToBob() < 5, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(deliveriesToBob() == 5)
        // A name as long as a resolved one, differing only in its last byte, is resolved anew: "carom" is nobody.
        #expect(try await broadcast(8) { $0[1].recipient = "carom" } == .ack(Ack(requestID: 8, delivered: 1, missed: ["carom"])))
        for client in [alice, bob, carolAgain] { await client.close() }
        await server.stop()
    }

    @Test("broadcasts to receivers on both event loops reach each of them once, in order, each with its own wrap")
    func broadcastsAcrossEventLoops() async throws {
        // The server's event-loop group hands accepted connections to its loops in turn (SwiftNIO's `next()` is
        // round-robin), so the receivers sit on both loops whatever loop the sender is on.
        let server = try await TestServer.start(threads: 2)
        let sender = try await RawClient(port: server.server.port)
        try await sender.register(as: "sender", wantsPresence: false)
        var receivers: [(name: String, key: PrivateKey, client: RawClient)] = []
        for index in 0..<7 {
            let key = try PrivateKey()
            let client = try await RawClient(port: server.server.port, key: key)
            try await client.register(as: "r\(index)", wantsPresence: false)
            receivers.append(("r\(index)", key, client))
        }
        let sealer = EnvelopeSealer(senderName: "sender", identity: sender.key)
        let recipients = receivers.map { EnvelopeRecipient(name: $0.name, publicKey: $0.key.publicKey) }
        let count = 30
        for requestID in 1...count {
            try await sender.send(.send(sendFrame(try sealer.seal(Array("\u{1}broadcast \(requestID)".utf8), kind: .broadcast, to: recipients), requestID: UInt32(requestID))))
        }
        let acks = try await sender.waitFor("the last acknowledgement") { if case let .ack(ack) = $0 { ack.requestID == UInt32(count) } else { false } }
        #expect(acks == .ack(Ack(requestID: UInt32(count), delivered: UInt16(receivers.count))))
        for receiver in receivers {
            let opener = EnvelopeOpener(recipientName: receiver.name, identity: receiver.key)
            let deadline = ContinuousClock.now + .seconds(10)
            var texts: [String] = []
            while texts.count < count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
                texts = try receiver.client.frames.compactMap { frame -> String? in
                    guard case let .deliver(deliver) = frame else { return nil }
                    let opened = try opener.open(header: Array(deliver.header.readableBytesView), body: Array(deliver.body.readableBytesView), wrap: Array(deliver.wrap.readableBytesView))
                    return String(decoding: opened.plaintext.dropFirst(), as: UTF8.self)
                }
            }
            #expect(texts == (1...count).map { "broadcast \($0)" }, "\(receiver.name)")
        }
        for client in [sender] + receivers.map(\.client) { await client.close() }
        await server.stop()
    }

    @Test("a client claiming a name held by another key is refused")
    func nameClaimedByAnotherKey() async throws {
        let server = try await TestServer.start()
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        await #expect {
            _ = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        } throws: { error in
            guard case let .refused(frame) = error as? ClientError else { return false }
            return frame.code == .nameTaken && frame.reason.contains("bob")
        }
        #expect(server.server.onlineCount == 1)
        await bob.close()
        await server.stop()
    }

    @Test("the same key reconnecting replaces its old session")
    func sameKeyReplacesSession() async throws {
        let server = try await TestServer.start()
        let identity = try makeIdentity("dave")
        let first = try await ChatClient.connect(to: server.address, as: identity)
        let firstLog = EventLog(first)
        let second = try await ChatClient.connect(to: server.address, as: identity)
        try await firstLog.wait(for: "the old session to be closed") { events in
            events.contains { if case .disconnected = $0 { true } else { false } } ? true : nil
        }
        #expect(server.server.onlineCount == 1)
        let erin = try await ChatClient.connect(to: server.address, as: makeIdentity("erin"))
        let secondLog = EventLog(second)
        try await erin.sendPrivate("still here?", to: "dave")
        try await secondLog.waitForMessage("still here?")
        await erin.close()
        await second.close()
        await server.stop()
    }

    @Test("a connection that only sends leaves the user's receiving one alone, gets nothing, and its messages arrive")
    func sendOnlyConnection() async throws {
        let server = try await TestServer.start()
        let identity = try makeIdentity("dave")
        let erin = try await ChatClient.connect(to: server.address, as: makeIdentity("erin"))
        let erinLog = EventLog(erin)

        // Before dave's chat is online: the sending side binds the name but counts as offline, so a message to
        // dave is stored for the chat, and erin sees nobody join.
        let sender = try await ChatClient.connect(to: server.address, as: identity, sendsOnly: true)
        let senderLog = EventLog(sender)
        #expect(server.server.onlineCount == 1)
        #expect(try await erin.sendPrivate("while you were away", to: "dave").stored == 1)
        #expect(try await sender.sendPrivate("from the send-only side", to: "erin").delivered == 1)
        #expect(try await erinLog.waitForMessage("from the send-only side").sender.name == "dave")

        let chat = try await ChatClient.connect(to: server.address, as: identity)
        let chatLog = EventLog(chat)
        try await chatLog.waitForMessage("while you were away")
        let second = try await ChatClient.connect(to: server.address, as: identity, sendsOnly: true)
        #expect(try await second.broadcast("to everyone else").delivered == 1)
        #expect(try await sender.sendPrivate("still sending", to: "erin").delivered == 1)
        try await erinLog.waitForMessage("to everyone else")
        try await erinLog.waitForMessage("still sending")
        try await erin.sendPrivate("to dave's chat", to: "dave")
        try await chatLog.waitForMessage("to dave's chat")

        #expect(server.server.onlineCount == 2)
        #expect(chatLog.messages.map(\.text) == ["while you were away", "to dave's chat"])
        #expect(!chatLog.all.contains { if case .disconnected = $0 { true } else { false } })
        #expect(senderLog.messages.isEmpty)
        #expect(!senderLog.all.contains { if case .disconnected = $0 { true } else { false } })
        let joins = erinLog.all.filter { if case let .joined(peer) = $0 { peer.name == "dave" } else { false } }
        #expect(joins.count == 1)
        for client in [second, sender, chat, erin] { await client.close() }
        await server.stop()
    }

    @Test("an envelope whose sender is not the connection's user is refused, and the session goes on")
    func senderMismatch() async throws {
        let server = try await TestServer.start()
        let alice = try makeIdentity("alice")
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let bobLog = EventLog(bob)
        let mallory = try await RawClient(port: server.server.port)
        try await mallory.register(as: "mallory")
        let recipient = EnvelopeRecipient(name: "bob", publicKey: bob.identity.publicKey)

        // Claims alice's name under mallory's key, then alice's name and key.
        let forgedName = try EnvelopeSealer(senderName: "alice", identity: mallory.key).seal([1, 65], kind: .broadcast, to: [recipient])
        let forgedKey = try EnvelopeSealer(senderName: "alice", identity: alice.key).seal([1, 66], kind: .broadcast, to: [recipient])
        try await mallory.send(.send(sendFrame(forgedName, requestID: 7)))
        try await mallory.send(.send(sendFrame(forgedKey, requestID: 8)))
        for requestID in [UInt32(7), 8] {
            let refusal = try await mallory.waitFor("refusal of request \(requestID)") {
                if case let .error(error) = $0 { error.requestID == requestID } else { false }
            }
            guard case let .error(error) = refusal else { return }
            #expect(error.code == .senderMismatch)
            #expect(error.reason.contains("mallory"))
        }

        // The connection is still usable for honest envelopes.
        let honest = try EnvelopeSealer(senderName: "mallory", identity: mallory.key)
            .seal(Array("\u{1}an honest one".utf8), kind: .direct(recipient: "bob"), to: [recipient])
        try await mallory.send(.send(sendFrame(honest, requestID: 9)))
        try await mallory.waitFor("ack of request 9") { if case let .ack(ack) = $0 { ack.requestID == 9 } else { false } }
        try await bobLog.waitForMessage("an honest one")
        #expect(bobLog.messages.map(\.text) == ["an honest one"])
        await mallory.close()
        await bob.close()
        await server.stop()
    }

    @Test("a tampered delivery is rejected by the client and the session goes on")
    func tamperedDelivery() async throws {
        let server = try await TestServer.start()
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let bobLog = EventLog(bob)
        let mallory = try await RawClient(port: server.server.port)
        try await mallory.register(as: "mallory")
        let envelope = try EnvelopeSealer(senderName: "mallory", identity: mallory.key)
            .seal(Array("\u{1}tampered text".utf8), kind: .direct(recipient: "bob"), to: [EnvelopeRecipient(name: "bob", publicKey: bob.identity.publicKey)])
        var body = envelope.body
        body[3] ^= 0x20
        try await mallory.send(.send(sendFrame(SealedEnvelope(header: envelope.header, body: body, wraps: envelope.wraps), requestID: 1)))
        try await mallory.waitFor("ack") { if case .ack = $0 { true } else { false } }
        try await bobLog.wait(for: "a rejection") { events in events.contains { if case .rejected = $0 { true } else { false } } ? true : nil }
        #expect(bobLog.messages.isEmpty)

        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        try await alice.sendPrivate("after the tampering", to: "bob")
        try await bobLog.waitForMessage("after the tampering")
        #expect(bobLog.messages.map(\.text) == ["after the tampering"])
        await alice.close()
        await mallory.close()
        await bob.close()
        await server.stop()
    }

    @Test("sending to an unknown user, to nobody online or to oneself fails with a clear error")
    func unknownRecipient() async throws {
        let server = try await TestServer.start()
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        await #expect(throws: ClientError.unknownRecipient("zoe")) { try await alice.sendPrivate("hi", to: "zoe") }
        await #expect(throws: ClientError.nobodyOnline) { try await alice.broadcast("anyone?") }
        await #expect(throws: ClientError.messageToYourself("alice")) { try await alice.sendPrivate("note to self", to: "alice") }
        await alice.close()
        await server.stop()
    }
}

/// The `send` frame for a sealed envelope.
func sendFrame(_ envelope: SealedEnvelope, requestID: UInt32) -> Send {
    Send(
        requestID: requestID,
        header: ByteBuffer(bytes: envelope.header),
        body: ByteBuffer(bytes: envelope.body),
        wraps: envelope.wraps.map { Send.Wrap(recipient: $0.recipient, wrap: ByteBuffer(bytes: $0.wrap)) }
    )
}
