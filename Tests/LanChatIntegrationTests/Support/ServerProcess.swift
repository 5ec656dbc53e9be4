import Foundation
import LanChatClient

/// A `lanchat server` process on 127.0.0.1 that can be stopped and started again on the same port and data.
final class ServerProcess {
    let dataDirectory: String
    private(set) var process: RunningProcess
    let port: Int

    /// Starts a server keeping its data in `folder/data`, on `port` (0: a free one).
    init(folder: TemporaryFolder, data: String = "server", port: Int = 0) async throws {
        dataDirectory = folder.path + "/" + data
        (process, self.port) = try await Self.launch(dataDirectory: dataDirectory, port: port)
    }

    var address: ServerAddress { ServerAddress(host: "127.0.0.1", port: port) }

    func restart() async throws {
        (process, _) = try await Self.launch(dataDirectory: dataDirectory, port: port)
    }

    /// Stops the server with SIGTERM and returns its exit status.
    @discardableResult
    func stop() async throws -> Int32 {
        process.signal(SIGTERM)
        return try await process.waitForExit()
    }

    private static func launch(dataDirectory: String, port: Int) async throws -> (RunningProcess, Int) {
        let process = try RunningProcess("lanchat", ["server", "--host", "127.0.0.1", "--port", "\(port)", "--data", dataDirectory, "--threads", "1"])
        let line = try await process.waitForLine("the server to listen") { $0.hasPrefix("Running the server on") }
        return (process, Int(line.split(separator: " ").last!)!)
    }
}
