import LanChatServer
import NIOCore
import NIOPosix

/// The server under test and the load generator's event loops, for the length of one workload.
struct BenchEnvironment {
    let server: BenchTarget
    let group: MultiThreadedEventLoopGroup
    let options: TargetOptions

    static func start(_ options: TargetOptions) async throws -> BenchEnvironment {
        ProcessLimits.raiseOpenFileLimit()
        let server = try await BenchTarget.make(options)
        return BenchEnvironment(server: server, group: MultiThreadedEventLoopGroup(numberOfThreads: options.threads), options: options)
    }

    /// Adds the CPU shares measured since `meter` started.
    func addCPU(_ meter: CPUMeter, to report: inout Report) {
        let (serverCPU, benchCPU) = meter.shares()
        if let serverCPU { report.add("server_cpu_pct", serverCPU) }
        if let benchCPU { report.add("bench_cpu_pct", benchCPU) }
        report.add("server_threads", options.serverThreads)
    }

    func finish(closing clients: [BenchClient]) async throws {
        for client in clients { await client.close() }
        try await group.shutdownGracefully()
        await server.stop()
    }
}
