import ArgumentParser
import LanChatCrypto
import NIOCore

/// Pairs of clients that send to each other.
struct Pairs {
    let clients: [BenchClient]

    static func connect(_ count: Int, environment: BenchEnvironment, observer: any BenchObserver) async throws -> Pairs {
        let names = (0..<count).flatMap { ["dir-a\($0)", "dir-b\($0)"] }
        return Pairs(clients: try await Fleet.connect(names, to: environment.server, group: environment.group, observer: observer))
    }

    /// Each client with its partner.
    var partners: [(BenchClient, BenchClient)] {
        var result: [(BenchClient, BenchClient)] = []
        for index in stride(from: 0, to: clients.count, by: 2) {
            result.append((clients[index], clients[index + 1]))
            result.append((clients[index + 1], clients[index]))
        }
        return result
    }
}

extension LanChatBench {
    struct Direct: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "direct",
            abstract: "P pairs of clients, each sending private messages to its partner as fast as the server accepts them."
        )

        @OptionGroup var target: TargetOptions

        @Option(help: "Pairs of clients.")
        var pairs = 100

        @Option(help: "Messages each client sends.")
        var messages = 2000

        @Option(help: "Messages in flight per client at most.")
        var window = 32

        @Option(help: "Distinct envelopes sealed ahead per client (cycled).")
        var distinct = 10

        func validate() throws {
            guard (1...5000).contains(pairs), (1...10_000_000).contains(messages), (1...10_000).contains(window), distinct >= 1 else {
                throw ValidationError("pairs 1-5000, messages 1-10000000, window 1-10000, distinct >= 1")
            }
        }

        func run() async throws {
            try await BenchEnvironment.run(target, connections: 2 * pairs) { environment in
                let sink = ForwardingObserver()
                let pairClients = try await Pairs.connect(pairs, environment: environment, observer: sink)
                var senders: [WindowedSender] = []
                for (client, partner) in pairClients.partners {
                    var ids: [[UInt8]] = []
                    let frames = try SealedTraffic.frames(from: client, to: [partner], kind: .direct(recipient: partner.name), count: distinct, messageIDs: &ids)
                    senders.append(WindowedSender(client: client, frames: frames, total: messages, window: window))
                }
                let expected = 2 * pairs * messages
                let finished = environment.group.next().makePromise(of: Void.self)
                let counter = DeliveryCounter(expected: expected, finished: finished, plaintext: SealedTraffic.plaintext,
                                              sampleEvery: max(1, expected / 200), senders: senders)
                sink.attach(counter)

                let meter = CPUMeter(serverPID: environment.server.pid)
                let start = monotonicNanoseconds()
                senders.forEach { $0.start() }
                try await environment.waitForDeliveries(counter)
                let elapsed = Double(monotonicNanoseconds() - start) / 1e9

                var report = Report("direct")
                report.add("pairs", pairs)
                report.add("messages_per_client", messages)
                report.addDeliveries(counter, elapsed: elapsed)
                environment.addCPU(meter, to: &report, deliveries: counter.deliveries.load(ordering: .relaxed))
                report.print(json: target.json)
                await environment.finish(closing: pairClients.clients)
                if counter.openedBad.load(ordering: .relaxed) > 0 { throw ExitCode(1) }
            }
        }
    }

    struct DirectLatency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "direct-latency",
            abstract: "P pairs exchanging private messages at a low total rate; latency from send to delivery."
        )

        @OptionGroup var target: TargetOptions

        @Option(help: "Pairs of clients.")
        var pairs = 100

        @Option(help: "Messages per second, over all clients.")
        var rate = 200

        @Option(help: "Messages to send in all (each sealed ahead with its own message id).")
        var messages = 2000

        func validate() throws {
            guard (1...5000).contains(pairs), (1...10_000).contains(rate), (1...100_000).contains(messages) else {
                throw ValidationError("pairs 1-5000, rate 1-10000, messages 1-100000")
            }
        }

        func run() async throws {
            try await BenchEnvironment.run(target, connections: 2 * pairs) { environment in
                let sink = ForwardingObserver()
                let pairClients = try await Pairs.connect(pairs, environment: environment, observer: sink)
                let partners = pairClients.partners
                var items: [PacedSender.Item] = []
                for index in 0..<messages {
                    let (client, partner) = partners[index % partners.count]
                    var ids: [[UInt8]] = []
                    let frame = try SealedTraffic.frames(from: client, to: [partner], kind: .direct(recipient: partner.name), count: 1, messageIDs: &ids)[0]
                    items.append(PacedSender.Item(client: client, frame: frame, messageID: ids[0]))
                }
                let finished = environment.group.next().makePromise(of: Void.self)
                let counter = DeliveryCounter(expected: messages, finished: finished, plaintext: SealedTraffic.plaintext,
                                              sampleEvery: max(1, messages / 200), measuresLatency: true)
                sink.attach(counter)

                let meter = CPUMeter(serverPID: environment.server.pid)
                let paced = PacedSender(items: items, counter: counter, interval: .nanoseconds(1_000_000_000 / Int64(rate)), loop: environment.group.next())
                paced.start()
                try await environment.waitForDeliveries(counter)

                var report = Report("direct-latency")
                report.add("pairs", pairs)
                report.add("rate_per_s", rate)
                report.add("messages", messages)
                Latency.add(counter, to: &report)
                report.addDeliveries(counter)
                environment.addCPU(meter, to: &report)
                report.print(json: target.json)
                await environment.finish(closing: pairClients.clients)
            }
        }
    }
}
