import Foundation
import Testing

@Suite("The lanchat-bench command as a real process")
struct BenchCommandTests {
    /// Runs `lanchat-bench` with `arguments` and `--json`; returns each printed JSON object.
    private func bench(_ arguments: [String]) async throws -> [[String: Any]] {
        let run = try await RunningProcess.run("lanchat-bench", arguments + ["--json"])
        #expect(run.status == 0, "lanchat-bench \(arguments.joined(separator: " ")): \(run.stderr)")
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
            #expect((report["server_us_per_delivery"] as? Double ?? 0) > 0)
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
}
