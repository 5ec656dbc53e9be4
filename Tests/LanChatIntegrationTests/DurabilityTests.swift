import Foundation
import LanChatClient
import LanChatCrypto
import LanChatProtocol
import LanChatServer
import NIOConcurrencyHelpers
import Testing

@Suite("Nothing lost: stored delivery across restarts and crashes, history, outbox")
struct DurabilityTests {
    @Test("direct messages to an offline user survive a server restart and arrive oldest first")
    func offlineAcrossRestart() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder)
        let bob = try makeIdentity("bob"), bobStore = try ClientStore.inMemory()
        await (try await ChatClient.connect(to: server.address, as: bob, store: bobStore)).close()

        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        var sent: [String] = []
        for index in 1...5 {
            let text = "note \(index) while bob sleeps"
            let receipt = try await alice.sendPrivate(text, to: "bob")
            #expect(receipt.stored == 1 && receipt.delivered == 0)
            sent.append(text)
        }
        await alice.close()
        server.process.signal(SIGTERM)
        #expect(try await server.process.waitForExit() == 0)

        try await server.restart()
        let bobAgain = try await ChatClient.connect(to: server.address, as: bob, store: bobStore)
        let log = EventLog(bobAgain)
        try await log.wait(for: "all five notes") { _ in log.messages.count >= 5 ? true : nil }
        #expect(log.messages.map(\.text) == sent)
        #expect(log.messages.allSatisfy { $0.isPrivate && $0.sender.name == "alice" })
        #expect(try bobStore.history(with: "alice").map(\.text) == sent)
        await bobAgain.close()
        server.process.signal(SIGTERM)
        _ = try await server.process.waitForExit()
    }

    @Test("kill -9 of the server during a burst loses no acknowledged message")
    func killDuringBurst() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder)
        let bob = try makeIdentity("bob"), bobStore = try ClientStore.inMemory()
        await (try await ChatClient.connect(to: server.address, as: bob, store: bobStore)).close()

        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        let acknowledged = NIOLockedValueBox<[String]>([])
        let senders = (0..<4).map { sender in
            Task {
                for index in 0..<10_000 {
                    let text = "burst \(sender)-\(index)"
                    do {
                        try await alice.sendPrivate(text, to: "bob")
                        acknowledged.withLockedValue { $0.append(text) }
                    } catch {
                        return
                    }
                }
            }
        }
        while acknowledged.withLockedValue({ $0.count }) < 150 { try await Task.sleep(for: .milliseconds(5)) }
        server.process.signal(SIGKILL)
        for sender in senders { await sender.value }
        let acked = Set(acknowledged.withLockedValue { $0 })
        #expect(acked.count >= 150)

        try await server.restart()
        let bobAgain = try await ChatClient.connect(to: server.address, as: bob, store: bobStore)
        let log = EventLog(bobAgain)
        try await log.wait(timeout: 30, for: "every acknowledged message") { _ in acked.isSubset(of: Set(log.messages.map(\.text))) ? true : nil }
        #expect(Set(log.messages.map(\.text)).count == log.messages.count, "each message is shown once")
        await bobAgain.close()
        server.process.signal(SIGTERM)
        _ = try await server.process.waitForExit()
    }

    @Test("a direct message, or one to all kept for everyone, that reached a connection which then died unnoticed (a laptop gone to sleep) arrives, once, when its client is back")
    func messageToASleepingLaptop() async throws {
        // Pings every two seconds: the relay notices the dead link after two to four, long after the message.
        let server = try await TestServer.start(configure: { $0.pingInterval = .seconds(2) })
        let database = try ServerDatabase(dataDirectory: server.folder.path + "/server")
        let proxy = try await RecordingProxy(forwardingTo: server.server.port)
        let bobIdentity = try makeIdentity("bob"), bobStore = try ClientStore.inMemory()
        let bob = try await ChatClient.connect(to: ServerAddress(host: "127.0.0.1", port: proxy.port), as: bobIdentity, store: bobStore)
        let bobLog = EventLog(bob)
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        try await waitUntil("alice to see bob") { alice.peers.contains { $0.name == "bob" } }
        try await alice.sendPrivate("before the lid closed", to: "bob")
        try await bobLog.waitForMessage("before the lid closed")

        proxy.goDark()
        let receipt = try await alice.sendPrivate("while your laptop sleeps", to: "bob")
        #expect(receipt.delivered == 1, "the relay wrote it to bob's connection, which it still believed alive: \(receipt)")
        let toAll = try await alice.broadcast("to all, kept while you sleep", includeOffline: true)
        #expect(toAll.delivered == 1 && toAll.stored == 0, "pushed to bob's connection, and kept until he confirms it: \(toAll)")
        try await waitUntil("the relay to drop bob's dead connection") { server.server.onlineCount == 1 }
        // Stored: it, and the first one too if bob's acknowledgement of it was still on its way when the link died.
        try await limitsWait("the unacknowledged message to be stored") { try await database.queuedCount(for: "bob") >= 1 }
        await bob.close()

        let bobAgain = try await ChatClient.connect(to: server.address, as: bobIdentity, store: bobStore)
        let againLog = EventLog(bobAgain)
        try await againLog.waitForMessage("while your laptop sleeps")
        try await againLog.waitForMessage("to all, kept while you sleep")
        try await limitsWait("bob's acknowledgements to empty his queue") { try await database.queuedCount(for: "bob") == 0 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(Set(againLog.messages.map(\.text)) == ["while your laptop sleeps", "to all, kept while you sleep"] && againLog.messages.count == 2, "the one shown before is not shown again")
        let saved = try bobStore.history(with: "alice").map(\.text)
        #expect(saved.count == 3 && Set(saved) == ["before the lid closed", "while your laptop sleeps", "to all, kept while you sleep"], "\(saved)")
        await bobAgain.close()
        await alice.close()
        try await proxy.close()
        await server.stop()
    }

    @Test("a message held for a connection that died unnoticed survives the server's restart")
    func heldMessageAcrossRestart() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder)
        let proxy = try await RecordingProxy(forwardingTo: server.port)
        let bobIdentity = try makeIdentity("bob"), bobStore = try ClientStore.inMemory()
        let bob = try await ChatClient.connect(to: ServerAddress(host: "127.0.0.1", port: proxy.port), as: bobIdentity, store: bobStore)
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        try await waitUntil("alice to see bob") { alice.peers.contains { $0.name == "bob" } }
        proxy.goDark()
        #expect(try await alice.sendPrivate("written just before the restart", to: "bob").delivered == 1)
        await alice.close()
        #expect(try await server.stop() == 0)
        await bob.close()
        try await proxy.close()

        try await server.restart()
        let bobAgain = try await ChatClient.connect(to: server.address, as: bobIdentity, store: bobStore)
        try await EventLog(bobAgain).waitForMessage("written just before the restart")
        await bobAgain.close()
        try await server.stop()
    }

    @Test("the relay holds live direct deliveries only for clients that acknowledge them, until acknowledged; a newer connection gets the rest at once")
    func liveDeliveriesHeldUntilAcknowledged() async throws {
        let server = try await TestServer.start()
        let database = try ServerDatabase(dataDirectory: server.folder.path + "/server")
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        let bobKey = try PrivateKey()
        func directTo(_ client: RawClient, _ text: String) async throws -> Deliver {
            try await alice.sendPrivate(text, to: "bob")
            let frame = try await client.waitFor("'\(text)'") { if case let .deliver(deliver) = $0 { !deliver.stored && deliver.body.readableBytes > 0 && client.frames.count > 0 } else { false } }
            guard case let .deliver(deliver) = frame else { fatalError("unreachable") }
            return deliver
        }

        // Without the hello flag nothing is held: an unanswered delivery is gone with the connection.
        let quiet = try await RawClient(port: server.server.port, key: bobKey)
        try await quiet.register(as: "bob")
        _ = try await directTo(quiet, "to a client that never acknowledges")
        await quiet.close()
        try await waitUntil("bob to be gone") { server.server.onlineCount == 1 }
        try await Task.sleep(for: .milliseconds(300)) // what is held is stored just after
        #expect(try await database.queuedCount(for: "bob") == 0)

        // With it, an acknowledged delivery is let go and an unacknowledged one is handed to bob's newer connection.
        let first = try await RawClient(port: server.server.port, key: bobKey)
        try await first.register(as: "bob", acknowledgesLive: true)
        let acknowledged = try await directTo(first, "acknowledged")
        try await first.send(.deliveryAck(DeliveryAck(messageID: Self.messageID(of: acknowledged))))
        let unanswered = try await alice.sendPrivate("left unanswered", to: "bob")
        #expect(unanswered.delivered == 1)
        try await first.waitFor("the second delivery") { if case let .deliver(deliver) = $0 { Self.messageID(of: deliver) != Self.messageID(of: acknowledged) } else { false } }
        let second = try await RawClient(port: server.server.port, key: bobKey)
        try await second.register(as: "bob", acknowledgesLive: true)
        try await first.waitForClose()
        let pushed = try await second.waitFor("the unanswered delivery, stored") { if case let .deliver(deliver) = $0 { deliver.stored } else { false } }
        guard case let .deliver(stored) = pushed else { fatalError("unreachable") }
        #expect(Self.messageID(of: stored).count == 16 && Self.messageID(of: stored) != Self.messageID(of: acknowledged))
        try await limitsWait("one stored delivery") { try await database.queuedCount(for: "bob") == 1 }
        try await second.send(.deliveryAck(DeliveryAck(messageID: Self.messageID(of: stored))))
        try await limitsWait("the stored delivery to be acknowledged") { try await database.queuedCount(for: "bob") == 0 }
        // The pushed copy, and perhaps the same one read from the store at registration: never the acknowledged one.
        let delivered = second.frames.compactMap { if case let .deliver(deliver) = $0 { deliver } else { nil } }
        #expect(Set(delivered.map(Self.messageID(of:))) == [Self.messageID(of: stored)] && delivered.allSatisfy(\.stored), "\(second.frames)")

        await second.close()
        await alice.close()
        await server.stop()
    }

    @Test("past what the relay holds for a client that does not acknowledge, a direct message is stored instead of written unheld")
    func pastTheHoldLimitStored() async throws {
        let server = try await TestServer.start()
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        let bob = try await RawClient(port: server.server.port)
        try await bob.register(as: "bob", acknowledgesLive: true)
        try await waitUntil("alice to see bob") { alice.peers.contains { $0.name == "bob" } }
        // Three of 300 KB fit in the 1 MiB held for a connection (its outbound buffer), a fourth does not.
        var receipts: [SendReceipt] = []
        for index in 1...4 { receipts.append(try await alice.sendPrivate("unanswered \(index) " + String(repeating: "x", count: 300_000), to: "bob")) }
        #expect(receipts.map(\.delivered) == [1, 1, 1, 0] && receipts.map(\.stored) == [0, 0, 0, 1], "\(receipts)")
        let third = try await bob.waitFor("the fourth, as a stored delivery") { if case let .deliver(deliver) = $0 { deliver.stored } else { false } }
        guard case let .deliver(stored) = third else { fatalError("unreachable") }
        let database = try ServerDatabase(dataDirectory: server.folder.path + "/server")
        try await limitsWait("the fourth in the store") { try await database.queuedCount(for: "bob") == 1 }
        try await bob.send(.deliveryAck(DeliveryAck(messageID: Self.messageID(of: stored))))
        try await limitsWait("the fourth acknowledged") { try await database.queuedCount(for: "bob") == 0 }
        await bob.close()
        try await limitsWait("the three held ones stored when bob left") { try await database.queuedCount(for: "bob") == 3 }
        await alice.close()
        await server.stop()
    }

    @Test("a deliveryAck deletes only a stored delivery the connection was sent: acknowledgements beyond those are not taken to the database")
    func acknowledgementsBeyondWhatWasSent() async throws {
        let server = try await TestServer.start()
        let database = try ServerDatabase(dataDirectory: server.folder.path + "/server")
        let bobKey = try PrivateKey()
        let registration = try await RawClient(port: server.server.port, key: bobKey)
        try await registration.register(as: "bob")
        await registration.close()
        try await waitUntil("bob to be gone") { server.server.onlineCount == 0 }
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        let kept = try await alice.sendPrivate("kept for bob", to: "bob")
        #expect(kept.stored == 1)

        // A connection of bob's that was sent nothing (it only sends) answers for the stored message, and floods.
        let sender = try await RawClient(port: server.server.port, key: bobKey)
        try await sender.register(as: "bob", sendsOnly: true)
        try await sender.send(.deliveryAck(DeliveryAck(messageID: try #require(Hex.decode(kept.messageID)))))
        for _ in 0..<2000 { try await sender.send(.deliveryAck(DeliveryAck(messageID: try SecureRandom.bytes(16)))) }
        try await sender.send(.ping(7))
        try await sender.waitFor("the pong after the acknowledgements") { $0 == .pong(7) }
        #expect(try await database.queuedCount(for: "bob") == 1, "the message bob was never sent is still kept")

        // bob's receiving connection gets it and deletes it with its acknowledgement.
        let receiver = try await RawClient(port: server.server.port, key: bobKey)
        try await receiver.register(as: "bob")
        let delivered = try await receiver.waitFor("the stored message") { if case let .deliver(deliver) = $0 { deliver.stored } else { false } }
        guard case let .deliver(deliver) = delivered else { fatalError("unreachable") }
        #expect(Self.messageID(of: deliver) == Hex.decode(kept.messageID))
        try await receiver.send(.deliveryAck(DeliveryAck(messageID: Self.messageID(of: deliver))))
        try await limitsWait("the acknowledged delivery to be deleted") { try await database.queuedCount(for: "bob") == 0 }
        await receiver.close()
        await sender.close()
        await alice.close()
        await server.stop()
    }

    private static func messageID(of deliver: Deliver) -> [UInt8] {
        let range = EnvelopeRoutingFields.messageIDRange
        return deliver.header.getBytes(at: deliver.header.readerIndex + range.lowerBound, length: range.count) ?? []
    }

    @Test("the chat connection keeps messages in the outbox while the server is down and sends them when it is back")
    func outboxAndReconnect() async throws {
        let folder = try TemporaryFolder()
        var server = try await TestServer.start(folder: folder)
        let port = server.server.port
        let bob = try makeIdentity("bob"), bobStore = try ClientStore.inMemory()
        await (try await ChatClient.connect(to: server.address, as: bob, store: bobStore)).close()

        let aliceStore = try ClientStore.inMemory()
        let connection = ChatConnection(
            to: server.address, as: try makeIdentity("alice"), store: aliceStore,
            backoff: .init(initial: .milliseconds(50), maximum: .milliseconds(200))
        )
        let events = NIOLockedValueBox<[ChatConnection.Event]>([])
        let watcher = Task { for await event in connection.events { events.withLockedValue { $0.append(event) } } }
        await connection.start()
        try await waitUntil("connected") { events.withLockedValue { $0.contains { if case .connected = $0 { true } else { false } } } }

        await server.stop()
        try await waitUntil("reconnecting") { events.withLockedValue { $0.contains { if case .reconnecting = $0 { true } else { false } } } }
        #expect(events.withLockedValue { $0.contains(.chat(.notice("the server is shutting down"))) }, "the server's farewell is shown")
        #expect(try await connection.send("written while the server was down", to: "bob") == .queued)
        await #expect(throws: ClientError.messageToYourself("alice")) { try await connection.send("note to self", to: "alice") }
        #expect(try aliceStore.outbox().map(\.text) == ["written while the server was down"])

        server = try await TestServer.start(port: port, folder: folder)
        try await waitUntil("the outbox to be sent") {
            events.withLockedValue { $0.contains(.sentFromOutbox(text: "written while the server was down", to: "bob")) }
        }
        #expect(try aliceStore.outbox().isEmpty)
        let bobAgain = try await ChatClient.connect(to: server.address, as: bob, store: bobStore)
        try await EventLog(bobAgain).waitForMessage("written while the server was down")
        await bobAgain.close()
        await connection.close()
        watcher.cancel()
        await server.stop()
    }

    @Test("a second chat of the same user stops the first instead of taking turns with it")
    func replacedChatStops() async throws {
        let server = try await TestServer.start()
        let bob = try makeIdentity("bob")
        let backoff = ChatConnection.Backoff(initial: .milliseconds(20), maximum: .milliseconds(50))
        let older = ChatConnection(to: server.address, as: bob, store: try ClientStore.inMemory(), backoff: backoff)
        let newer = ChatConnection(to: server.address, as: bob, store: try ClientStore.inMemory(), backoff: backoff)
        let olderEvents = EventRecorder(older), newerEvents = EventRecorder(newer)
        await older.start()
        try await waitUntil("the older chat to connect") { olderEvents.count { if case .connected = $0 { true } else { false } } == 1 }
        await newer.start()

        try await waitUntil("the older chat to stop") { olderEvents.count { if case .stopped = $0 { true } else { false } } == 1 }
        #expect(olderEvents.all.last == .stopped(reason: ClientError.replaced("bob connected again from elsewhere").description))
        #expect(olderEvents.count { if case .chat(.notice) = $0 { true } else if case .chat(.disconnected) = $0 { true } else { false } } == 0, "said more than once")
        // Long enough for several rounds of reconnecting, had the older chat come back.
        try await Task.sleep(for: .milliseconds(500))
        #expect(olderEvents.count { if case .connected = $0 { true } else { false } } == 1)
        #expect(newerEvents.count { if case .connected = $0 { true } else { false } } == 1)
        #expect(newerEvents.count { if case .reconnecting = $0 { true } else { false } } == 0)
        #expect(await older.client == nil)

        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        #expect(try await alice.sendPrivate("to the chat that stayed", to: "bob").delivered == 1)
        try await waitUntil("the newer chat to get the message") {
            newerEvents.all.contains { if case let .chat(.message(message)) = $0 { message.text == "to the chat that stayed" } else { false } }
        }
        await alice.close()
        await newer.close()
        await older.close()
        await server.stop()
    }

    @Test("both sides keep the conversation, with direction, privacy and verification state")
    func history() async throws {
        let server = try await TestServer.start()
        let aliceStore = try ClientStore.inMemory(), bobStore = try ClientStore.inMemory()
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"), store: aliceStore)
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"), store: bobStore)
        let bobLog = EventLog(bob)
        try await waitUntil("bob to appear") { alice.peers.contains { $0.name == "bob" } }
        try alice.markVerified("bob")
        try await alice.sendPrivate("first, private", to: "bob")
        try await alice.broadcast("second, to all")
        try await bobLog.waitForMessage("second, to all")

        let sentByAlice = try aliceStore.history()
        #expect(sentByAlice.map(\.text) == ["first, private", "second, to all"])
        #expect(sentByAlice.allSatisfy { $0.direction == .outgoing && $0.sender == "alice" })
        #expect(sentByAlice.map(\.isPrivate) == [true, false])
        #expect(sentByAlice[0].peer == "bob" && sentByAlice[0].verified)
        let atBob = try bobStore.history(with: "alice")
        #expect(atBob.map(\.text) == ["first, private", "second, to all"])
        #expect(atBob.allSatisfy { $0.direction == .incoming && !$0.verified })
        #expect(try bobStore.history(with: "alice", since: atBob[1].sentAt).map(\.text) == ["second, to all"])
        #expect(try bobStore.history(with: "nobody").isEmpty)
        await alice.close()
        await bob.close()
        await server.stop()
    }
}

/// Collects a chat connection's events in the background.
final class EventRecorder: Sendable {
    private let events = NIOLockedValueBox<[ChatConnection.Event]>([])
    private let task: Task<Void, Never>

    init(_ connection: ChatConnection) {
        let events = self.events
        task = Task { for await event in connection.events { events.withLockedValue { $0.append(event) } } }
    }

    deinit { task.cancel() }

    var all: [ChatConnection.Event] { events.withLockedValue { $0 } }

    func count(where matches: (ChatConnection.Event) -> Bool) -> Int { all.count(where: matches) }
}

/// Polls `condition` every 10 ms for up to `timeout` seconds.
func waitUntil(_ what: String, timeout: Double = 15, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw WaitTimeout(description: what, events: [])
}
