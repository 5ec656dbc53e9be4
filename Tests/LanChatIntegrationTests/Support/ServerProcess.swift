import Foundation
import LanChatClient

/// A `lanchat server` process on 127.0.0.1 that can be stopped and started again on the same port and data.
final class ServerProcess {
    let dataDirectory: String
    private(set) var process: RunningProcess
    let port: Int
    private let openFileLimit: Int?

    /// Starts a server keeping its data in `folder/data`, on `port` (0: a free one), allowed `openFileLimit`
    /// descriptors if given (`ulimit -n` in a shell that then runs the server).
    init(folder: TemporaryFolder, data: String = "server", port: Int = 0, openFileLimit: Int? = nil) async throws {
        dataDirectory = folder.path + "/" + data
        self.openFileLimit = openFileLimit
        (process, self.port) = try await Self.launch(dataDirectory: dataDirectory, port: port, openFileLimit: openFileLimit)
    }

    var address: ServerAddress { ServerAddress(host: "127.0.0.1", port: port) }

    func restart() async throws {
        (process, _) = try await Self.launch(dataDirectory: dataDirectory, port: port, openFileLimit: openFileLimit)
    }

    /// Stops the server with SIGTERM and returns its exit status.
    @discardableResult
    func stop() async throws -> Int32 {
        process.signal(SIGTERM)
        return try await process.waitForExit()
    }

    private static func launch(dataDirectory: String, port: Int, openFileLimit: Int?) async throws -> (RunningProcess, Int) {
        let arguments = ["server", "--host", "127.0.0.1", "--port", "\(port)", "--data", dataDirectory, "--threads", "1"]
        let process = if let openFileLimit {
            try RunningProcess(
                executable: URL(fileURLWithPath: "/bin/sh"),
                ["-c", "ulimit -n \(openFileLimit) && exec \"$0\" \"$@\"", try RunningProcess.productURL("lanchat").path] + arguments)
        } else {
            try RunningProcess("lanchat", arguments)
        }
        let line = try await process.waitForLine("the server to listen") { $0.hasPrefix("Running the server on") }
        return (process, Int(line.split(separator: " ").last!)!)
    }
}
