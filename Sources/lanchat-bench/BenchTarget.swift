import Foundation
import LanChatServer
import Logging
import NIOCore
import NIOPosix

/// The server under test: one this tool starts as a child process (the default), one in this process, or an
/// external one given by address (and PID, for memory and CPU figures).
final class BenchTarget {
    let address: SocketAddress
    /// The server's process, for /proc figures; nil when unknown.
    let pid: Int32?
    private let child: Process?
    private let inProcess: ChatServer?
    private let dataFolder: String?

    private init(address: SocketAddress, pid: Int32?, child: Process?, inProcess: ChatServer?, dataFolder: String?) {
        self.address = address
        self.pid = pid
        self.child = child
        self.inProcess = inProcess
        self.dataFolder = dataFolder
    }

    static func make(_ options: TargetOptions) async throws -> BenchTarget {
        if let server = options.server {
            let port = try TargetOptions.port(of: server)
            if let pid = options.serverPID, ProcessSample.of(pid) == nil {
                throw BenchError.setup("no process with PID \(pid) to measure (--server-pid): give the PID of the server at \(server)")
            }
            return BenchTarget(address: try SocketAddress(ipAddress: "127.0.0.1", port: port), pid: options.serverPID, child: nil, inProcess: nil, dataFolder: nil)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lanchat-bench-\(getpid())").path
        if options.inProcess {
            var logger = Logger(label: "bench.server")
            logger.logLevel = .error
            let server = try await ChatServer.start(configuration: options.serverConfiguration(dataDirectory: folder), logger: logger)
            return BenchTarget(address: try SocketAddress(ipAddress: "127.0.0.1", port: server.port), pid: getpid(), child: nil, inProcess: server, dataFolder: folder)
        }
        return try await spawn(options, folder: folder)
    }

    /// Starts `lanchat server` (the binary next to this one), pinned with taskset when asked.
    private static func spawn(_ options: TargetOptions, folder: String) async throws -> BenchTarget {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("lanchat").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw BenchError.setup("cannot find \(binary); build it with 'swift build -c release'") }
        let configuration = options.serverConfiguration(dataDirectory: folder)
        var arguments = [binary, "server", "run", "--host", "127.0.0.1", "--port", "0", "--data", folder,
                         "--threads", "\(configuration.threads)", "--max-messages-per-second", "\(configuration.maxMessagesPerSecond)",
                         "--outbound-buffer-bytes", "\(configuration.outboundBufferLimit)",
                         "--max-pending-per-address", "\(configuration.maxPendingPerAddress)"]
        if let cpu = options.serverCPU { arguments = ["/usr/bin/taskset", "-c", cpu] + arguments }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        var collected = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !collected.contains("\nServer key") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            collected += String(decoding: data, as: UTF8.self)
        }
        guard let line = collected.split(separator: "\n").first(where: { $0.hasPrefix("Running the server on") }),
              let port = Int(line.split(separator: " ").last ?? "") else {
            process.terminate()
            throw BenchError.setup("the server did not start: \(collected)")
        }
        return BenchTarget(address: try SocketAddress(ipAddress: "127.0.0.1", port: port), pid: process.processIdentifier, child: process, inProcess: nil, dataFolder: folder)
    }

    private var stopped = false

    /// Stops a server this tool started and removes its data; nothing for an external one. Only the first call acts.
    func stop() async {
        guard !stopped else { return }
        stopped = true
        if let child, child.isRunning {
            child.interrupt()
            child.waitUntilExit()
        }
        await inProcess?.shutdown()
        if let dataFolder { try? FileManager.default.removeItem(atPath: dataFolder) }
    }
}
