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

/// Measures the CPU share of the server and of this tool over an interval.
struct CPUMeter {
    private let start = Date()
    private let benchStart: ProcessSample?
    private let serverStart: ProcessSample?
    private let serverPID: Int32?

    init(serverPID: Int32?) {
        self.serverPID = serverPID
        benchStart = ProcessSample.of(getpid())
        serverStart = serverPID.flatMap(ProcessSample.of)
    }

    /// (server %, bench %) of one core since `init`; nil where unknown. In-process, both are the same process.
    func shares() -> (server: Double?, bench: Double?) {
        let elapsed = Date().timeIntervalSince(start)
        func share(_ before: ProcessSample?, _ pid: Int32?) -> Double? {
            guard let before, let pid, let after = ProcessSample.of(pid), elapsed > 0 else { return nil }
            return 100 * (after.cpuSeconds - before.cpuSeconds) / elapsed
        }
        return (share(serverStart, serverPID), share(benchStart, getpid()))
    }
}

