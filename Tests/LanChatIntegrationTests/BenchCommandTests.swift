import Foundation
import Testing

@Suite("The lanchat-bench command as a real process")
struct BenchCommandTests {
    /// Runs `lanchat-bench` with `arguments` and `--json`; returns each printed JSON object.
    private func bench(_ arguments: [String]) async throws -> [[String: Any]] {
        let run = try await RunningProcess.run("lanchat-bench", arguments + ["--json"])
        #expect(run.status == 0, "lanchat-bench \(arguments.joined(separator: " ")): \(run.stderr)")
        #expect(run.stderr.isEmpty, "a run that succeeds reports nothing on stderr (SwiftNIO's misuse warnings go there): \(run.stderr)")
        return try run.stdout.split(separator: "\n").map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
    }

    @Test(
        "every traffic workload runs against a relay it starts on 127.0.0.1: all deliveries arrive, the sampled ones open to the plaintext",
        arguments: [
            (["fanout", "--receivers", "20", "--messages", "100", "--window", "16"], 2000),
            (["direct", "--pairs", "5", "--messages", "40", "--window", "8"], 400),
            (["fanout-latency", "--receivers", "20", "--rate", "100", "--messages", "10"], 200),
            (["direct-latency", "--pairs", "5", "--rate", "200", "--messages", "20"], 20),
        ]
    )
    func trafficWorkloads(arguments: [String], deliveries: Int) async throws {
        let report = try #require(try await bench(arguments).first)
        #expect(report["workload"] as? String == arguments[0])
        #expect(report["deliveries"] as? Int == deliveries)
        #expect(report["missed"] as? Int == 0)
        #expect((report["opened_ok"] as? Int ?? 0) > 0 && report["opened_bad"] as? Int == 0)
        #expect(report["server_cpu_pct"] is Double && report["bench_cpu_pct"] is Double)
        if arguments[0].hasSuffix("latency") {
            let p50 = try #require(report["p50_ms"] as? Double), p99 = try #require(report["p99_ms"] as? Double)
            #expect(p50 > 0 && p50 <= p99)
            #expect(report["samples"] as? Int == deliveries)
        } else {
            #expect((report["deliveries_per_s"] as? Double ?? 0) > 0)
            // Read from /proc in clock ticks of 10 ms: a run this short can see none of the server's.
            #expect((report["server_us_per_delivery"] as? Double ?? -1) >= 0)
        }
    }

    @Test("idle reports the server's memory per connection, and client-crypto its seals and opens per recipient count")
    func idleAndClientCrypto() async throws {
        let idle = try #require(try await bench(["idle", "--clients", "50", "--settle-seconds", "1"]).first)
        #expect(idle["clients"] as? Int == 50)
        #expect(idle["settle_s"] as? Int == 1)
        #expect(idle["bytes_per_connection"] as? Int != nil)

        let refused = try await RunningProcess.run("lanchat-bench", ["idle", "--settle-seconds", "601"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("settle-seconds 0-600"))

        let crypto = try await bench(["client-crypto", "--recipients", "1", "--recipients", "10", "--seconds", "0.1"])
        #expect(crypto.map { $0["recipients"] as? Int } == [1, 10])
        for line in crypto {
            #expect((line["seals_per_s"] as? Double ?? 0) > 0 && (line["opens_per_s"] as? Double ?? 0) > 0)
        }
    }

    @Test(
        "a bad argument is refused with the limit it broke, before any server is started or any traffic is sent",
        arguments: [
            (["direct-latency", "--pairs", "0"], "pairs 1-5000"),
            (["direct-latency", "--messages", "0"], "messages 1-100000"),
            (["client-crypto", "--recipients", "0"], "recipients 1-10000"),
            (["client-crypto", "--seconds", "0"], "seconds: more than 0"),
            (["fanout", "--server", "127.0.0.1:99999"], "PORT of 1-65535"),
            (["fanout", "--server", "192.168.1.20:7000"], "must be 127.0.0.1 (or localhost)"),
            (["direct", "--server", "127.0.0.1:7000", "--server-pid", "0"], "--server-pid takes a process id"),
            (["fanout-latency", "--time-limit", "0"], "time-limit takes seconds"),
        ]
    )
    func refusesBadArguments(arguments: [String], message: String) async throws {
        let run = try await RunningProcess.run("lanchat-bench", arguments)
        #expect(run.status == 64, "a usage error, not a crash or a run: \(run.status) \(run.stderr)")
        #expect(run.stderr.contains(message), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }

    @Test("a run that cannot finish in time stops at --time-limit, says how far it got, and stops the server it started")
    func stopsAtTheTimeLimit() async throws {
        // 100 broadcasts at 1 per second cannot finish in 2 s.
        let bench = try RunningProcess("lanchat-bench", ["fanout-latency", "--receivers", "2", "--rate", "1", "--messages", "100", "--time-limit", "2"])
        let status = try await bench.waitForExit(timeout: 30)
        #expect(status == 1)
        #expect(bench.errorOutput.contains("time limit of 2.0 s (--time-limit)"), "\(bench.errorOutput)")
        #expect(bench.errorOutput.contains("of 200 deliveries had arrived"), "\(bench.errorOutput)")
        #expect(bench.output.isEmpty, "no figures for a run that did not finish")
        let dataFolder = FileManager.default.temporaryDirectory.appendingPathComponent("lanchat-bench-\(bench.pid)").path
        #expect(!FileManager.default.fileExists(atPath: dataFolder), "the started server's data is removed")
        #expect(processes(mentioning: dataFolder).isEmpty, "the started server is stopped")
    }

    @Test("a server that goes away during a run ends it at once with an error naming the lost connection")
    func serverLostDuringTheRun() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder)
        let bench = try RunningProcess("lanchat-bench", ["fanout-latency", "--server", "127.0.0.1:\(server.port)", "--receivers", "3", "--rate", "5", "--messages", "300"])
        try await server.process.waitForLine("the sender's registration") { $0.contains("user=fan-sender") && $0.hasSuffix("registered") }
        try await Task.sleep(for: .milliseconds(500))
        server.process.signal(SIGKILL)
        let status = try await bench.waitForExit(timeout: 20)
        #expect(status == 1)
        #expect(bench.errorOutput.contains("the server closed the connection of"), "\(bench.errorOutput)")
        #expect(bench.errorOutput.contains("during the run") && bench.errorOutput.contains("of 900 deliveries had arrived"), "\(bench.errorOutput)")
    }

    @Test("a run that needs more sockets than the process may open says so before connecting")
    func refusesMoreClientsThanDescriptors() async throws {
        let bench = try RunningProcess.productURL("lanchat-bench").path
        // The shell lowers both the soft and the hard limit, so the tool cannot raise it again.
        let run = try RunningProcess(executable: URL(fileURLWithPath: "/bin/sh"), ["-c", "ulimit -n 128 && exec \"$0\" idle --clients 200", bench])
        #expect(try await run.waitForExit() == 1)
        #expect(run.errorOutput.contains("201 connections need about 265 open files, but this process may open only 128"), "\(run.errorOutput)")
        #expect(run.output.isEmpty)
    }

    @Test("a server that goes away while the tool still seals its envelopes ends the run as soon as it would start")
    func serverLostBeforeTheRun() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder)
        // 1,000 broadcasts to 100 receivers take the tool seconds to seal; the server is killed as sealing starts.
        let bench = try RunningProcess("lanchat-bench", ["fanout-latency", "--server", "127.0.0.1:\(server.port)", "--receivers", "100", "--rate", "5", "--messages", "1000"])
        try await server.process.waitForLine(timeout: 60, "the sender's registration") { $0.contains("user=fan-sender") && $0.hasSuffix("registered") }
        server.process.signal(SIGKILL)
        let status = try await bench.waitForExit(timeout: 60)
        #expect(status == 1)
        #expect(bench.errorOutput.contains("the server closed the connection of"), "\(bench.errorOutput)")
        #expect(bench.errorOutput.contains("0 of 100000 deliveries had arrived"), "\(bench.errorOutput)")
    }

    /// PIDs of running processes whose command line contains `text`.
    private func processes(mentioning text: String) -> [String] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return ids.filter { id in
            guard id.allSatisfy(\.isNumber), let data = FileManager.default.contents(atPath: "/proc/\(id)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(text)
        }
    }
}
