import ArgumentParser
import LanChatServer
import NIOCore

/// Which server to measure and how.
struct TargetOptions: ParsableArguments {
    @Option(help: "Measure an already running server at 127.0.0.1:PORT instead of starting one.")
    var server: String?

    @Option(help: "The PID of the server given with --server, for its CPU and memory figures.")
    var serverPID: Int32?

    @Flag(help: "Run the server inside this process instead of as a child process (CPU figures then mix both).")
    var inProcess = false

    @Option(help: "Event-loop threads of the started server.")
    var serverThreads = 1

    @Option(help: "Pin the started server to these CPUs (taskset list, e.g. 0).")
    var serverCPU: String?

    @Option(help: "Event-loop threads of the load generator.")
    var threads = 1

    @Flag(help: "Print one JSON object per workload instead of a summary line.")
    var json = false

    /// The started server's settings: limits are raised so that they do not throttle the measurement.
    func serverConfiguration(dataDirectory: String) -> ServerConfiguration {
        ServerConfiguration(
            host: "127.0.0.1", port: 0, dataDirectory: dataDirectory, threads: serverThreads,
            outboundBufferLimit: 64 << 20, maxMessagesPerSecond: 100_000_000
        )
    }
}
