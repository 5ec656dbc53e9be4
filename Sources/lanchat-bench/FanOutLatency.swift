import ArgumentParser
import LanChatCrypto
import NIOCore

extension LanChatBench {
    struct FanOutLatency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fanout-latency",
            abstract: "One sender broadcasts at a steady rate to S receivers; latency from send to each delivery."
        )

        @OptionGroup var target: TargetOptions

        @Option(help: "Receivers online.")
        var receivers = 1000

        @Option(help: "Broadcasts per second.")
        var rate = 20

        @Option(help: "Broadcasts to send (each sealed ahead with its own message id).")
        var messages = 100

        func validate() throws {
            guard (1...20_000).contains(receivers), (1...10_000).contains(rate), (1...10_000).contains(messages) else {
                throw ValidationError("receivers 1-20000, rate 1-10000, messages 1-10000")
            }
        }

        func run() async throws {
            try await BenchEnvironment.run(target, connections: receivers + 1) { environment in
                let sink = ForwardingObserver()
                let receiverClients = try await Fleet.connect((0..<receivers).map { "fan-r\($0)" }, to: environment.server, group: environment.group, observer: sink)
                let sender = try await Fleet.connect(["fan-sender"], to: environment.server, group: environment.group, observer: sink)[0]
                var ids: [[UInt8]] = []
                let frames = try SealedTraffic.frames(from: sender, to: receiverClients, kind: .broadcast, count: messages, messageIDs: &ids)
                let finished = environment.group.next().makePromise(of: Void.self)
                let counter = DeliveryCounter(expected: receivers * messages, finished: finished, plaintext: SealedTraffic.plaintext,
                                              sampleEvery: max(1, receivers * messages / 200), measuresLatency: true)
                sink.attach(counter)

                let meter = CPUMeter(serverPID: environment.server.pid)
                let items = zip(frames, ids).map { PacedSender.Item(client: sender, frame: $0, messageID: $1) }
                let paced = PacedSender(items: items, counter: counter, interval: .nanoseconds(1_000_000_000 / Int64(rate)), loop: sender.channel.eventLoop)
                paced.start()
                try await environment.waitForDeliveries(counter)

                var report = Report("fanout-latency")
                report.add("receivers", receivers)
                report.add("rate_per_s", rate)
                report.add("messages", messages)
                Latency.add(counter, to: &report)
                report.addDeliveries(counter)
                environment.addCPU(meter, to: &report)
                report.print(json: target.json)
                await environment.finish(closing: receiverClients + [sender])
            }
        }
    }
}

/// Latency percentiles in milliseconds from a counter's histogram (recorded in nanoseconds).
enum Latency {
    static func add(_ counter: DeliveryCounter, to report: inout Report) {
        let histogram = counter.latencies.withLockedValue { $0 }
        for (label, percentile) in [("p50_ms", 50.0), ("p99_ms", 99.0), ("p99_9_ms", 99.9)] {
            report.add(label, Double(histogram.valueAtPercentile(percentile)) / 1e6)
        }
        report.add("max_ms", Double(histogram.max) / 1e6)
        report.add("samples", Int(histogram.totalCount))
    }
}

/// Sends one pre-encoded frame per interval (each from its own client), noting each send time, until the run ends.
final class PacedSender: Sendable {
    struct Item: Sendable {
        let client: BenchClient
        let frame: ByteBuffer
        let messageID: [UInt8]
    }

    private let items: [Item]
    private let counter: DeliveryCounter
    private let interval: TimeAmount
    private let loop: any EventLoop
    private let task = NIOLockedValueBoxLite<RepeatedTask?>(nil)

    init(items: [Item], counter: DeliveryCounter, interval: TimeAmount, loop: any EventLoop) {
        self.items = items
        self.counter = counter
        self.interval = interval
        self.loop = loop
    }

    func start() {
        let sent = NIOLockedValueBoxLite(0)
        task.set(loop.scheduleRepeatedTask(initialDelay: .zero, delay: interval) { [self] repeated in
            let index = sent.value
            guard index < items.count else {
                repeated.cancel()
                return
            }
            sent.set(index + 1)
            counter.willSend(messageID: items[index].messageID)
            items[index].client.channel.writeAndFlush(items[index].frame, promise: nil)
        })
        // The run's end (every delivery in, its time limit, a lost connection) stops the sending, before the
        // workload shuts its event loops down.
        counter.finished.futureResult.whenComplete { [self] _ in task.value?.cancel() }
    }
}
