import Foundation
import LanChatServer
import NIOCore
import NIOPosix

/// The server under test and the load generator's event loops, for the length of one workload.
struct BenchEnvironment {
    let server: BenchTarget
    let group: MultiThreadedEventLoopGroup
    let options: TargetOptions

    /// Starts the server and the event loops for a workload of `connections` clients, runs `workload` and, if it
    /// fails, stops them again, so that a server this tool started does not outlive it. A workload that succeeds
    /// stops them itself (`finish(closing:)`).
    static func run(_ options: TargetOptions, connections: Int, _ workload: (BenchEnvironment) async throws -> Void) async throws {
        try requireDescriptors(forConnections: connections, inProcess: options.inProcess)
        let environment = try await start(options)
        do {
            try await workload(environment)
        } catch {
            await environment.stop()
            throw error
        }
    }

    private static func start(_ options: TargetOptions) async throws -> BenchEnvironment {
        // The tool's clients, like the relay, allocate and free buffers per read batch: without this its heap was
        // trimmed and faulted back in all the time (about a tenth of its CPU time in `direct`).
        ProcessLimits.keepFreedMemoryForReuse()
        let server = try await BenchTarget.make(options)
        return BenchEnvironment(server: server, group: MultiThreadedEventLoopGroup(numberOfThreads: options.threads), options: options)
    }

    /// Fails before anything starts when this process may not open a socket for each of `connections` (and, with
    /// the server in this process, one more for each of their server ends), even with its limit raised.
    private static func requireDescriptors(forConnections connections: Int, inProcess: Bool) throws {
        let needed = UInt64((inProcess ? 2 : 1) * connections + 64)
        let limit = ProcessLimits.raiseOpenFileLimit()
        guard needed <= limit else {
            throw BenchError.setup("\(connections) connections need about \(needed) open files, but this process may open only \(limit): raise the limit (ulimit -n) or use fewer clients")
        }
    }

    /// Adds the CPU shares measured since `meter` started and, given the `deliveries` of a throughput run, the
    /// server's CPU time per delivery (which drifts less with the machine's speed than throughput does; not for a
    /// server in this process, whose CPU time is the tool's too). With several server event loops, also each
    /// loop's share of a core and the busiest loop's part of their total: the server cannot go faster than that
    /// loop, so with one core per loop at the same CPU cost per delivery its throughput would grow at most
    /// total / busiest times (`loop_scaling_bound`).
    func addCPU(_ meter: CPUMeter, to report: inout Report, deliveries: Int? = nil) {
        // In process the tool's own event loops are threads of the same process: no per-loop figures then.
        let loopShares = options.inProcess ? [] : meter.serverLoopShares()
        let (serverCPU, benchCPU) = meter.shares()
        if let serverCPU { report.add("server_cpu_pct", serverCPU) }
        if let benchCPU { report.add("bench_cpu_pct", benchCPU) }
        if let deliveries, deliveries > 0, !options.inProcess, let seconds = meter.serverCPUSeconds() {
            report.add("server_us_per_delivery", 1e6 * seconds / Double(deliveries))
        }
        // A server this tool started or runs has the threads it was given; for another, those found in /proc.
        if options.server == nil {
            report.add("server_threads", options.serverThreads)
        } else if !loopShares.isEmpty {
            report.add("server_threads", loopShares.count)
        }
        if loopShares.count > 1, let busiest = loopShares.first, busiest > 0 {
            report.add("server_loop_cpu_pct", loopShares.map { String(format: "%.1f", $0) }.joined(separator: "/"))
            report.add("loop_scaling_bound", loopShares.reduce(0, +) / busiest)
        }
    }

    /// Waits until every delivery `counter` expects has arrived or been reported missed. Fails as soon as the server
    /// closes a client's connection, and when the run takes longer than `--time-limit`.
    func waitForDeliveries(_ counter: DeliveryCounter) async throws {
        let limit = options.timeLimit
        let timer = counter.finished.futureResult.eventLoop.scheduleTask(in: .nanoseconds(Int64(limit * 1e9))) {
            counter.finished.fail(BenchError.timedOut("the run took longer than its time limit of \(limit) s (--time-limit): \(counter.progress)"))
        }
        defer { timer.cancel() }
        try await counter.finished.futureResult.get()
    }

    func finish(closing clients: [BenchClient]) async {
        for client in clients { await client.close() }
        await stop()
    }

    /// Shuts the event loops down (closing what is still open) and stops a server this tool started.
    private func stop() async {
        try? await group.shutdownGracefully()
        await server.stop()
    }
}
