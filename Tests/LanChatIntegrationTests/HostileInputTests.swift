import Foundation
import GRDB
import LanChatClient
import LanChatCrypto
@testable import LanChatProtocol
@testable import LanChatServer
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

/// Hostile input against the relay and the client: fuzzed frames through the server's decoder and
/// connection handler, a live relay under attack while two real users chat, and a client fed forged
/// deliveries. Every test draws from a seeded generator; failures name the seed (`LANCHAT_FUZZ_SEED` replays it).
@Suite("Hostile input", .serialized)
struct HostileInputTests {
    // MARK: 1. Decoder and connection-handler fuzz, in process

    @Test("100,000 fuzzed frames through the relay's frame decoder and connection handler: each decodes or is refused, nothing crashes")
    func decoderFuzz() async throws {
        let seed = FuzzSeed.make()
        let seedText = FuzzSeed.describe(seed)
        var rng = FuzzRandom(seed: seed)
        // `LANCHAT_FUZZ_INPUTS` runs a longer (or shorter) fuzz.
        let inputCount = ProcessInfo.processInfo.environment["LANCHAT_FUZZ_INPUTS"].flatMap(Int.init) ?? 100_000
        let started = ContinuousClock.now

        // The database goes to memory-backed storage when there is some: the fuzz stores envelopes and names,
        // and fsync on a disk would only slow the run down.
        let folder = try FuzzScratchFolder()
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0, dataDirectory: folder.path + "/server", threads: 1, maxMessagesPerSecond: 10_000_000)
        var logger = Logger(label: "test.fuzz")
        logger.logLevel = .critical
        let database = try ServerDatabase(dataDirectory: configuration.dataDirectory)
        let services = RelayServices(relay: Relay(), database: database, configuration: configuration, logger: logger)
        let offlineKey = try PrivateKey(rawRepresentation: rng.bytes(32))
        #expect(try await database.claim(name: "offline", key: offlineKey.publicKey) == .bound)

        // Two lanes (one per core), each with its own event loop, users and seeded generator, share the relay.
        let laneRNGs = [rng.fork(), rng.fork()]
        async let laneA = Self.fuzzLane("alpha", services: services, offline: offlineKey.publicKey, inputs: inputCount / 2, rng: laneRNGs[0])
        async let laneB = Self.fuzzLane("bravo", services: services, offline: offlineKey.publicKey, inputs: inputCount - inputCount / 2, rng: laneRNGs[1])
        let lanes = try await [laneA, laneB]
        let total = lanes.reduce(FuzzLaneReport(), +)
        let elapsed = ContinuousClock.now - started
        print("""
            Hostile input / decoder fuzz: \(total.inputs) inputs (\(total.bytes) bytes) through FrameDecoder and RelayConnectionHandler, \
            \(total.decodedFrames) frames decoded, \(total.protocolErrors) ProtocolErrors (\(total.matchingCodes) answered with the matching error frame, \
            the rest after earlier frames), \(total.incomplete) incomplete, \(total.clean) clean; \(total.channels) connections \
            (\(total.registrations) registrations); \(total.deliveries) deliveries reached the sinks (\(total.ackedDeliveries) acknowledged); \(elapsed); \(seedText)
            """)
        #expect(total.inputs == inputCount, "\(seedText)")
        #expect(total.failures.isEmpty, "\(seedText):\n\(total.failures.prefix(25).joined(separator: "\n"))")
        #expect(total.protocolErrors > inputCount / 3 && total.clean > inputCount / 20, "the corpus should mix valid and invalid input; \(seedText)")
        #expect(total.deliveries > 0, "some fuzzed envelopes should have been routed; \(seedText)")
    }

    /// One lane of the in-process fuzz: `inputs` hostile inputs, each checked against the protocol decoder
    /// (it must decode or throw a `ProtocolError`; what decodes must re-encode to the same bytes) and then fed
    /// to the relay's `RelayConnectionHandler` (which cuts the bytes into frames itself) on a testing channel.
    private static func fuzzLane(_ lane: String, services: RelayServices, offline: PublicKey, inputs inputCount: Int, rng: FuzzRandom) async throws -> FuzzLaneReport {
        var rng = rng
        var report = FuzzLaneReport()
        let loop = NIOAsyncTestingEventLoop()
        let maxFrameLength = services.configuration.maxFrameLength
        // Names far apart, so that no mutation of one lane's recipient names reaches the other lane's users.
        let fuzzerName = "\(lane)-fuzzer", sinkName = "\(lane)-sink"
        // Keys and corpus come from the seed, so a failing input can be replayed exactly.
        let fuzzerKey = try PrivateKey(rawRepresentation: rng.bytes(32)), sinkKey = try PrivateKey(rawRepresentation: rng.bytes(32))
        let stranger = try PrivateKey(rawRepresentation: rng.bytes(32)).publicKey
        let corpus = try FuzzCorpus(sender: fuzzerName, key: fuzzerKey, recipients: [
            EnvelopeRecipient(name: sinkName, publicKey: sinkKey.publicKey),
            EnvelopeRecipient(name: "offline", publicKey: offline),
            EnvelopeRecipient(name: "nobody", publicKey: stranger),
        ], rng: &rng, realEnvelopes: false, maxFrameLength: maxFrameLength)

        // A second registered user receives whatever the fuzzer's envelopes route to it.
        let sink = try await FuzzPipe.open(services: services, key: sinkKey.publicKey, loop: loop, registeringAs: sinkName)
        report.channels += 1
        var registered: FuzzPipe?
        var pending: [FuzzPlan] = []
        var generated = 0

        // Inputs run in rounds: one turn of the event loop feeds many inputs synchronously, each either to the
        // registered connection or to a fresh connection straight after the handshake. A round ends early when
        // the registered connection closes; it is registered anew (through the database) before the next round.
        while generated < inputCount || !pending.isEmpty {
            if pending.count < 64 {
                pending.reserveCapacity(256)
                while pending.count < 256, generated < inputCount {
                    let input = corpus.next(&rng)
                    let expected = FuzzDecoding.decode(input, maxFrameLength: maxFrameLength)
                    report.count(input, expected)
                    if let foreign = expected.foreignError { report.fail("lane \(lane) input \(generated): the decoder threw a non-ProtocolError \(foreign); input \(fuzzHex(input))") }
                    for problem in expected.roundTripFailures { report.fail("lane \(lane) input \(generated): \(problem); input \(fuzzHex(input))") }
                    // Bytes refused before any frame decodes meet the same refusal in every state, so they mostly go to
                    // a fresh connection; input that decodes goes mostly to the registered one (re-registering after
                    // each close costs a database round trip).
                    let refusedAtOnce = expected.frames.isEmpty && expected.protocolError != nil
                    pending.append(FuzzPlan(index: generated, input: input, expected: expected, asRegistered: rng.chance(refusedAtOnce ? 0.1 : 0.5)))
                    generated += 1
                }
            }
            let current: FuzzPipe
            if let open = registered {
                current = open
            } else {
                current = try await FuzzPipe.open(services: services, key: fuzzerKey.publicKey, loop: loop, registeringAs: fuzzerName)
                registered = current
                report.channels += 1
                report.registrations += 1
            }
            let plans = pending
            pending = []
            let round = try await loop.executeInContext { () throws -> FuzzRound in
                var round = FuzzRound()
                for plan in plans {
                    let pipe = plan.asRegistered ? current : try FuzzPipe.make(services: services, key: stranger, loop: loop)
                    if !plan.asRegistered { round.channels += 1 }
                    let sinkBefore = sink.deliveries
                    let fed = pipe.feed(plan)
                    round.failures += fed.failures.map { "lane \(lane) \($0)" }
                    // A broadcast is acknowledged in the same read that hands it to the recipients' connections.
                    if sink.deliveries - sinkBefore < fed.acknowledged {
                        round.failures.append("lane \(lane) input \(plan.index): acks reported \(fed.acknowledged) deliveries, but \(sink.deliveries - sinkBefore) were written to the recipient; input \(fuzzHex(plan.input))")
                    }
                    if fed.matchedCode { round.matchingCodes += 1 }
                    round.processed += 1
                    if !plan.asRegistered {
                        round.failures += pipe.retire().map { "lane \(lane) input \(plan.index): \($0)" }
                    } else if !pipe.channel.isActive || plan.expected.leftover > 0 {
                        // Closed, or waiting for the rest of a frame: the next input needs a fresh connection.
                        round.failures += pipe.retire().map { "lane \(lane) input \(plan.index): \($0)" }
                        round.ackedDelivered += pipe.ackedDelivered
                        round.registeredEnded = true
                        break
                    }
                }
                return round
            }
            pending = Array(plans.dropFirst(round.processed))
            if round.registeredEnded { registered = nil }
            report.channels += round.channels
            report.matchingCodes += round.matchingCodes
            report.ackedDeliveries += round.ackedDelivered
            for failure in round.failures { report.fail(failure) }
            for problem in sink.takeProblems() { report.fail("lane \(lane) sink: \(problem)") }
            sink.forgetFrames()
            if !sink.channel.isActive { report.fail("lane \(lane): the sink connection was closed (before input \(generated))") }
            if report.failures.count >= 25 { break }
        }
        if let registered {
            for problem in try await loop.executeInContext({ registered.retire() }) { report.fail("lane \(lane): \(problem)") }
            report.ackedDeliveries += registered.ackedDelivered
        }
        await loop.run() // let the work still scheduled on the loop (flushes, deliveries) finish
        for problem in try await loop.executeInContext({ sink.retire() }) { report.fail("lane \(lane) sink: \(problem)") }
        report.deliveries = sink.deliveries
        await loop.shutdownGracefully()
        return report
    }

    // MARK: 2. A live relay under attack

    @Test("the fuzz's round-trip check counts a control character read as `?` before a combining mark as replaced (seen at input 44,099 of a run)")
    func replacedCharacterBeforeCombiningMark() {
        // lookup, request id 8, name "no.jaB" ESC U+0485 "#b": the ESC becomes `?`, which the mark joins into one Character.
        let lookup = Hex.decode("0000001104000000080b6e6f2e6a61421bd2852362")!
        let decoded = FuzzDecoding.decode(lookup)
        #expect(decoded.isClean && decoded.frames.count == 1)
        #expect(decoded.roundTripFailures.isEmpty, "\(decoded.roundTripFailures)")
    }

    @Test("a live relay under fuzzing keeps alice and bob's conversation whole and in order, and still serves afterwards")
    func liveRun() async throws {
        let seed = FuzzSeed.make()
        let seedText = FuzzSeed.describe(seed)
        var rng = FuzzRandom(seed: seed)
        let started = ContinuousClock.now
        // A short handshake timeout ends the garbage connections that merely wait.
        let server = try await TestServer.start(configure: { $0.handshakeTimeout = .seconds(3) })
        let port = server.server.port

        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let aliceLog = EventLog(alice), bobLog = EventLog(bob)
        let users = [EnvelopeRecipient(name: "alice", publicKey: alice.identity.publicKey), EnvelopeRecipient(name: "bob", publicKey: bob.identity.publicKey)]
        try await aliceLog.wait(for: "bob to join") { _ in alice.peers.contains { $0.name == "bob" } ? true : nil }

        let fuzzing = NIOLockedValueBox(true)
        defer { fuzzing.withLockedValue { $0 = false } } // also when a fuzzer throws: the chat tasks must end
        let fuzzSeconds = 10.0
        async let aliceChat = Self.chat(from: alice, to: "bob", prefix: "alice→bob", while: fuzzing)
        async let bobChat = Self.chat(from: bob, to: "alice", prefix: "bob→alice", while: fuzzing)

        var frameFuzzers: [FuzzFrameReport] = []
        var sockets = FuzzSocketReport()
        var oversized = FuzzSocketReport()
        let fuzzerRNGs = (0..<4).map { _ in rng.fork() }
        var socketRNG = rng.fork()
        try await withThrowingTaskGroup(of: FuzzTaskResult.self) { group in
            for (index, fuzzRNG) in fuzzerRNGs.enumerated() {
                group.addTask {
                    .frames(try await Self.frameFuzzer(name: "fuzz\(index)", port: port, recipients: users, rng: fuzzRNG, maxInputs: 2500, seconds: fuzzSeconds))
                }
            }
            let garbageRNG = socketRNG.fork()
            group.addTask { .sockets(await Self.garbageSockets(port: port, rng: garbageRNG, count: 24)) }
            group.addTask { .oversized(await Self.oversizedPrefixes(port: port)) }
            for try await result in group {
                switch result {
                case let .frames(report): frameFuzzers.append(report)
                case let .sockets(report): sockets = report
                case let .oversized(report): oversized = report
                }
            }
        }
        fuzzing.withLockedValue { $0 = false }
        let (aliceSent, aliceFailures) = await aliceChat
        let (bobSent, bobFailures) = await bobChat
        let fuzzElapsed = ContinuousClock.now - started

        // Every message of the run arrived, once, in order.
        #expect(aliceFailures.isEmpty && bobFailures.isEmpty, "sends failed during the run: \((aliceFailures + bobFailures).prefix(5)); \(seedText)")
        #expect(aliceSent.count >= 20 && bobSent.count >= 20, "the chat should have kept going during the run (\(aliceSent.count), \(bobSent.count)); \(seedText)")
        let fromAlice = { bobLog.messages.filter { $0.sender.name == "alice" }.map(\.text) }
        let fromBob = { aliceLog.messages.filter { $0.sender.name == "bob" }.map(\.text) }
        _ = await fuzzWait(timeout: 15) { fromAlice().count >= aliceSent.count && fromBob().count >= bobSent.count }
        #expect(fromAlice() == aliceSent, "bob got \(fromAlice().count) of alice's \(aliceSent.count) messages (or out of order); \(seedText)")
        #expect(fromBob() == bobSent, "alice got \(fromBob().count) of bob's \(bobSent.count) messages (or out of order); \(seedText)")
        #expect(!bobLog.all.contains { if case .disconnected = $0 { true } else { false } }, "bob was disconnected; \(seedText)")
        #expect(!aliceLog.all.contains { if case .disconnected = $0 { true } else { false } }, "alice was disconnected; \(seedText)")

        // Every fuzz connection was answered with an error frame or closed.
        for report in frameFuzzers {
            #expect(report.violations.isEmpty, "\(report.name): \(report.violations.prefix(5).joined(separator: "\n")); \(seedText)")
            #expect(report.inputs >= 100, "\(report.name) sent only \(report.inputs) inputs; \(seedText)")
        }
        #expect(sockets.violations.isEmpty, "garbage sockets: \(sockets.violations.joined(separator: "\n")); \(seedText)")
        #expect(oversized.violations.isEmpty, "oversized prefixes: \(oversized.violations.joined(separator: "\n")); \(seedText)")

        // The relay still serves: a newcomer can connect and talk to both.
        let carol = try await ChatClient.connect(to: server.address, as: makeIdentity("carol"))
        try await carol.sendPrivate("still standing?", to: "bob")
        try await carol.sendPrivate("still standing!", to: "alice")
        try await bobLog.waitForMessage("still standing?")
        try await aliceLog.waitForMessage("still standing!")
        try await alice.sendPrivate("after the storm", to: "bob")
        try await bobLog.waitForMessage("after the storm")
        let onlyThree = await fuzzWait(timeout: 10) { server.server.onlineCount == 3 }
        #expect(onlyThree, "only alice, bob and carol should be left online, not \(server.server.onlineCount); \(seedText)")
        let nonePending = await fuzzWait(timeout: 10) { server.server.pendingConnections(from: "127.0.0.1") == 0 }
        #expect(nonePending, "\(server.server.pendingConnections(from: "127.0.0.1")) garbage connections still count as unregistered; \(seedText)")

        let inputs = frameFuzzers.map(\.inputs).reduce(0, +)
        print("""
            Hostile input / live run: \(inputs) fuzzed frame inputs over \(frameFuzzers.map(\.connections).reduce(0, +)) Noise connections \
            (\(frameFuzzers.map(\.closedOnError).reduce(0, +)) closed after a predicted protocol error, \(frameFuzzers.map(\.closedOtherwise).reduce(0, +)) after a refused or bye frame, \
            \(frameFuzzers.map(\.errorFrames).reduce(0, +)) of them with an error frame), \
            \(sockets.connections) raw garbage sockets (\(sockets.closed) closed by the server), \(oversized.connections) oversized-length connections \
            (\(oversized.closed) closed, \(oversized.errorFrames) frameTooLarge/malformed error frames); alice sent \(aliceSent.count), bob sent \(bobSent.count); \
            fuzz phase \(fuzzElapsed), total \(ContinuousClock.now - started); \(seedText)
            """)
        await carol.close()
        await alice.close()
        await bob.close()
        await server.stop()
    }

    /// Sends private messages one after another, a few ms apart, while `running` holds.
    private static func chat(from client: ChatClient, to name: String, prefix: String, while running: NIOLockedValueBox<Bool>) async -> (sent: [String], failures: [String]) {
        var sent: [String] = [], failures: [String] = []
        var number = 0
        while running.withLockedValue({ $0 }), number < 5000, !Task.isCancelled {
            let text = "\(prefix) #\(number)"
            do {
                try await client.sendPrivate(text, to: name)
                sent.append(text)
            } catch {
                failures.append("\(text): \(error)")
            }
            number += 1
            try? await Task.sleep(for: .milliseconds(4))
        }
        return (sent, failures)
    }

    /// Registers a raw client and sends it mutated frames inside the encrypted stream, reconnecting whenever
    /// the server closes it. Each input whose bytes the protocol decoder refuses must end the connection.
    private static func frameFuzzer(name: String, port: Int, recipients: [EnvelopeRecipient], rng: FuzzRandom, maxInputs: Int, seconds: Double) async throws -> FuzzFrameReport {
        var rng = rng
        var report = FuzzFrameReport(name: name)
        let key = try PrivateKey()
        let corpus = try FuzzCorpus(sender: name, key: key, recipients: recipients, rng: &rng, realEnvelopes: true)
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var client: RawClient?

        func connect() async throws -> RawClient {
            for attempt in 1...5 {
                do {
                    let fresh = try await RawClient(port: port, key: key)
                    try await fresh.waitForHandshake()
                    try await fresh.send(.hello(Hello(name: name, clientVersion: "fuzz")))
                    if await fuzzWait(timeout: 10, { fresh.frames.contains { if case .welcome = $0 { true } else { false } } }) {
                        report.connections += 1
                        return fresh
                    }
                    report.violations.append("\(name): no welcome on connection attempt \(attempt): \(fresh.frames.prefix(3))")
                    await fresh.close()
                } catch {
                    if attempt == 5 { throw error }
                }
            }
            throw RawClientTimeout(what: "\(name) registration", frames: [])
        }

        var sentBye = false
        /// A connection the server closed must have been answered with an error frame, unless it said `bye`.
        func judgeClosed(_ connection: RawClient, after input: [UInt8]) {
            let refused = connection.frames.contains { if case .error = $0 { true } else { false } }
            if refused { report.errorFrames += 1 }
            if !refused, !sentBye {
                report.violations.append("\(name): the server closed the connection without an error frame; last input \(fuzzHex(input))")
            }
        }

        var lastInput: [UInt8] = []
        while report.inputs < maxInputs, ContinuousClock.now < deadline {
            if let closed = client, !closed.channel.isActive {
                judgeClosed(closed, after: lastInput) // ended by a frame that decoded (a refused type, or bye)
                report.closedOtherwise += 1
                client = nil
            }
            let current: RawClient
            if let open = client {
                current = open
            } else {
                current = try await connect()
                client = current
                sentBye = false
            }
            // Half the inputs keep the framing sound (the relay must refuse them and carry on), half may break it.
            var input = rng.chance(0.5) ? corpus.nextInFrame(&rng) : corpus.next(&rng)
            if input.isEmpty { input = [0] }
            let expected = FuzzDecoding.decode(input)
            if expected.frames.contains(where: { if case .bye = $0 { true } else { false } }) { sentBye = true }
            lastInput = input
            do {
                try await current.sendRaw(input)
            } catch {
                continue // closed under us by an earlier input: judged and replaced at the top of the loop
            }
            report.inputs += 1
            if let error = expected.protocolError {
                if await fuzzWait(timeout: 10, { !current.channel.isActive }) {
                    report.closedOnError += 1
                    judgeClosed(current, after: input)
                } else {
                    report.violations.append("\(name): the server kept the connection open after \(error); input \(fuzzHex(input))")
                    await current.close()
                }
                client = nil
            } else if expected.leftover > 0 {
                await current.close() // the server waits for the rest of a frame: move on
                client = nil
            }
        }
        // A connection still open ends with a frame no client may send: it must be refused and closed.
        if let open = client, open.channel.isActive {
            try? await open.sendRaw([0, 0, 0, 1, 0xEE])
            let closed = await fuzzWait(timeout: 10) { !open.channel.isActive }
            let refused = open.frames.contains { if case let .error(error) = $0 { error.code == .malformedFrame } else { false } }
            if !(closed && refused) { report.violations.append("\(name): the last connection was not refused and closed after an unknown frame type") }
            await open.close()
        }
        return report
    }

    /// Connections that never speak Noise properly: raw garbage, lying length prefixes, forged transport messages.
    private static func garbageSockets(port: Int, rng: FuzzRandom, count: Int) async -> FuzzSocketReport {
        var rng = rng
        var report = FuzzSocketReport()
        let plans: [FuzzRandom] = (0..<count).map { _ in rng.fork() }
        await withTaskGroup(of: (closed: Bool, violation: String?).self) { group in
            for (index, plan) in plans.enumerated() {
                group.addTask {
                    var rng = plan
                    try? await Task.sleep(for: .milliseconds(100 * index))
                    let variant = index % 12
                    // Variants 10 and 11 first complete a real handshake, then forge what follows.
                    if variant >= 10 {
                        do {
                            let client = try await RawClient(port: port)
                            try await client.waitForHandshake()
                            if variant == 10 {
                                var forged = FuzzWire()
                                let body = rng.bytes(rng.int(16...400))
                                forged.u16(UInt16(body.count))
                                forged.raw(body)
                                try await client.writeBelowNoise(forged.bytes)
                            } else {
                                try await client.writeBelowNoise([0, 5] + rng.bytes(5))
                            }
                            let closed = await fuzzWait(timeout: 10) { !client.channel.isActive }
                            await client.close()
                            return (closed, closed ? nil : "variant \(variant): a forged transport message left the connection open")
                        } catch {
                            return (false, "variant \(variant): \(error)")
                        }
                    }
                    let socket: FuzzSocket
                    do { socket = try await FuzzSocket(port: port) } catch { return (false, "variant \(variant): cannot connect: \(error)") }
                    var message = FuzzWire()
                    switch variant {
                    case 0: message.raw(rng.bytes(rng.int(1...3000)))
                    case 1: // two complete random Noise messages: the second cannot decrypt
                        for _ in 0..<2 { let body = rng.bytes(rng.int(33...300)); message.u16(UInt16(body.count)); message.raw(body) }
                    case 2: message.u16(0) // an empty Noise message
                    case 3: let body = rng.bytes(rng.int(1...31)); message.u16(UInt16(body.count)); message.raw(body) // too short for an ephemeral key
                    case 4: message.u16(0xFFFF); message.raw(rng.bytes(100)) // promises 65535 bytes, sends 100
                    case 5: // a real first message, then garbage as the third
                        let first = (try? fuzzNoiseFirstMessage()) ?? []
                        message.u16(UInt16(first.count)); message.raw(first)
                        let body = rng.bytes(rng.int(1...200)); message.u16(UInt16(body.count)); message.raw(body)
                    case 6: // garbage before a real first message
                        let first = (try? fuzzNoiseFirstMessage()) ?? []
                        let junk = rng.bytes(rng.int(32...90))
                        message.u16(UInt16(junk.count)); message.raw(junk)
                        message.u16(UInt16(first.count)); message.raw(first)
                    case 7: message.raw(Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                    case 8: message.raw([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03] + rng.bytes(200))
                    default: break // connect and say nothing
                    }
                    if !message.bytes.isEmpty { await socket.write(message.bytes) }
                    // The handshake timeout (3 s) ends the connections that merely wait.
                    let closed = await fuzzWait(timeout: 12) { socket.isClosed }
                    await socket.close()
                    return (closed, closed ? nil : "variant \(variant): still open 12 s after \(fuzzHex(message.bytes, limit: 32))")
                }
            }
            for await result in group {
                report.connections += 1
                if result.closed { report.closed += 1 }
                if let violation = result.violation { report.violations.append(violation) }
            }
        }
        return report
    }

    /// Registered connections whose next frame announces a length beyond the limit (or exactly at it, with junk).
    private static func oversizedPrefixes(port: Int) async -> FuzzSocketReport {
        var report = FuzzSocketReport()
        let limit = ProtocolLimits.defaultMaxFrameLength
        let cases: [(prefix: UInt32, body: [UInt8], code: ErrorCode)] = [
            (0xFFFF_FFFF, [0x06, 1, 2, 3], .frameTooLarge),
            (0x8000_0000, [], .frameTooLarge),
            (UInt32(limit + 1), [0x06], .frameTooLarge),
            (UInt32(limit) * 4, [0x01, 0, 1], .frameTooLarge),
            (0, [0x0A], .malformedFrame),
            (UInt32(limit), [0xEE] + [UInt8](repeating: 0x41, count: limit - 1), .malformedFrame),
        ]
        for (index, testCase) in cases.enumerated() {
            report.connections += 1
            do {
                let client = try await RawClient(port: port)
                try await client.register(as: "big\(index)")
                var wire = FuzzWire()
                wire.u32(testCase.prefix)
                wire.raw(testCase.body)
                try await client.sendRaw(wire.bytes)
                let closed = await fuzzWait(timeout: 10) { !client.channel.isActive }
                let answered = client.frames.contains { if case let .error(error) = $0 { error.code == testCase.code } else { false } }
                if closed { report.closed += 1 }
                if answered { report.errorFrames += 1 }
                if !closed || !answered {
                    report.violations.append("length \(testCase.prefix): closed \(closed), \(testCase.code) error frame \(answered); frames \(client.frames.suffix(2))")
                }
                await client.close()
            } catch {
                report.violations.append("length \(testCase.prefix): \(error)")
            }
        }
        return report
    }

    // MARK: 3. A client fed garbage deliveries

    @Test("bob's client turns every forged or garbled delivery into a rejection and shows only mallory's real messages, in order")
    func garbageDeliveries() async throws {
        let seed = FuzzSeed.make()
        let seedText = FuzzSeed.describe(seed)
        var rng = FuzzRandom(seed: seed)
        let started = ContinuousClock.now
        let server = try await TestServer.start()
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let bobLog = EventLog(bob)
        let mallory = try await RawClient(port: server.server.port)
        try await mallory.register(as: "mallory")
        let forger = FuzzEnvelopeForger(
            sealer: EnvelopeSealer(senderName: "mallory", identity: mallory.key),
            bob: EnvelopeRecipient(name: "bob", publicKey: bob.identity.publicKey),
            other: EnvelopeRecipient(name: "bob", publicKey: try PrivateKey().publicKey)
        )

        var expected: [FuzzArrival] = []
        var refusedByServer = 0
        var problems: [String] = []
        let caseCount = 1000
        var seen = 0
        for number in 1...caseCount {
            let forged = try forger.next(&rng)
            var send = sendFrame(forged.envelope, requestID: UInt32(number))
            send.storeForOffline = rng.chance(0.2)
            try await mallory.send(.send(send))
            let answered = await fuzzWait(timeout: 10) {
                mallory.frames.dropFirst(seen).contains { frame in
                    switch frame {
                    case let .ack(ack): ack.requestID == UInt32(number)
                    case let .error(error): error.requestID == UInt32(number)
                    default: false
                    }
                }
            }
            guard answered else {
                problems.append("case \(number) (\(forged.label)): no answer from the server")
                break
            }
            let frames = mallory.frames
            let answer = frames.dropFirst(seen).first { frame in
                if case let .ack(ack) = frame { ack.requestID == UInt32(number) } else if case let .error(error) = frame { error.requestID == UInt32(number) } else { false }
            }
            seen = frames.count
            switch answer {
            case let .ack(ack)?:
                if ack.delivered + ack.stored != 1 { problems.append("case \(number) (\(forged.label)): ack \(ack)") }
                // A broadcast kept for everyone reaches bob as a stored delivery, and a repeat of one of those is
                // dropped silently (it is how a redelivery after a reconnect looks), not reported.
                let isBroadcast = forged.envelope.header.withUnsafeBytes { (try? EnvelopeRoutingFields(parsing: $0))?.isDirect == false }
                if !(send.storeForOffline && isBroadcast && forged.label == "replay") { expected.append(forged.expected) }
                if case let .message(text) = forged.expected { forger.remember(forged.envelope, text: text) }
            case let .error(error)?:
                refusedByServer += 1
                if case .message = forged.expected { problems.append("case \(number) (\(forged.label)): the server refused a valid envelope: \(error)") }
            default:
                problems.append("case \(number): unexpected answer \(String(describing: answer))")
            }
        }

        // bob saw one event per delivered envelope: the valid ones as messages with exactly their text, the rest rejected.
        let arrivals = {
            bobLog.all.compactMap { event -> FuzzArrival? in
                switch event {
                case let .message(message): .message(Array(message.text.utf8))
                case .rejected: .rejected
                default: nil
                }
            }
        }
        _ = await fuzzWait(timeout: 15) { arrivals().count >= expected.count }
        let got = arrivals()
        #expect(problems.isEmpty, "\(problems.prefix(10).joined(separator: "\n")); \(seedText)")
        #expect(got.count == expected.count, "bob reported \(got.count) arrivals for \(expected.count) deliveries; \(seedText)")
        if let first = zip(got, expected).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
            Issue.record("delivery \(first.offset): bob reported \(first.element.0), expected \(first.element.1); \(seedText)")
        }
        #expect(bobLog.messages.allSatisfy { $0.sender.name == "mallory" && $0.sender.key == mallory.key.publicKey }, "\(seedText)")
        let validCount = expected.filter { if case .message = $0 { true } else { false } }.count
        #expect(validCount >= 50 && expected.count - validCount >= 400, "the mix should hold both valid and forged deliveries (\(validCount) valid of \(expected.count)); \(seedText)")
        #expect(!bobLog.all.contains { if case .disconnected = $0 { true } else { false } }, "\(seedText)")

        // bob's session still works for an honest sender.
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        try await alice.sendPrivate("after the garbage", to: "bob")
        try await bobLog.waitForMessage("after the garbage")
        let fromAlice = bobLog.messages.filter { $0.sender.name == "alice" }
        #expect(fromAlice.map(\.text) == ["after the garbage"] && fromAlice.first?.sender.key == alice.identity.publicKey, "\(seedText)")
        print("Hostile input / garbage deliveries: \(caseCount) send frames, \(expected.count) delivered to bob (\(validCount) valid, \(expected.count - validCount) rejected), \(refusedByServer) refused by the relay; \(ContinuousClock.now - started); \(seedText)")
        await alice.close()
        await mallory.close()
        await bob.close()
        await server.stop()
    }

    @Test("a direct message whose write to its online recipient fails is stored for them and acknowledged as stored, not as delivered")
    func failedDirectWriteIsStored() async throws {
        let relay = try InProcessRelay(threads: 1)
        let loop = NIOAsyncTestingEventLoop()
        let aliceKey = try PrivateKey(), bobKey = try PrivateKey()
        let alice = try await FuzzPipe.open(services: relay.services, key: aliceKey.publicKey, loop: loop, registeringAs: "alice")
        let bob = try await FuzzPipe.open(services: relay.services, key: bobKey.publicKey, loop: loop, registeringAs: "bob", writesFail: true)
        let envelope = try EnvelopeSealer(senderName: "alice", identity: aliceKey).seal(
            MessageBytes.text("lost on the way"), kind: .direct(recipient: "bob"), to: [EnvelopeRecipient(name: "bob", publicKey: bobKey.publicKey)]
        )
        #expect(try await alice.send(envelope, requestID: 9, loop: loop) == Ack(requestID: 9, delivered: 0, stored: 1))
        #expect(try await relay.database.queuedCount(for: "bob") == 1)
        #expect(alice.errorFrames.isEmpty && bob.errorFrames.isEmpty)
        let problems = try await loop.executeInContext { alice.retire() + bob.retire() }
        #expect(problems.isEmpty, "\(problems)")
        await loop.shutdownGracefully()
    }

    @Test("a broadcast reaches the writable recipients on both loops and reports the backed-up ones as missed, in the order of its wraps")
    func backedUpRecipientsOnBothLoops() async throws {
        let services = try InProcessRelay(threads: 2).services
        let loopA = NIOAsyncTestingEventLoop(), loopB = NIOAsyncTestingEventLoop()
        let aliceKey = try PrivateKey()
        let alice = try await FuzzPipe.open(services: services, key: aliceKey.publicKey, loop: loopA, registeringAs: "alice")
        var recipients: [EnvelopeRecipient] = []
        var opened: [String: FuzzPipe] = [:]
        for (name, loop) in [("bob", loopB), ("carol", loopB), ("dave", loopA), ("erin", loopB)] {
            let key = try PrivateKey()
            opened[name] = try await FuzzPipe.open(services: services, key: key.publicKey, loop: loop, registeringAs: name)
            recipients.append(EnvelopeRecipient(name: name, publicKey: key.publicKey))
        }
        let pipes = opened
        let (carol, dave) = (pipes["carol"]!, pipes["dave"]!)
        /// Broadcasts request `requestID` from alice and waits for its acknowledgement.
        func broadcast(_ requestID: UInt32) async throws -> Ack? {
            let envelope = try EnvelopeSealer(senderName: "alice", identity: aliceKey).seal(MessageBytes.text("broadcast \(requestID)"), kind: .broadcast, to: recipients)
            return try await alice.send(envelope, requestID: requestID, loop: loopA)
        }
        /// Waits until every recipient on loop B and A has the number of deliveries given.
        func expectDeliveries(_ expected: [String: Int]) async {
            let deadline = ContinuousClock.now + .seconds(10)
            while expected.contains(where: { pipes[$0.key]!.deliveries != $0.value }), ContinuousClock.now < deadline {
                await loopA.run()
                await loopB.run()
                try? await Task.sleep(for: .milliseconds(1))
            }
            #expect(expected.allSatisfy { pipes[$0.key]!.deliveries == $0.value }, "\(pipes.mapValues(\.deliveries))")
        }

        // carol (on the other loop) and dave (on alice's) are backed up.
        try await loopB.executeInContext { carol.channel.isWritable = false }
        try await loopA.executeInContext {
            dave.channel.isWritable = false
            dave.channel.pipeline.syncOperations.fireChannelWritabilityChanged()
        }
        #expect(try await broadcast(1) == Ack(requestID: 1, delivered: 2, missed: ["carol", "dave"]))
        await expectDeliveries(["bob": 1, "carol": 0, "dave": 0, "erin": 1])

        try await loopB.executeInContext { carol.channel.isWritable = true }
        try await loopA.executeInContext {
            dave.channel.isWritable = true
            dave.channel.pipeline.syncOperations.fireChannelWritabilityChanged()
        }
        #expect(try await broadcast(2) == Ack(requestID: 2, delivered: 4))
        await expectDeliveries(["bob": 2, "carol": 1, "dave": 1, "erin": 2])

        _ = try await loopA.executeInContext { alice.retire() + dave.retire() }
        let onB = ["bob", "carol", "erin"].map { pipes[$0]! }
        _ = try await loopB.executeInContext { onB.flatMap { $0.retire() } }
        await loopA.shutdownGracefully()
        await loopB.shutdownGracefully()
    }

    @Test("a connection that sent direct messages to another event loop is freed once it closes")
    func senderToAnotherLoopIsFreed() async throws {
        let relay = try InProcessRelay(threads: 2)
        let loopA = NIOAsyncTestingEventLoop(), loopB = NIOAsyncTestingEventLoop()
        let aliceKey = try PrivateKey(), bobKey = try PrivateKey()
        let alice = try await FuzzPipe.open(services: relay.services, key: aliceKey.publicKey, loop: loopA, registeringAs: "alice")
        let bob = try await FuzzPipe.open(services: relay.services, key: bobKey.publicKey, loop: loopB, registeringAs: "bob")
        let sealer = EnvelopeSealer(senderName: "alice", identity: aliceKey)
        for requestID: UInt32 in 1...3 {
            let envelope = try sealer.seal(MessageBytes.text("hello \(requestID)"), kind: .direct(recipient: "bob"), to: [EnvelopeRecipient(name: "bob", publicKey: bobKey.publicKey)])
            #expect(try await alice.send(envelope, requestID: requestID, loop: loopA, others: [loopB]) == Ack(requestID: requestID, delivered: 1))
        }
        let handler = WeakReference()
        try await loopA.executeInContext { handler.object = try alice.channel.pipeline.syncOperations.handler(type: RelayConnectionHandler.self) }
        #expect(handler.object != nil)
        _ = try await loopA.executeInContext { alice.retire() }
        let deadline = ContinuousClock.now + .seconds(10)
        while handler.object != nil, ContinuousClock.now < deadline {
            await loopA.run()
            await loopB.run()
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(handler.object == nil, "alice's connection handler is still alive after its connection closed")
        _ = try await loopB.executeInContext { bob.retire() }
        await loopA.shutdownGracefully()
        await loopB.shutdownGracefully()
    }

    // MARK: 5. A send followed by the end of the connection, in one packet

    @Test("a broadcast followed in the same packet by bye, garbage or an oversized length still reaches everyone it was acknowledged for")
    func broadcastThenClose() async throws {
        let server = try await TestServer.start()
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let carol = try await ChatClient.connect(to: server.address, as: makeIdentity("carol"))
        let bobLog = EventLog(bob), carolLog = EventLog(carol)
        let recipients = [EnvelopeRecipient(name: "bob", publicKey: bob.identity.publicKey), EnvelopeRecipient(name: "carol", publicKey: carol.identity.publicKey)]
        let tails: [(String, [UInt8])] = [
            ("bye", Array(Frame.bye("done").encoded().readableBytesView)),
            ("an unknown frame type", [0, 0, 0, 1, 0xEE]),
            ("an oversized length", [0xFF, 0xFF, 0xFF, 0xFF]),
            ("a frame a client may not send", Array(Frame.pong(1).encoded().readableBytesView) + Array(Frame.welcome(Welcome(serverName: "x", serverVersion: "y", online: [])).encoded().readableBytesView)),
        ]
        for (number, (label, tail)) in tails.enumerated() {
            let name = "mallory\(number)"
            let mallory = try await RawClient(port: server.server.port)
            try await mallory.register(as: name)
            let text = "a broadcast, then \(label)"
            let envelope = try EnvelopeSealer(senderName: name, identity: mallory.key).seal(MessageBytes.text(text), kind: .broadcast, to: recipients)
            // One write: one Noise message, read by the relay in one go.
            try await mallory.sendRaw(Array(Frame.send(sendFrame(envelope, requestID: 1)).encoded().readableBytesView) + tail)
            try await mallory.waitForClose()
            let acknowledged = mallory.frames.contains { if case let .ack(ack) = $0 { ack.requestID == 1 && ack.delivered == 2 } else { false } }
            // An acknowledged broadcast was handed to both connections; an unacknowledged one should still not be lost.
            // The same bound for both: under a loaded machine (the suites run in parallel) the second copy can
            // trail the first by more than a second.
            let reachedBob = await fuzzWait(timeout: 5) { bobLog.messages.contains { $0.text == text } }
            let reachedCarol = await fuzzWait(timeout: 5) { carolLog.messages.contains { $0.text == text } }
            #expect(reachedBob && reachedCarol, "\(text): acknowledged \(acknowledged), reached bob \(reachedBob), carol \(reachedCarol); mallory got \(mallory.frames); rejected at bob \(bobLog.rejections), at carol \(carolLog.rejections)")
            await mallory.close()
        }
        await bob.close()
        await carol.close()
        await server.stop()
    }

    // MARK: 4. A flood of registered names

    @Test("a flood of 65,536 registered names: the user list is cut to what its u16 count holds, and the relay keeps serving")
    func directoryFlood() async throws {
        // 65,536 registered names, as a script registering one name per fresh key would leave behind: more than
        // the u16 count of a `userList` can carry.
        let folder = try TemporaryFolder()
        let dataDirectory = folder.path + "/server"
        _ = try ServerDatabase(dataDirectory: dataDirectory)
        let queue = try DatabaseQueue(path: ServerDatabase.path(in: dataDirectory))
        try await queue.write { db in
            let insert = try db.makeStatement(sql: "INSERT INTO user (name, key, registeredAt) VALUES (?, ?, 0)")
            let key = Data(repeating: 9, count: 32)
            for number in 0..<65_536 { try insert.execute(arguments: ["flood\(number)", key]) }
        }
        try queue.close()

        let server = try await TestServer.start(folder: folder)
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))
        let aliceLog = EventLog(alice)
        let users = try await alice.registeredUsers()
        #expect(users.count == Int(UInt16.max), "the list is cut at 65,535 entries")
        #expect(users.first?.name == "alice" && users.contains { $0.name == "flood0" })
        // The relay is still up, and alice's connection with it.
        let bob = try await ChatClient.connect(to: server.address, as: makeIdentity("bob"))
        let bobLog = EventLog(bob)
        try await alice.sendPrivate("the directory is big", to: "bob")
        try await bobLog.waitForMessage("the directory is big")
        try await bob.sendPrivate("but we are fine", to: "alice")
        try await aliceLog.waitForMessage("but we are fine")
        #expect(try await alice.lookup("flood65535") != nil)
        await alice.close()
        await bob.close()
        await server.stop()
    }
}

// MARK: - Helpers

private enum FuzzTaskResult: Sendable {
    case frames(FuzzFrameReport)
    case sockets(FuzzSocketReport)
    case oversized(FuzzSocketReport)
}

private struct FuzzFrameReport: Sendable {
    let name: String
    var inputs = 0
    var connections = 0
    var closedOnError = 0
    var closedOtherwise = 0
    var errorFrames = 0
    var violations: [String] = []
}

private struct FuzzSocketReport: Sendable {
    var connections = 0
    var closed = 0
    var errorFrames = 0
    var violations: [String] = []
}

/// What bob's client should report for one delivered envelope.
private enum FuzzArrival: Equatable, CustomStringConvertible {
    case message([UInt8])
    case rejected

    var description: String {
        switch self {
        case let .message(bytes): "message \(String(decoding: bytes, as: UTF8.self).debugDescription)"
        case .rejected: "rejected"
        }
    }
}

/// Builds envelopes from mallory to bob: valid ones with known texts, and forged or garbled ones bob must reject.
private final class FuzzEnvelopeForger: Sendable {
    struct Forged {
        let envelope: SealedEnvelope
        let expected: FuzzArrival
        let label: String
    }

    let sealer: EnvelopeSealer
    let bob: EnvelopeRecipient
    /// "bob" with a key that is not bob's.
    let other: EnvelopeRecipient
    /// Valid envelopes already delivered, for replays and splicing.
    private let delivered = NIOLockedValueBox<[SealedEnvelope]>([])

    init(sealer: EnvelopeSealer, bob: EnvelopeRecipient, other: EnvelopeRecipient) {
        self.sealer = sealer
        self.bob = bob
        self.other = other
    }

    func remember(_ envelope: SealedEnvelope, text: [UInt8]) {
        delivered.withLockedValue { $0.append(envelope) }
    }

    func next(_ rng: inout FuzzRandom) throws -> Forged {
        let kind: EnvelopeKind = rng.chance(0.7) ? .direct(recipient: "bob") : .broadcast
        let earlier = delivered.withLockedValue { $0 }
        switch rng.int(0..<100) {
        case 0..<15:
            let text = Self.randomText(&rng)
            return Forged(envelope: try sealer.seal([1] + text, kind: kind, to: [bob]), expected: .message(text), label: "valid text")
        case 15..<30:
            // A plaintext that may or may not be text: classified by the content rule (type 1, then valid UTF-8).
            let plaintext = Self.randomPlaintext(&rng)
            let isText = plaintext.first == 1 && String(validating: plaintext.dropFirst(), as: UTF8.self) != nil
            return Forged(envelope: try sealer.seal(plaintext, kind: kind, to: [bob]), expected: isText ? .message(Array(plaintext.dropFirst())) : .rejected, label: "plaintext \(fuzzHex(plaintext, limit: 16))")
        case 30..<40:
            let timestamp = rng.pick([0, 1, EnvelopeHeader.currentTimestamp() - MessageWindow.maxAge - 60_000, EnvelopeHeader.currentTimestamp() + MessageWindow.maxFuture + 60_000, UInt64.max, UInt64.max - MessageWindow.maxAge + 1])
            return Forged(envelope: try sealer.seal([1] + Array("out of time".utf8), kind: kind, to: [bob], timestamp: timestamp), expected: .rejected, label: "timestamp \(timestamp)")
        case 40..<45:
            return Forged(envelope: try sealer.seal([1] + Array("for another key".utf8), kind: kind, to: [other]), expected: .rejected, label: "sealed for another key")
        case 45..<52 where !earlier.isEmpty:
            return Forged(envelope: rng.pick(earlier), expected: .rejected, label: "replay")
        default:
            let original = try sealer.seal([1] + Self.randomText(&rng), kind: kind, to: [bob])
            var header = original.header, body = original.body, wrap = original.wraps[0].wrap
            let part = rng.int(0..<3)
            var label = ""
            repeat {
                header = original.header; body = original.body; wrap = original.wraps[0].wrap
                switch part {
                case 0: header = Self.mutate(header, &rng, keepLength: rng.chance(0.7)); label = "garbled header"
                case 1: body = Self.mutate(body, &rng, keepLength: rng.chance(0.5)); label = "garbled body"
                default:
                    if let donor = earlier.last, rng.chance(0.2) {
                        wrap = donor.wraps[0].wrap; label = "wrap of another envelope"
                    } else if rng.chance(0.1) {
                        wrap = rng.chance(0.5) ? [UInt8](repeating: 0, count: 80) : rng.bytes(80); label = "random wrap"
                    } else {
                        wrap = Self.mutate(wrap, &rng, keepLength: true); label = "garbled wrap"
                    }
                }
                if rng.chance(0.1), let donor = earlier.last {
                    body = donor.body; label += " + body of another envelope"
                }
            } while header == original.header && body == original.body && wrap == original.wraps[0].wrap
            let envelope = SealedEnvelope(header: header, body: body, wraps: [RecipientWrap(recipient: "bob", wrap: wrap)])
            return Forged(envelope: envelope, expected: .rejected, label: label)
        }
    }

    private static func mutate(_ bytes: [UInt8], _ rng: inout FuzzRandom, keepLength: Bool) -> [UInt8] {
        var out = bytes
        if keepLength || out.isEmpty {
            for _ in 0..<rng.int(1...4) where !out.isEmpty {
                if rng.chance(0.7) { out[rng.int(0..<out.count)] ^= 1 << UInt8(rng.int(0..<8)) } else { out[rng.int(0..<out.count)] = rng.byte() }
            }
            return out
        }
        switch rng.int(0..<4) {
        case 0: out = Array(out.prefix(rng.int(0..<out.count)))
        case 1: out += rng.bytes(rng.int(1...32))
        case 2: out = rng.bytes(rng.int(0...64))
        default: out.remove(at: rng.int(0..<out.count))
        }
        return out
    }

    /// Valid UTF-8 of many kinds: ASCII, controls, NUL, combining marks, right-to-left, emoji, noncharacters, empty.
    static func randomText(_ rng: inout FuzzRandom) -> [UInt8] {
        let pools: [ClosedRange<UInt32>] = [0x20...0x7E, 0x00...0x1F, 0x300...0x36F, 0x590...0x6FF, 0x4E00...0x4FFF, 0x1F300...0x1F6FF, 0xFFF0...0xFFFF, 0x10FF00...0x10FFFF, 0x202A...0x202E]
        var scalars = String.UnicodeScalarView()
        let length = rng.pick([0, 1, 5, 20, 80, 600])
        for _ in 0..<length {
            let pool = rng.chance(0.6) ? pools[0] : rng.pick(pools)
            if let scalar = Unicode.Scalar(UInt32(rng.int(Int(pool.lowerBound)...Int(pool.upperBound)))) { scalars.append(scalar) }
        }
        return Array(String(scalars).utf8)
    }

    /// Plaintexts that are mostly not valid text messages.
    static func randomPlaintext(_ rng: inout FuzzRandom) -> [UInt8] {
        switch rng.int(0..<8) {
        case 0: return []
        case 1: return [rng.pick([0, 2, 3, 0x7F, 0xFF])] + Array("wrong content type".utf8)
        case 2: return [1] + rng.pick(FuzzWire.invalidUTF8)
        case 3: return [1] + Array("ok so far ".utf8) + rng.pick(FuzzWire.invalidUTF8) + Array(" and after".utf8)
        case 4: return [1]
        case 5: return rng.bytes(rng.int(1...200))
        case 6: return [1] + rng.bytes(rng.int(1...100))
        default: return [0]
        }
    }
}

/// The relay's frame decoder and connection handler on an in-process testing channel, entered as if the
/// Noise handshake had just completed with `key`. Records every frame the handler writes back.
private final class FuzzPipe: Sendable {
    struct Captured {
        var pending = ByteBuffer()
        var errorFrames: [ErrorFrame] = []
        var deliveries = 0
        var problems: [String] = []
        var sentBye = false
        var inputs = 0
        /// Sum of `delivered` over the acks written to this connection.
        var ackedDelivered = 0
        var acks: [Ack] = []
        /// Completed by the first `welcome` (failed by an `error` before it).
        var welcome: EventLoopPromise<Void>?
    }

    let channel: NIOAsyncTestingChannel
    private let captured: NIOLockedValueBox<Captured>

    private init(channel: NIOAsyncTestingChannel, captured: NIOLockedValueBox<Captured>) {
        self.channel = channel
        self.captured = captured
    }

    /// Builds a connection in the state right after the Noise handshake; with `hello`, also sends `hello`.
    /// Runs on the loop.
    /// With `writesFail`, every write of the connection is reported as failed (as when its socket closes first).
    static func make(
        services: RelayServices, key: PublicKey, loop: NIOAsyncTestingEventLoop, hello name: String? = nil,
        welcome: EventLoopPromise<Void>? = nil, writesFail: Bool = false
    ) throws -> FuzzPipe {
        let captured = NIOLockedValueBox(Captured(welcome: welcome))
        let channel = NIOAsyncTestingChannel(loop: loop)
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandlers([
            FuzzOutboundCapture(captured: captured),
            RelayConnectionHandler(services: services, noise: PlaintextQueue(channel: channel, writesFail: writesFail), peer: nil, loop: loop),
        ])
        pipeline.register(promise: nil)
        pipeline.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1), promise: nil)
        pipeline.fireUserInboundEventTriggered(NoiseHandshakeCompleted(remoteStatic: key, handshakeHash: []))
        if let name {
            pipeline.fireChannelRead(NIOAny(Frame.hello(Hello(name: name, clientVersion: "fuzz")).encoded()))
        }
        return FuzzPipe(channel: channel, captured: captured)
    }

    /// Builds a connection and registers it as `name` (sends `hello`, waits for `welcome`).
    static func open(services: RelayServices, key: PublicKey, loop: NIOAsyncTestingEventLoop, registeringAs name: String, writesFail: Bool = false) async throws -> FuzzPipe {
        let welcome = loop.makePromise(of: Void.self)
        let pipe = try await loop.executeInContext { try make(services: services, key: key, loop: loop, hello: name, welcome: welcome, writesFail: writesFail) }
        try await welcome.futureResult.get()
        return pipe
    }

    var errorFrames: [ErrorFrame] { captured.withLockedValue { $0.errorFrames } }
    var deliveries: Int { captured.withLockedValue { $0.deliveries } }
    var ackedDelivered: Int { captured.withLockedValue { $0.ackedDelivered } }
    var acks: [Ack] { captured.withLockedValue { $0.acks } }

    /// Sends `envelope` as request `requestID` in one read on `loop` and waits up to 10 s for its acknowledgement,
    /// running `loop` and `others`: a testing loop runs what the relay schedules from inside it (the end-of-tick
    /// flush) only when told to.
    func send(_ envelope: SealedEnvelope, requestID: UInt32, loop: NIOAsyncTestingEventLoop, others: [NIOAsyncTestingEventLoop] = []) async throws -> Ack? {
        try await loop.executeInContext {
            let pipeline = self.channel.pipeline.syncOperations
            pipeline.fireChannelRead(NIOAny(Frame.send(sendFrame(envelope, requestID: requestID)).encoded()))
            pipeline.fireChannelReadComplete()
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !acks.contains(where: { $0.requestID == requestID }), ContinuousClock.now < deadline {
            for testingLoop in [loop] + others { await testingLoop.run() }
            try await Task.sleep(for: .milliseconds(1))
        }
        return acks.first { $0.requestID == requestID }
    }

    /// Feeds one input (on the loop) and checks the handler's answer against what the decoder makes of it:
    /// a `ProtocolError` must close the connection, and when nothing came before the bad bytes it must be
    /// answered with an error frame carrying the matching code.
    func feed(_ plan: FuzzPlan) -> (failures: [String], matchedCode: Bool, acknowledged: Int) {
        let bye = plan.expected.frames.contains { if case .bye = $0 { true } else { false } }
        let (before, ackedBefore) = captured.withLockedValue { state in
            state.inputs += 1
            if bye { state.sentBye = true }
            return (state.errorFrames.count, state.ackedDelivered)
        }
        let pipeline = channel.pipeline.syncOperations
        pipeline.fireChannelRead(NIOAny(ByteBuffer(bytes: plan.input)))
        // As a socket channel does: no read-complete for a read that closed the connection.
        if channel.isActive { pipeline.fireChannelReadComplete() }

        var failures = takeProblems().map { "input \(plan.index): \($0); input \(fuzzHex(plan.input))" }
        var matched = false
        if let error = plan.expected.protocolError {
            if channel.isActive {
                failures.append("input \(plan.index): \(error) but the connection stayed open; input \(fuzzHex(plan.input))")
            }
            let answers = errorFrames.dropFirst(before)
            if plan.expected.frames.isEmpty {
                matched = answers.contains { $0.code == error.code }
                if !matched {
                    failures.append("input \(plan.index): \(error) was not answered with a \(error.code) error frame (got \(answers.map(\.code))); input \(fuzzHex(plan.input))")
                }
            }
        }
        return (failures, matched, ackedDelivered - ackedBefore)
    }

    /// Problems found since the last call: invalid output.
    func takeProblems() -> [String] {
        captured.withLockedValue { state in
            defer { state.problems = [] }
            return state.problems
        }
    }

    func forgetFrames() {
        captured.withLockedValue { $0.errorFrames = [] }
    }

    /// Closes the connection (if the server has not), on the loop, and returns what was wrong with it: a
    /// connection the server closed must have been told why (an error frame) unless the client said `bye`.
    func retire() -> [String] {
        let closedByServer = !channel.isActive
        if !closedByServer { channel.close(promise: nil) }
        return captured.withLockedValue { state in
            var problems = state.problems
            if closedByServer, state.errorFrames.isEmpty, !state.sentBye {
                problems.append("the server closed the connection without an error frame after \(state.inputs) input(s)")
            }
            state.problems = []
            return problems
        }
    }
}

/// One input of the in-process fuzz and what the protocol decoder makes of it.
private struct FuzzPlan: Sendable {
    let index: Int
    let input: [UInt8]
    let expected: FuzzDecoding
    let asRegistered: Bool
}

/// What one lane of the in-process fuzz did.
private struct FuzzLaneReport: Sendable {
    var inputs = 0, bytes = 0, decodedFrames = 0, protocolErrors = 0, incomplete = 0, clean = 0
    var channels = 0, registrations = 0, matchingCodes = 0, deliveries = 0, ackedDeliveries = 0
    var failures: [String] = []

    mutating func count(_ input: [UInt8], _ decoding: FuzzDecoding) {
        inputs += 1
        bytes += input.count
        decodedFrames += decoding.frames.count
        if decoding.protocolError != nil { protocolErrors += 1 } else if decoding.leftover > 0 { incomplete += 1 } else { clean += 1 }
    }

    mutating func fail(_ text: String) { if failures.count < 25 { failures.append(text) } }

    static func + (lhs: FuzzLaneReport, rhs: FuzzLaneReport) -> FuzzLaneReport {
        var sum = lhs
        sum.inputs += rhs.inputs; sum.bytes += rhs.bytes; sum.decodedFrames += rhs.decodedFrames
        sum.protocolErrors += rhs.protocolErrors; sum.incomplete += rhs.incomplete; sum.clean += rhs.clean
        sum.channels += rhs.channels; sum.registrations += rhs.registrations; sum.matchingCodes += rhs.matchingCodes
        sum.deliveries += rhs.deliveries; sum.ackedDeliveries += rhs.ackedDeliveries; sum.failures += rhs.failures
        return sum
    }
}

/// What one turn of the loop found.
private struct FuzzRound: Sendable {
    var processed = 0
    var channels = 0
    var matchingCodes = 0
    var ackedDelivered = 0
    var registeredEnded = false
    var failures: [String] = []
}

/// Decodes everything the handler writes (it must all be valid frames) and swallows it.
private final class FuzzOutboundCapture: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer

    private let captured: NIOLockedValueBox<FuzzPipe.Captured>
    private let decoder = FrameDecoder(maxFrameLength: 64 << 20)

    init(captured: NIOLockedValueBox<FuzzPipe.Captured>) {
        self.captured = captured
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = unwrapOutboundIn(data)
        captured.withLockedValue { state in
            state.pending.writeBuffer(&bytes)
            do {
                // Presence notices (one to every other session per registration and per close) are only framed, not parsed.
                while let length = state.pending.getInteger(at: state.pending.readerIndex, as: UInt32.self),
                      state.pending.readableBytes >= 4 + Int(length), length > 0,
                      state.pending.getInteger(at: state.pending.readerIndex + 4, as: UInt8.self) == Frame.Kind.presence.rawValue {
                    state.pending.moveReaderIndex(forwardBy: 4 + Int(length))
                }
                while let frame = try decoder.nextFrame(&state.pending) {
                    switch frame {
                    case let .error(error):
                        state.errorFrames.append(error)
                        state.welcome?.fail(RawClientTimeout(what: "welcome (refused: \(error.reason))", frames: []))
                        state.welcome = nil
                    case .welcome:
                        state.welcome?.succeed(())
                        state.welcome = nil
                    case .deliver: state.deliveries += 1
                    case let .ack(ack):
                        state.ackedDelivered += Int(ack.delivered)
                        state.acks.append(ack)
                    case .pong, .lookupResult, .userList, .ping, .presence: break
                    default: state.problems.append("the server wrote a \(frame.kind) frame")
                    }
                }
            } catch {
                state.problems.append("the server wrote bytes that do not decode: \(error)")
                state.pending.clear()
            }
            state.pending.discardReadBytes()
        }
        promise?.succeed(())
    }

    func flush(context: ChannelHandlerContext) {}
}

/// A weak reference that tests can read from any task.
private final class WeakReference: @unchecked Sendable {
    weak var object: AnyObject?
}
