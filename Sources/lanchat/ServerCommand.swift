import ArgumentParser
import Foundation
import LanChatServer
import Logging
import NIOCore

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the relay server.",
        discussion: "The server creates its own key in the data folder on first start; clients pin it. Stop it with Ctrl-C."
    )

    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "TCP port (0 picks a free one).")
    var port = 1234

    @Option(help: "Folder for the server key (default: $LANCHAT_HOME/server, else ~/.lanchat/server).")
    var data: String?

    @Option(help: "Event-loop threads (default: one per core).")
    var threads = System.coreCount

    @Option(help: "Largest frame accepted from a client, in bytes.")
    var maxFrameBytes = 1 << 20

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard maxFrameBytes >= 1024 else { throw ValidationError("--max-frame-bytes must be at least 1024") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let dataDirectory = data ?? (ProcessInfo.processInfo.environment["LANCHAT_HOME"].map { $0 + "/server" }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".lanchat/server").path)
        let server = try await ChatServer.start(configuration: ServerConfiguration(
            host: host, port: port, dataDirectory: dataDirectory, threads: threads, maxFrameLength: maxFrameBytes
        ))
        Console.line("Running the server on \(host) \(server.port)")
        Console.line("Server key fingerprint: \(server.fingerprint)")
        await ShutdownSignal.wait()
        Console.error("Shutting down")
        await server.shutdown()
    }
}

/// Waits for SIGINT or SIGTERM.
enum ShutdownSignal {
    static func wait() async {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { continuation.yield(signalNumber) }
            source.resume()
            sources.append(source)
        }
        for await _ in stream { break }
        sources.forEach { $0.cancel() }
    }
}
