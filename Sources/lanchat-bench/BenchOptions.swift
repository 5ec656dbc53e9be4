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

    @Option(help: "Seconds a run may take from its first message until every delivery has arrived; past them it stops with an error.")
    var timeLimit = 300.0

    @Flag(help: "Print one JSON object per workload instead of a summary line.")
    var json = false

    func validate() throws {
        if let server { _ = try Self.port(of: server) }
        if let serverPID, serverPID <= 0 { throw ValidationError("--server-pid takes a process id (a positive number)") }
        guard (1...256).contains(serverThreads), (1...256).contains(threads) else { throw ValidationError("server-threads and threads 1-256") }
        guard timeLimit > 0, timeLimit <= 86_400 else { throw ValidationError("time-limit takes seconds, more than 0 and at most 86400") }
    }

    /// The port of a `--server` value, which must name this machine: the benchmark sends traffic to 127.0.0.1 only.
    static func port(of server: String) throws -> Int {
        let parts = server.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = Int(parts[1]), (1...65_535).contains(port) else {
            throw ValidationError("--server takes 127.0.0.1:PORT with a PORT of 1-65535, not '\(server)'")
        }
        guard parts[0] == "127.0.0.1" || parts[0] == "localhost" else {
            throw ValidationError("--server must be 127.0.0.1 (or localhost): the benchmark sends traffic to this machine only, not to '\(parts[0])'")
        }
        return port
    }

    /// The started server's settings: limits are raised so that they do not throttle the measurement.
    func serverConfiguration(dataDirectory: String) -> ServerConfiguration {
        ServerConfiguration(
            host: "127.0.0.1", port: 0, dataDirectory: dataDirectory, threads: serverThreads, maxPendingPerAddress: 100_000,
            outboundBufferLimit: 64 << 20, maxMessagesPerSecond: 100_000_000
        )
    }
}
