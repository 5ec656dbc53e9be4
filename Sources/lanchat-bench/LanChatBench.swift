import ArgumentParser
import LanChatServer

/// `lanchat-bench`: measures the relay with real clients (Noise XX handshakes, registrations, sealed envelopes).
@main
struct LanChatBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lanchat-bench",
        abstract: "Benchmark the LanChat relay and the client's cryptography on 127.0.0.1.",
        discussion: "By default each workload starts 'lanchat server' (next to this binary) as a child process; see docs/BENCHMARKS.md.",
        subcommands: [FanOut.self, FanOutLatency.self, Direct.self, DirectLatency.self, Idle.self, ClientCrypto.self]
    )
}
