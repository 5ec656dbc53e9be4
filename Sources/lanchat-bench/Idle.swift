import ArgumentParser
import Foundation

extension LanChatBench {
    struct Idle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "N connected, registered, idle clients; the server's resident memory per connection."
        )

        @OptionGroup var target: TargetOptions

        @Option(help: "Idle clients.")
        var clients = 10_000

        @Option(help: "Handshakes in flight at once while connecting.")
        var parallel = 128

        @Option(help: "Seconds between the last connection and the memory sample: within 2 s the relay frees an idle connection's cipher contexts; past 30 s every connection has had its first keep-alive ping.")
        var settleSeconds = 3

        func validate() throws {
            guard (1...20_000).contains(clients), (1...10_000).contains(parallel), (0...600).contains(settleSeconds) else {
                throw ValidationError("clients 1-20000, parallel 1-10000, settle-seconds 0-600")
            }
        }

        func run() async throws {
            try await BenchEnvironment.run(target, connections: clients + 1) { environment in
                guard let pid = environment.server.pid else { throw BenchError.setup("idle needs the server's PID: start it here, or pass --server-pid") }
                // Warm up: one connection, so first-use allocations are not charged to the idle connections.
                let warm = try await Fleet.connect(["idle-warmup"], to: environment.server, group: environment.group, observer: nil)
                try await Task.sleep(for: .milliseconds(500))
                let before = ProcessSample.of(pid)
                let start = monotonicNanoseconds()
                let idle = try await Fleet.connect((0..<clients).map { "idle-\($0)" }, to: environment.server, group: environment.group, observer: nil, parallel: parallel)
                let connectSeconds = Double(monotonicNanoseconds() - start) / 1e9
                try await Task.sleep(for: .seconds(settleSeconds))
                guard let before, let after = ProcessSample.of(pid) else {
                    throw BenchError.connectionLost("the server (PID \(pid)) is gone: its memory could not be read from /proc")
                }
                if let lost = idle.first(where: { !$0.channel.isActive }) {
                    throw BenchError.connectionLost("the server closed the connection of \(lost.name) while it was idle")
                }

                var report = Report("idle")
                report.add("clients", idle.count)
                report.add("connect_s", connectSeconds)
                report.add("settle_s", settleSeconds)
                report.add("server_rss_before_mib", Double(before.residentBytes) / 1_048_576)
                report.add("server_rss_after_mib", Double(after.residentBytes) / 1_048_576)
                report.add("bytes_per_connection", (after.residentBytes - before.residentBytes) / max(1, idle.count))
                report.print(json: target.json)
                await environment.finish(closing: idle + warm)
            }
        }
    }
}
