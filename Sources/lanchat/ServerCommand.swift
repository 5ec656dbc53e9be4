import ArgumentParser
import Foundation
import LanChatProtocol
import LanChatServer
import Logging
import NIOCore

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the relay server, or manage its data.",
        subcommands: [RunServer.self, ReleaseName.self],
        defaultSubcommand: RunServer.self
    )
}

/// Where the server keeps its key and database.
struct ServerDataOption: ParsableArguments {
    @Option(help: "Folder for the server key and database (default: $LANCHAT_HOME/server, else ~/.lanchat/server).")
    var data: String?

    var directory: String {
        data ?? (ProcessInfo.processInfo.environment["LANCHAT_HOME"].map { $0 + "/server" }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".lanchat/server").path)
    }
}

struct RunServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the relay server (the default).",
        discussion: "The server creates its own key in the data folder on first start; clients pin it. Stop it with Ctrl-C."
    )

    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "TCP port (0 picks a free one).")
    var port = 1234

    @OptionGroup var data: ServerDataOption

    @Option(help: "Event-loop threads; the default is the number of cores.")
    var threads = System.coreCount

    @Option(help: "Largest frame accepted from a client, in bytes.")
    var maxFrameBytes = 1 << 20

    @Option(help: "Most messages kept for one offline user.")
    var maxQueued = 10_000

    @Option(help: "Hours a message waits for an offline user before it expires (reported in the log).")
    var maxQueuedHours = 24 * 7

    @Option(help: "Seconds a client may leave its outbound buffer full (not reading) before it is disconnected.")
    var slowReaderSeconds = 10

    @Option(help: "Sustained messages per second one connection may send.")
    var maxMessagesPerSecond = 500

    @Option(help: "Seconds of silence before a connection is pinged (and closed after as many again).")
    var pingSeconds = 30

    @Option(help: "Outbound bytes buffered per connection before it counts as not reading.")
    var outboundBufferBytes = 1 << 20

    @Option(help: "Connections from one IP address that may be unregistered (in the handshake, or before welcome) at once; more are closed at once.")
    var maxPendingPerAddress = 128

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        guard (1024...ProtocolLimits.maxServerFrameLength).contains(maxFrameBytes) else {
            throw ValidationError("--max-frame-bytes must be between 1024 and \(ProtocolLimits.maxServerFrameLength) (clients accept deliveries of at most 16 MiB)")
        }
        for (name, value) in [("--max-queued", maxQueued), ("--max-queued-hours", maxQueuedHours), ("--slow-reader-seconds", slowReaderSeconds),
                              ("--max-messages-per-second", maxMessagesPerSecond), ("--ping-seconds", pingSeconds), ("--outbound-buffer-bytes", outboundBufferBytes),
                              ("--max-pending-per-address", maxPendingPerAddress)] where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
    }

    func run() async throws {
        ProcessLimits.raiseOpenFileLimit()
        ProcessLimits.keepFreedMemoryForReuse()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let server = try await ChatServer.start(configuration: ServerConfiguration(
            host: host, port: port, dataDirectory: data.directory, threads: threads, maxFrameLength: maxFrameBytes,
            maxPendingPerAddress: maxPendingPerAddress,
            maxQueuedPerRecipient: maxQueued, maxQueuedAge: .hours(Int64(maxQueuedHours)),
            slowReaderTimeout: .seconds(Int64(slowReaderSeconds)),
            outboundBufferLimit: outboundBufferBytes, maxMessagesPerSecond: maxMessagesPerSecond,
            pingInterval: .seconds(Int64(pingSeconds))
        ))
        Console.line("Running the server on \(host) \(server.port)")
        Console.line("Server key fingerprint: \(server.fingerprint)")
        await ShutdownSignal.wait()
        Console.error("Shutting down")
        await server.shutdown()
    }
}

struct ReleaseName: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release-name",
        abstract: "Free a user name so another key may register it (for a user who lost their key)."
    )

    @Argument(help: "The user name to release.")
    var name: String

    @OptionGroup var data: ServerDataOption

    func run() throws {
        guard FileManager.default.fileExists(atPath: ServerDatabase.path(in: data.directory)) else {
            throw CommandFailure("no server database in \(data.directory); pass the server's --data folder")
        }
        let database = try ServerDatabase(dataDirectory: data.directory)
        guard try database.releaseName(name) else { throw CommandFailure("no user named '\(name)' is registered on this server") }
        Console.line("Released '\(name)': the next key to register it will own it.")
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
