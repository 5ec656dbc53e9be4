import Foundation
import LanChatClient
import LanChatCrypto
import LanChatProtocol
import LanChatServer
import NIOConcurrencyHelpers
import NIOCore
import Testing

@Suite("Limits and backpressure", .timeLimit(.minutes(1)))
struct LimitsTests {
    // MARK: Slow reader

    @Test("a client that stops reading is cut off after slowReaderTimeout, nobody else slows down, and nothing sent to it is lost")
    func slowReader() async throws {
        let recorder = LimitsLogRecorder()
        let server = try await TestServer.start(configure: {
            $0.outboundBufferLimit = 64 * 1024
            $0.slowReaderTimeout = .seconds(1)
            // Sweeps every 0.5 s (a quarter of this), so slow is cut off within 0.5 s of the timeout: the chat below
            // is measured while slow is stuck, and a longer stretch only adds exposure to the test machine's stalls.
            $0.pingInterval = .seconds(2)
        }, logger: recorder.logger)
        let database = try ServerDatabase(dataDirectory: server.folder.path + "/server")
        let lag = LimitsLoopLagMonitor()
        defer { lag.stop() }
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let carol = try await ChatClient.connect(to: server.address, as: makeIdentity("carol"))
        let bobLog = EventLog(bob), carolLog = EventLog(carol)
        let slowKey = try PrivateKey()
        let slow = try await LimitsQuietClient(port: server.server.port, name: "slow", key: slowKey)
        try await slow.waitForWelcome()
        try await bobLog.wait(for: "slow to join") { events in
            events.contains { if case let .joined(peer) = $0 { peer.name == "slow" } else { false } } ? true : nil
        }
        try await slow.stopReading()

        // Alice floods slow with 60 KB direct messages, at most 6 in flight, until the server starts storing
        // them (slow's buffers are full and its connection is no longer writable).
        let started = ContinuousClock.now
        let padding = String(repeating: "x", count: 60 * 1024)
        let flood = Task { () throws -> [(text: String, receipt: SendReceipt, at: ContinuousClock.Instant)] in
            try await withThrowingTaskGroup(of: (String, SendReceipt, ContinuousClock.Instant).self) { group in
                var results: [(text: String, receipt: SendReceipt, at: ContinuousClock.Instant)] = []
                var launched = 0, inFlight = 0
                func collect() async throws {
                    guard let (text, receipt, at) = try await group.next() else { return }
                    inFlight -= 1
                    results.append((text, receipt, at))
                }
                while launched < 150, results.filter({ $0.receipt.stored > 0 }).count < 4, ContinuousClock.now - started < .seconds(8) {
                    if inFlight >= 6 { try await collect() }
                    launched += 1
                    let text = "flood \(launched) " + padding
                    group.addTask { (text, try await alice.sendPrivate(text, to: "slow"), ContinuousClock.now) }
                    inFlight += 1
                }
                while inFlight > 0 { try await collect() }
                return results
            }
        }

        // Meanwhile bob and carol chat as fast as they can, each message waiting for the previous to arrive.
        let stopChatting = NIOLockedValueBox(false)
        let chat = Task { () throws -> [Duration] in
            var latencies: [Duration] = []
            while !stopChatting.withLockedValue({ $0 }), latencies.count < 1000, ContinuousClock.now - started < .seconds(12) {
                let index = latencies.count + 1
                let (sender, recipient, recipientLog) = index % 2 == 0 ? (bob, "carol", carolLog) : (carol, "bob", bobLog)
                let text = "chat \(index) to \(recipient)"
                let sent = ContinuousClock.now
                let receipt = try await sender.sendPrivate(text, to: recipient)
                #expect(receipt.delivered == 1)
                try await recipientLog.waitForMessage(text, timeout: 5)
                latencies.append(ContinuousClock.now - sent)
            }
            return latencies
        }

        defer {
            stopChatting.withLockedValue { $0 = true }
            flood.cancel()
        }

        try await bobLog.wait(timeout: 10, for: "the server to disconnect slow") { events in
            events.contains { if case let .left(peer) = $0 { peer.name == "slow" } else { false } } ? true : nil
        }
        let disconnectedAt = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(300))
        stopChatting.withLockedValue { $0 = true }
        let latencies = try await limitsValue(of: chat, timeout: 6, "bob and carol to finish chatting")
        let results = try await limitsValue(of: flood, timeout: 6, "every message to slow to be acknowledged")

        // Bob and carol were not slowed down by slow.
        let slowest = latencies.max() ?? .zero
        #expect(latencies.count >= 10, "only \(latencies.count) chat messages got through while slow was stuck")
        #expect(slowest < .seconds(1), "the slowest of \(latencies.count) chat messages took \(slowest); the client event loops ran up to \(lag.worstLag) late")

        // Slow was cut off about slowReaderTimeout after its connection stopped being writable.
        let firstStored = try #require(results.filter { $0.receipt.stored > 0 }.map(\.at).min(), "no message to slow was ever stored")
        #expect(disconnectedAt - started >= .seconds(1), "slow was disconnected before slowReaderTimeout could elapse")
        #expect(disconnectedAt - firstStored < .seconds(4), "slow was disconnected \(disconnectedAt - firstStored) after its buffer filled")
        #expect(server.server.onlineCount == 3)
        let cutOff = recorder.entries.filter { $0.level == .warning && $0.message.contains("does not read") }
        #expect(cutOff.count == 1 && cutOff.allSatisfy { $0.metadata["user"] == "slow" }, "\(cutOff)")

        // Every message was accounted for exactly once: delivered to slow's socket or stored.
        #expect(results.allSatisfy { $0.receipt.delivered + $0.receipt.stored == 1 && $0.receipt.missed.isEmpty })
        let delivered = results.filter { $0.receipt.delivered == 1 }
        let stored = results.filter { $0.receipt.stored == 1 }
        #expect(!delivered.isEmpty)

        // What reached slow's socket before the cut is still in it: slow reads it now.
        try await slow.resumeReading()
        try await slow.waitForClose(timeout: 10)
        let opener = EnvelopeOpener(recipientName: "slow", identity: slowKey)
        let readLive = try slow.deliveries.map { deliver in
            try opener.open(header: Array(deliver.header.readableBytesView), body: Array(deliver.body.readableBytesView), wrap: Array(deliver.wrap.readableBytesView))
        }
        let liveIDs = Set(readLive.map { Hex.encode($0.header.messageID) })
        for result in delivered {
            #expect(liveIDs.contains(result.receipt.messageID), "'\(result.text.prefix(12))' was acknowledged as delivered but never reached slow")
        }

        // The stored ones arrive when slow comes back as a normal client with the same key.
        let slowAgain = try await ChatClient.connect(to: server.address, as: Identity(name: UserName("slow"), key: slowKey))
        let slowLog = EventLog(slowAgain)
        let storedIDs = Set(stored.map(\.receipt.messageID))
        try await slowLog.wait(for: "the \(stored.count) stored messages") { _ in
            storedIDs.isSubset(of: Set(slowLog.messages.map(\.id))) ? true : nil
        }
        let texts = Dictionary(results.map { ($0.receipt.messageID, $0.text) }, uniquingKeysWith: { first, _ in first })
        #expect(slowLog.messages.allSatisfy { texts[$0.id] == $0.text && $0.sender.name == "alice" && $0.isPrivate })
        #expect(slowLog.rejections.isEmpty)
        // Nothing lost: every message alice sent reached slow one way or the other.
        #expect(Set(results.map(\.receipt.messageID)) == liveIDs.union(slowLog.messages.map(\.id)))
        try await limitsWait("slow's acknowledgements to empty its queue") { try await database.queuedCount(for: "slow") == 0 }

        await slow.close()
        for client in [alice, bob, carol, slowAgain] { await client.close() }
        await server.stop()
    }

    // MARK: Offline delivery

    @Test("a client's database requests wait for each other, all answered once; a client that does not read the replies is not read either (its own writes stall)")
    func notReadingIsNotRead() async throws {
        let server = try await TestServer.start()
        // Lookups of unknown names, each a database request: all answered, once each, however many come at once.
        let asker = try await RawClient(port: server.server.port)
        try await asker.register(as: "asker")
        let questions = (1...300).flatMap { Frame.lookup(Lookup(requestID: UInt32($0), name: "nobody-\($0)")).encoded().readableBytesView }
        try await asker.sendRaw(questions)
        try await waitUntil("300 answers") { asker.frames.count { if case .lookupResult = $0 { true } else { false } } == 300 }
        let answers = asker.frames.compactMap { if case let .lookupResult(result) = $0 { result } else { nil } }
        #expect(answers.map(\.requestID).sorted() == Array(1...300) && answers.allSatisfy { $0.status == .unknown })

        let mute = try await RawClient(port: server.server.port)
        try await mute.register(as: "mute")
        try await mute.channel.setOption(ChannelOptions.autoRead, value: false)
        let pings = Array(repeating: Frame.ping(7).encoded().readableBytesView, count: 4000).flatMap { $0 }
        var chunks = 0
        while mute.channel.isWritable, chunks < 400 {
            mute.channel.writeAndFlush(ByteBuffer(bytes: pings), promise: nil)
            chunks += 1
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(!mute.channel.isWritable, "the relay kept reading \(chunks) chunks of 4,000 pings whose pongs nobody reads")
        await mute.close()
        await asker.close()
        await server.stop()
    }

    @Test("stored messages: acknowledged as stored, delivered oldest first, deleted after deliveryAck, never twice; broadcasts reach offline users only with includeOffline")
    func offlineDelivery() async throws {
        let server = try await TestServer.start()
        let database = try ServerDatabase(dataDirectory: server.folder.path + "/server")
        let bobIdentity = try makeIdentity("bob"), carolIdentity = try makeIdentity("carol")
        await (try await ChatClient.connect(to: server.address, as: bobIdentity)).close()
        await (try await ChatClient.connect(to: server.address, as: carolIdentity)).close()
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        let aliceLog = EventLog(alice)
        try await limitsWait("bob and carol to be offline") { server.server.onlineCount == 1 }

        let texts = (1...3).map { "while bob was away, note \($0)" }
        var receipts: [SendReceipt] = []
        for text in texts {
            let receipt = try await alice.sendPrivate(text, to: "bob")
            #expect(receipt.stored == 1 && receipt.delivered == 0 && receipt.missed.isEmpty)
            receipts.append(receipt)
        }
        #expect(try await database.queuedCount(for: "bob") == 3)

        let bob = try await ChatClient.connect(to: server.address, as: bobIdentity)
        let bobLog = EventLog(bob)
        try await bobLog.wait(for: "the three stored notes") { _ in bobLog.messages.count >= 3 ? true : nil }
        #expect(bobLog.messages.map(\.text) == texts)
        #expect(bobLog.messages.map(\.id) == receipts.map(\.messageID))
        #expect(bobLog.messages.allSatisfy { $0.isPrivate && $0.sender.name == "alice" })
        try await limitsWait("bob's deliveryAcks to empty his queue") { try await database.queuedCount(for: "bob") == 0 }

        // Broadcasts: without includeOffline, offline carol is not even addressed; with it, she is stored for.
        try await aliceLog.wait(for: "alice to see bob online") { _ in alice.peers.map(\.name) == ["bob"] ? true : nil }
        let liveOnly = try await alice.broadcast("only for whoever is online")
        #expect(liveOnly.delivered == 1 && liveOnly.stored == 0 && liveOnly.missed.isEmpty)
        let forAll = try await alice.broadcast("for everyone, online or not", includeOffline: true)
        #expect(forAll.delivered == 1 && forAll.stored == 1 && forAll.missed.isEmpty)
        #expect(try await database.queuedCount(for: "carol") == 1)

        // A broadcast naming offline carol without storeForOffline reports her as missed.
        let dave = try await RawClient(port: server.server.port)
        try await dave.register(as: "dave")
        let recipients = [bobIdentity, carolIdentity].map { EnvelopeRecipient(name: $0.name.value, publicKey: $0.publicKey) }
        let daveBroadcast = try EnvelopeSealer(senderName: "dave", identity: dave.key).seal(MessageBytes.text("dave, live only"), kind: .broadcast, to: recipients)
        try await dave.send(.send(sendFrame(daveBroadcast, requestID: 1)))
        let daveAck = try await dave.waitFor("dave's ack") { if case .ack = $0 { true } else { false } }
        guard case let .ack(ack) = daveAck else { return }
        #expect(ack.delivered == 1 && ack.stored == 0 && ack.missed == ["carol"])
        try await bobLog.waitForMessage("dave, live only")
        #expect(try await database.queuedCount(for: "carol") == 1)

        // Bob reconnecting (with a fresh store, so repeats would show) gets only what is new.
        await bob.close()
        try await limitsWait("bob to be offline") { server.server.onlineCount == 2 }
        let marker = try await alice.sendPrivate("stored after bob left again", to: "bob")
        #expect(marker.stored == 1)
        let bobAgain = try await ChatClient.connect(to: server.address, as: bobIdentity)
        let bobAgainLog = EventLog(bobAgain)
        try await bobAgainLog.waitForMessage("stored after bob left again")
        try await Task.sleep(for: .milliseconds(300))
        #expect(bobAgainLog.messages.map(\.text) == ["stored after bob left again"])

        // Carol gets the includeOffline broadcast, and only that.
        let carol = try await ChatClient.connect(to: server.address, as: carolIdentity)
        let carolLog = EventLog(carol)
        let received = try await carolLog.waitForMessage("for everyone, online or not")
        #expect(!received.isPrivate && received.sender.name == "alice" && received.id == forAll.messageID)
        try await limitsWait("carol's deliveryAck to empty her queue") { try await database.queuedCount(for: "carol") == 0 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(carolLog.messages.map(\.text) == ["for everyone, online or not"])

        await dave.close()
        for client in [alice, bobAgain, carol] { await client.close() }
        await server.stop()
    }

    // MARK: Queue limit

    @Test("with maxQueuedPerRecipient = 3 the fourth direct message to an offline user is refused, naming them, and the first three still arrive")
    func queueLimit() async throws {
        let server = try await TestServer.start(configure: { $0.maxQueuedPerRecipient = 3 })
        let database = try ServerDatabase(dataDirectory: server.folder.path + "/server")
        let bobIdentity = try makeIdentity("bob")
        await (try await ChatClient.connect(to: server.address, as: bobIdentity)).close()
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        try await limitsWait("bob to be offline") { server.server.onlineCount == 1 }

        let texts = (1...3).map { "queued \($0)" }
        for text in texts {
            let receipt = try await alice.sendPrivate(text, to: "bob")
            #expect(receipt.stored == 1 && receipt.delivered == 0)
        }
        await #expect {
            try await alice.sendPrivate("one too many", to: "bob")
        } throws: { error in
            guard case let .refused(frame) = error as? ClientError else { return false }
            return frame.code == .queueFull && frame.reason.contains("bob") && frame.reason.contains("3")
        }
        // A broadcast is not refused for one full queue: bob is reported as missed.
        let broadcast = try await alice.broadcast("for all, bob's queue is full", includeOffline: true)
        #expect(broadcast.delivered == 0 && broadcast.stored == 0 && broadcast.missed == ["bob"])
        #expect(try await database.queuedCount(for: "bob") == 3)

        let bob = try await ChatClient.connect(to: server.address, as: bobIdentity)
        let bobLog = EventLog(bob)
        try await bobLog.wait(for: "the three queued messages") { _ in bobLog.messages.count >= 3 ? true : nil }
        try await limitsWait("bob's queue to be emptied") { try await database.queuedCount(for: "bob") == 0 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(bobLog.messages.map(\.text) == texts)

        // Once bob collected them, there is room again.
        await bob.close()
        try await limitsWait("bob to be offline") { server.server.onlineCount == 1 }
        #expect(try await alice.sendPrivate("room again", to: "bob").stored == 1)

        await alice.close()
        await server.stop()
    }

    // MARK: Expiry

    @Test("a stored message older than maxQueuedAge is deleted and reported in the server log, and never delivered")
    func expiry() async throws {
        let recorder = LimitsLogRecorder()
        let server = try await TestServer.start(configure: {
            $0.maxQueuedAge = .seconds(1)
            $0.expirySweepInterval = .milliseconds(200)
        }, logger: recorder.logger)
        let database = try ServerDatabase(dataDirectory: server.folder.path + "/server")
        let bobIdentity = try makeIdentity("bob")
        await (try await ChatClient.connect(to: server.address, as: bobIdentity)).close()
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        try await limitsWait("bob to be offline") { server.server.onlineCount == 1 }

        let sentAt = ContinuousClock.now
        let receipt = try await alice.sendPrivate("this one goes stale", to: "bob")
        #expect(receipt.stored == 1)
        #expect(try await database.queuedCount(for: "bob") == 1)

        let isExpiryWarning = { (entry: LimitsLogRecorder.Entry) in
            entry.level == .warning && entry.message.contains("expired") && entry.message.contains("alice") && entry.message.contains("bob")
        }
        try await limitsWait(timeout: 8, "an expiry warning in the server log") { recorder.entries.contains(where: isExpiryWarning) }
        let expiredAfter = ContinuousClock.now - sentAt
        #expect(expiredAfter >= .milliseconds(990), "expired after only \(expiredAfter)")
        #expect(expiredAfter < .seconds(5), "expired only after \(expiredAfter)")
        let warnings = recorder.entries.filter(isExpiryWarning)
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.allSatisfy { $0.message.contains("1 undelivered message") }, "\(warnings)")
        #expect(warnings.allSatisfy { $0.message.contains("within 1 s") }, "the warning misstates the age limit: \(warnings)")
        #expect(try await database.queuedCount(for: "bob") == 0)

        // Bob gets nothing stored; a live message shows his connection works.
        let bob = try await ChatClient.connect(to: server.address, as: bobIdentity)
        let bobLog = EventLog(bob)
        #expect(try await alice.sendPrivate("fresh and live", to: "bob").delivered == 1)
        try await bobLog.waitForMessage("fresh and live")
        try await Task.sleep(for: .milliseconds(300))
        #expect(bobLog.messages.map(\.text) == ["fresh and live"])

        await bob.close()
        await alice.close()
        await server.stop()
    }

    // MARK: Rate limit

    @Test("with maxMessagesPerSecond = 5 a burst of 30 is partly refused as rateLimited, the connection stays open, and after a second sending works again")
    func rateLimit() async throws {
        let server = try await TestServer.start(configure: { $0.maxMessagesPerSecond = 5 })
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let aliceLog = EventLog(alice), bobLog = EventLog(bob)
        try await aliceLog.wait(for: "bob to join") { events in
            events.contains { if case let .joined(peer) = $0 { peer.name == "bob" } else { false } } ? true : nil
        }

        let outcomes = await withTaskGroup(of: (String, Result<SendReceipt, any Error>).self) { group in
            for index in 1...30 {
                let text = "burst \(index)"
                group.addTask {
                    do { return (text, .success(try await alice.sendPrivate(text, to: "bob"))) } catch { return (text, .failure(error)) }
                }
            }
            var outcomes: [(String, Result<SendReceipt, any Error>)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let accepted = outcomes.compactMap { text, result in (try? result.get()).map { (text, $0) } }
        let limitedReasons = outcomes.compactMap { _, result -> String? in
            guard case let .failure(error) = result, case let .rateLimited(reason) = error as? ClientError else { return nil }
            return reason
        }
        let otherErrors = outcomes.compactMap { _, result -> String? in
            guard case let .failure(error) = result else { return nil }
            if case .rateLimited = error as? ClientError { return nil }
            return "\(error)"
        }
        #expect(otherErrors.isEmpty, "\(otherErrors)")
        #expect(accepted.count >= 10, "the burst allowance is twice the rate, yet only \(accepted.count) were accepted")
        #expect(!limitedReasons.isEmpty, "none of 30 sends was rate limited")
        #expect(accepted.count + limitedReasons.count == 30)
        #expect(limitedReasons.allSatisfy { $0.contains("5 messages per second") }, "\(limitedReasons)")
        #expect(accepted.allSatisfy { $0.1.delivered == 1 })

        // Bob got exactly the accepted ones; alice is still connected.
        try await bobLog.wait(for: "the accepted messages") { _ in bobLog.messages.count >= accepted.count ? true : nil }
        try await Task.sleep(for: .milliseconds(200))
        #expect(Set(bobLog.messages.map(\.text)) == Set(accepted.map(\.0)))
        #expect(bobLog.messages.count == accepted.count)
        #expect(!aliceLog.all.contains { if case .disconnected = $0 { true } else { false } })
        #expect(server.server.onlineCount == 2)

        try await Task.sleep(for: .milliseconds(1100))
        for index in 1...3 {
            let receipt = try await alice.sendPrivate("after the pause \(index)", to: "bob")
            #expect(receipt.delivered == 1)
            try await bobLog.waitForMessage("after the pause \(index)")
        }

        await bob.close()
        await alice.close()
        await server.stop()
    }

    // MARK: Frame size and handshake time

    @Test("a frame longer than maxFrameLength gets a frameTooLarge error and a close, and a connection that never completes the handshake is closed after handshakeTimeout; others keep working")
    func frameSizeAndHandshakeTime() async throws {
        let server = try await TestServer.start(configure: {
            $0.maxFrameLength = 16 * 1024
            $0.handshakeTimeout = .seconds(1)
        })
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let carol = try await ChatClient.connect(to: server.address, as: makeIdentity("carol"))
        let carolLog = EventLog(carol)

        // A length prefix of 1 000 000 bytes is refused as soon as it is read.
        let mallory = try await RawClient(port: server.server.port)
        try await mallory.register(as: "mallory")
        var prefix = ByteBuffer()
        prefix.writeInteger(UInt32(1_000_000))
        try await mallory.sendRaw(Array(prefix.readableBytesView) + [0x0A, 1, 2, 3])
        let refusal = try await mallory.waitForError(timeout: 5)
        #expect(refusal.code == .frameTooLarge)
        #expect(refusal.reason.contains("1000000") && refusal.reason.contains("16384"), "\(refusal.reason)")
        try await mallory.waitForClose(timeout: 5)

        #expect(try await bob.sendPrivate("still fine after mallory", to: "carol").delivered == 1)
        try await carolLog.waitForMessage("still fine after mallory")

        // A connection that never starts the Noise handshake is dropped after about handshakeTimeout,
        // while a client connecting meanwhile completes its handshake and chats.
        let silent = try await LimitsSilentConnection(port: server.server.port)
        let dave = try await ChatClient.connect(to: server.address, as: makeIdentity("dave"))
        #expect(try await dave.sendPrivate("connected next to a silent socket", to: "carol").delivered == 1)
        try await carolLog.waitForMessage("connected next to a silent socket")
        let closedAfter = try await silent.waitForClose(timeout: 6)
        #expect(closedAfter >= .milliseconds(1000), "closed after only \(closedAfter)")
        #expect(closedAfter < .seconds(4), "closed only after \(closedAfter)")
        try await limitsWait("the timed-out handshake to stop counting") { server.server.pendingConnections(from: "127.0.0.1") == 0 }
        #expect(dave.peers.map(\.name).contains("carol"))
        #expect(try await dave.sendPrivate("and still here after it was dropped", to: "carol").delivered == 1)
        try await carolLog.waitForMessage("and still here after it was dropped")

        // A real client sending a text over the limit is disconnected with the reason.
        await #expect {
            try await bob.sendPrivate(String(repeating: "y", count: 20_000), to: "carol")
        } throws: { error in
            guard case let .disconnected(reason) = error as? ClientError else { return false }
            return reason.contains("16384")
        }
        #expect(try await dave.sendPrivate("after bob was cut off", to: "carol").delivered == 1)
        try await carolLog.waitForMessage("after bob was cut off")

        await silent.close()
        await mallory.close()
        for client in [bob, carol, dave] { await client.close() }
        await server.stop()
    }

    // MARK: Unregistered connections

    @Test("with maxPendingPerAddress = 4 a fifth unregistered connection from one address (handshaking, or past it without hello) is closed at once and logged once; registered ones do not count, and a closed one frees its place")
    func pendingPerAddress() async throws {
        let recorder = LimitsLogRecorder()
        let server = try await TestServer.start(configure: {
            $0.maxPendingPerAddress = 4
            $0.handshakeTimeout = .seconds(20)
        }, logger: recorder.logger)
        func pending() -> Int { server.server.pendingConnections(from: "127.0.0.1") }
        // Registered connections do not count: more clients than the cap connect from this address.
        var clients: [ChatClient] = []
        for index in 0..<6 { clients.append(try await ChatClient.connect(to: server.address, as: makeIdentity("user\(index)"))) }
        let carolLog = EventLog(clients[5])
        #expect(pending() == 0)

        // Two connections that never start the handshake, two that finish it and never say hello.
        var silent: [LimitsSilentConnection] = []
        for _ in 0..<2 { silent.append(try await LimitsSilentConnection(port: server.server.port)) }
        var mute: [RawClient] = []
        for _ in 0..<2 {
            let client = try await RawClient(port: server.server.port)
            try await client.waitForHandshake()
            mute.append(client)
        }
        try await limitsWait("four unregistered connections") { pending() == 4 }
        for connection in silent { #expect(!(await connection.isClosed(within: 0.3)), "a connection under the cap was closed") }
        let refused = try await LimitsSilentConnection(port: server.server.port)
        #expect(await refused.isClosed(within: 2), "the fifth unregistered connection was not closed at once")
        await #expect(throws: ClientError.self) { try await ChatClient.connect(to: server.address, as: makeIdentity("late"), handshakeTimeout: .seconds(2)) }
        let isCapWarning = { (entry: LimitsLogRecorder.Entry) in entry.level == .warning && entry.message.contains("not registered yet") }
        #expect(recorder.entries.filter(isCapWarning).count == 1, "\(recorder.entries)")
        #expect(recorder.entries.first(where: isCapWarning)?.message.contains("127.0.0.1") == true)

        // The registered clients are served throughout; one mute connection leaving lets one new client in.
        try await clients[0].sendPrivate("served while the cap holds", to: "user5")
        try await carolLog.waitForMessage("served while the cap holds")
        await mute.removeLast().close()
        let late = try await limitsValue(of: Task {
            while true {
                if let client = try? await ChatClient.connect(to: server.address, as: makeIdentity("late"), handshakeTimeout: .seconds(2)) { return client }
                try await Task.sleep(for: .milliseconds(20))
            }
        }, timeout: 5, "a client to get the freed place")
        #expect(try await late.sendPrivate("in through the freed place", to: "user5").delivered == 1)
        try await limitsWait("three unregistered connections") { pending() == 3 }

        // Saying hello ends a connection's count.
        try await mute[0].register(as: "once-mute")
        try await limitsWait("the registered one to stop counting") { pending() == 2 }

        // Closed connections leave no count behind: the cap applies afresh, and is logged afresh.
        for connection in silent { await connection.close() }
        try await limitsWait("the silent ones to be gone") { pending() == 0 }
        silent = []
        for _ in 0..<4 { silent.append(try await LimitsSilentConnection(port: server.server.port)) }
        try await limitsWait("four unregistered connections again") { pending() == 4 }
        for connection in silent { #expect(!(await connection.isClosed(within: 0.3)), "the count of closed connections stayed behind") }
        #expect(await (try await LimitsSilentConnection(port: server.server.port)).isClosed(within: 2))
        #expect(recorder.entries.filter(isCapWarning).count == 2, "\(recorder.entries)")

        for connection in silent { await connection.close() }
        try await limitsWait("no unregistered connections left") { pending() == 0 }
        await mute[0].close()
        for client in clients + [late] { await client.close() }
        await server.stop()
    }

    @Test("a connection that finishes the handshake but never says hello is closed after about handshakeTimeout, answering pings or not; one that registers stays")
    func registrationDeadline() async throws {
        let server = try await TestServer.start(configure: { $0.handshakeTimeout = .seconds(1) })
        let connecting = ContinuousClock.now
        let mute = try await RawClient(port: server.server.port)
        try await mute.waitForHandshake()
        let registered = try await RawClient(port: server.server.port)
        try await registered.register(as: "prompt")
        // Pings are answered, so only the missing hello can end it.
        try await mute.send(.ping(7))
        try await mute.waitForClose(timeout: 5)
        let closedAfter = ContinuousClock.now - connecting
        #expect(closedAfter >= .seconds(1), "closed after only \(closedAfter)")
        #expect(closedAfter < .seconds(3), "closed only after \(closedAfter)")
        #expect(server.server.pendingConnections(from: "127.0.0.1") == 0)
        try await Task.sleep(for: .seconds(1))
        try await registered.send(.listUsers(requestID: 1))
        try await registered.waitFor("the user list") { if case .userList = $0 { true } else { false } }
        await registered.close()
        await server.stop()
    }

    // MARK: Idle ping

    @Test("with pingInterval = 300 ms a client that never answers pings is closed after about two intervals, and a real client stays connected")
    func idlePing() async throws {
        let recorder = LimitsLogRecorder()
        let server = try await TestServer.start(configure: { $0.pingInterval = .milliseconds(300) }, logger: recorder.logger)
        let lag = LimitsLoopLagMonitor()
        defer { lag.stop() }
        let steadyConnected = ContinuousClock.now
        let steady = try await ChatClient.connect(to: server.address, as: makeIdentity("steady"))
        let steadyLog = EventLog(steady)

        // Mute answers pings only until its welcome (a slow registration must not count against it); times
        // are taken from the last thing it sent.
        let mute = try await LimitsQuietClient(port: server.server.port, name: "mute")
        let silentSince = try await mute.waitForWelcome()
        let unansweredPings = { mute.arrivals.filter { if case .ping = $0.frame { $0.at > silentSince } else { false } } }
        try await limitsWait(timeout: 3, "a ping mute does not answer") { !unansweredPings().isEmpty }
        let closedAfter = try await mute.waitForClose(timeout: 5) - silentSince
        let pingedAfter = unansweredPings()[0].at - silentSince
        #expect(pingedAfter >= .milliseconds(300) && pingedAfter < .seconds(2), "pinged after \(pingedAfter)")
        #expect(closedAfter >= .milliseconds(600), "closed after only \(closedAfter)")
        #expect(closedAfter < .seconds(3), "closed only after \(closedAfter)")
        #expect(unansweredPings().count == 1)

        // The real client answers its pings: still there after five intervals without anything else to say.
        let elapsed = ContinuousClock.now - steadyConnected
        if elapsed < .milliseconds(1500) { try await Task.sleep(for: .milliseconds(1500) - elapsed) }
        let steadyDisconnected = { steadyLog.all.contains { if case .disconnected = $0 { true } else { false } } }
        try await steadyLog.wait(for: "mute to leave") { events in
            steadyDisconnected() || events.contains { if case let .left(peer) = $0 { peer.name == "mute" } else { false } } ? true : nil
        }
        if steadyDisconnected() {
            // Only a client whose event loops ran late by more than an interval may miss a ping (a loaded machine).
            #expect(
                lag.worstLag >= .milliseconds(300),
                "steady was disconnected, though the client event loops ran at most \(lag.worstLag) late; server log: \(recorder.entries.filter { $0.message.contains("ping") })"
            )
            print("Limits / idle ping: steady missed a ping while its event loops ran up to \(lag.worstLag) late; the rest of the test needs it connected")
            await mute.close()
            await steady.close()
            await server.stop()
            return
        }
        #expect(server.server.onlineCount == 1)
        let deadConnections = recorder.entries.filter { $0.message.contains("no answer to a ping") }
        #expect(deadConnections.map { $0.metadata["user"] } == ["mute"], "\(deadConnections)")
        let friend = try await ChatClient.connect(to: server.address, as: makeIdentity("friend"))
        #expect(try await friend.sendPrivate("are you still there?", to: "steady").delivered == 1)
        try await steadyLog.waitForMessage("are you still there?")
        #expect(try await steady.sendPrivate("yes", to: "friend").delivered == 1)

        await mute.close()
        await friend.close()
        await steady.close()
        await server.stop()
    }
}
