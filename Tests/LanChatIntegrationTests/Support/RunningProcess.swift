import Foundation
import NIOConcurrencyHelpers

/// A built command of this package run as a real process, with its output collected line by line.
final class RunningProcess: Sendable {
    private let process: Process
    private let stdout = NIOLockedValueBox<String>("")
    private let stderr = NIOLockedValueBox<String>("")
    /// The write end of the process's standard input, when it reads from the test (`typing`).
    private let input: FileHandle?
    /// Output pipes not yet read to their end.
    private let unfinishedPipes = NIOLockedValueBox(2)

    /// Starts `command` (a product name such as `lanchat`) from the folder that holds the test binaries.
    /// With `typing`, its standard input is a pipe the test writes with `type(_:)`; else it reads nothing.
    convenience init(_ command: String, _ arguments: [String], environment: [String: String] = [:], typing: Bool = false) throws {
        try self.init(executable: try Self.productURL(command), arguments, environment: environment, typing: typing)
    }

    /// Starts the program at `executable`.
    init(executable: URL, _ arguments: [String], environment: [String: String] = [:], typing: Bool = false) throws {
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // A write to the input of a process that has exited then fails instead of killing the test run.
        if typing { Glibc.signal(SIGPIPE, SIG_IGN) }
        let inPipe = typing ? Pipe() : nil
        process.standardInput = inPipe ?? FileHandle.nullDevice
        input = inPipe?.fileHandleForWriting
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()
        // Each pipe is read by blocking reads on its own thread until the end of the output, started once the child
        // runs (so a failed start leaves no thread waiting). A `readabilityHandler` would install a libdispatch read
        // source, and tearing those down while other tests start processes crashes libdispatch's event loop on
        // Linux (swift-corelibs-libdispatch#949; it did so in this suite).
        for (pipe, box) in [(outPipe, stdout), (errPipe, stderr)] {
            let reading = pipe.fileHandleForReading
            let unfinishedPipes = unfinishedPipes
            Thread.detachNewThread {
                while case let data = reading.availableData, !data.isEmpty {
                    box.withLockedValue { $0 += String(decoding: data, as: UTF8.self) }
                }
                unfinishedPipes.withLockedValue { $0 -= 1 }
            }
        }
    }

    /// Writes `line` and a line break to the process's standard input (started with `typing`).
    func type(_ line: String) {
        try? input?.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Closes the process's standard input, which it then reads to its end.
    func endInput() {
        try? input?.close()
    }

    var output: String { stdout.withLockedValue { $0 } }
    var errorOutput: String { stderr.withLockedValue { $0 } }
    var outputLines: [String] { output.split(separator: "\n").map(String.init) }

    /// Waits for an output line (stdout or stderr) satisfying `predicate`.
    @discardableResult
    func waitForLine(timeout: Double = 20, _ description: String, _ predicate: (String) -> Bool) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let lines = (output + "\n" + errorOutput).split(separator: "\n").map(String.init)
            if let line = lines.first(where: predicate) { return line }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ProcessWaitFailure(what: description, stdout: output, stderr: errorOutput)
    }

    /// Waits for the process to end and returns its exit status.
    func waitForExit(timeout: Double = 20) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard !process.isRunning else { throw ProcessWaitFailure(what: "exit", stdout: output, stderr: errorOutput) }
        // Its output is complete once both pipes are read to their end (a child it started may hold them longer).
        let drained = Date().addingTimeInterval(5)
        while unfinishedPipes.withLockedValue({ $0 }) > 0, Date() < drained { try await Task.sleep(for: .milliseconds(5)) }
        return process.terminationStatus
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    var pid: Int32 { process.processIdentifier }

    var isRunning: Bool { process.isRunning }

    /// Runs a command to completion.
    static func run(_ command: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let running = try RunningProcess(command, arguments, environment: environment)
        let status = try await running.waitForExit()
        return (status, running.output, running.errorOutput)
    }

    /// A built product of this package, next to the test binaries.
    static func productURL(_ command: String) throws -> URL {
        let candidates = [Bundle.main.bundleURL.deletingLastPathComponent(), URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        for folder in candidates {
            let url = folder.appendingPathComponent(command)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw ProcessWaitFailure(what: "the built product \(command) next to the tests (\(candidates.map(\.path)))", stdout: "", stderr: "")
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

struct ProcessWaitFailure: Error, CustomStringConvertible {
    let what: String
    let stdout: String
    let stderr: String
    var description: String { "timed out waiting for \(what)\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)" }
}
