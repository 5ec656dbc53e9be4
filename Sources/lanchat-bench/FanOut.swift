import ArgumentParser
import Foundation
import LanChatCrypto
import NIOCore
import NIOPosix

extension LanChatBench {
    struct FanOut: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fanout",
            abstract: "One sender broadcasts M messages to S online receivers as fast as the server accepts them."
        )

        @OptionGroup var target: TargetOptions

        @Option(help: "Receivers online.")
        var receivers = 100

        @Option(help: "Broadcasts to send.")
        var messages = 2000

        @Option(help: "Distinct envelopes sealed ahead (cycled).")
        var distinct = 20

        @Option(help: "Broadcasts in flight (unacknowledged) at most.")
        var window = 16

        func validate() throws {
            guard (1...20_000).contains(receivers), (1...10_000_000).contains(messages), (1...10_000).contains(window), distinct >= 1 else {
                throw ValidationError("receivers 1-20000, messages 1-10000000, window 1-10000, distinct >= 1")
            }
        }

        func run() async throws {
            try await BenchEnvironment.run(target, connections: receivers + 1) { environment in
                let server = environment.server, group = environment.group
                let finished = group.next().makePromise(of: Void.self)
                let sink = ForwardingObserver()
                let receiverClients = try await Fleet.connect((0..<receivers).map { "fan-r\($0)" }, to: server, group: group, observer: sink)
                let sender = try await Fleet.connect(["fan-sender"], to: server, group: group, observer: sink)[0]
                var ids: [[UInt8]] = []
                let frames = try SealedTraffic.frames(from: sender, to: receiverClients, kind: .broadcast, count: distinct, messageIDs: &ids)
                let windowed = WindowedSender(client: sender, frames: frames, total: messages, window: window)
                let counter = DeliveryCounter(expected: receivers * messages, finished: finished, plaintext: SealedTraffic.plaintext,
                                              sampleEvery: max(1, receivers * messages / 200), senders: [windowed])
                sink.attach(counter)

                let meter = CPUMeter(serverPID: server.pid)
                let start = monotonicNanoseconds()
                windowed.start()
                try await environment.waitForDeliveries(counter)
                let elapsed = Double(monotonicNanoseconds() - start) / 1e9

                var report = Report("fanout")
                report.add("receivers", receivers)
                report.add("messages", messages)
                report.addDeliveries(counter, elapsed: elapsed)
                environment.addCPU(meter, to: &report, deliveries: counter.deliveries.load(ordering: .relaxed))
                report.print(json: target.json)
                await environment.finish(closing: receiverClients + [sender])
                if counter.openedBad.load(ordering: .relaxed) > 0 { throw ExitCode(1) }
            }
        }
    }
}
