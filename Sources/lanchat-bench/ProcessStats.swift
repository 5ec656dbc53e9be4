import Foundation

/// CPU time and memory of a process, read from /proc.
struct ProcessSample {
    /// User plus system CPU seconds.
    let cpuSeconds: Double
    /// Resident memory in bytes.
    let residentBytes: Int

    static func of(_ pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpu = (Double(fields[11]) ?? 0) / ticks + (Double(fields[12]) ?? 0) / ticks
        let rssLine = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        let kilobytes = rssLine.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        return ProcessSample(cpuSeconds: cpu, residentBytes: kilobytes * 1024)
    }
}

extension ProcessSample {
    /// CPU seconds of each of the process's event-loop threads (SwiftNIO names them `NIO-ELT-…`), by thread id.
    static func loopThreads(of pid: Int32) -> [String: Double] {
        let tasks = "/proc/\(pid)/task"
        guard let ids = try? FileManager.default.contentsOfDirectory(atPath: tasks) else { return [:] }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var seconds: [String: Double] = [:]
        for id in ids {
            guard let name = try? String(contentsOfFile: "\(tasks)/\(id)/comm", encoding: .utf8), name.hasPrefix("NIO-ELT"),
                  let stat = try? String(contentsOfFile: "\(tasks)/\(id)/stat", encoding: .utf8) else { continue }
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            seconds[id] = ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
        }
        return seconds
    }
}

/// Measures the CPU share of the server, of each of its event loops and of this tool over an interval.
struct CPUMeter {
    private let start = Date()
    private let benchStart: ProcessSample?
    private let serverStart: ProcessSample?
    private let serverLoopsStart: [String: Double]
    private let serverPID: Int32?

    init(serverPID: Int32?) {
        self.serverPID = serverPID
        benchStart = ProcessSample.of(getpid())
        serverStart = serverPID.flatMap(ProcessSample.of)
        serverLoopsStart = serverPID.map(ProcessSample.loopThreads) ?? [:]
    }

    /// Each server event loop's share of one core since `init`, busiest first (empty when the server is unknown).
    func serverLoopShares() -> [Double] {
        guard let serverPID else { return [] }
        let elapsed = Date().timeIntervalSince(start)
        guard elapsed > 0 else { return [] }
        let now = ProcessSample.loopThreads(of: serverPID)
        return now.map { id, seconds in 100 * (seconds - (serverLoopsStart[id] ?? 0)) / elapsed }.sorted(by: >)
    }

    /// The server's CPU time since `init`, in seconds; nil when the server is unknown.
    func serverCPUSeconds() -> Double? {
        Self.cpuSeconds(since: serverStart, of: serverPID)
    }

    /// (server %, bench %) of one core since `init`; nil where unknown. In-process, both are the same process.
    func shares() -> (server: Double?, bench: Double?) {
        let elapsed = Date().timeIntervalSince(start)
        guard elapsed > 0 else { return (nil, nil) }
        func share(_ before: ProcessSample?, _ pid: Int32?) -> Double? {
            Self.cpuSeconds(since: before, of: pid).map { 100 * $0 / elapsed }
        }
        return (share(serverStart, serverPID), share(benchStart, getpid()))
    }

    private static func cpuSeconds(since before: ProcessSample?, of pid: Int32?) -> Double? {
        guard let before, let pid, let after = ProcessSample.of(pid) else { return nil }
        return after.cpuSeconds - before.cpuSeconds
    }
}

