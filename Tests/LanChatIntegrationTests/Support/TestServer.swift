import Foundation
import LanChatClient
import LanChatCrypto
import LanChatProtocol
import LanChatServer
import Logging

/// A relay on 127.0.0.1 with a free port and its own temporary data folder.
struct TestServer {
    let server: ChatServer
    let folder: TemporaryFolder

    /// Starts a server; pass `folder` to reuse another server's data (a restart) and `port` to reuse its address.
    /// `configure` adjusts the configuration (limits, timeouts) before the start; `logger` replaces the silent default.
    static func start(
        threads: Int = 2, port: Int = 0, folder: TemporaryFolder? = nil,
        configure: (inout ServerConfiguration) -> Void = { _ in }, logger: Logger? = nil
    ) async throws -> TestServer {
        let folder = try folder ?? TemporaryFolder()
        var silent = Logger(label: "test.server")
        silent.logLevel = .critical
        var configuration = ServerConfiguration(host: "127.0.0.1", port: port, dataDirectory: folder.path + "/server", threads: threads)
        configure(&configuration)
        let server = try await ChatServer.start(configuration: configuration, logger: logger ?? silent)
        return TestServer(server: server, folder: folder)
    }

    var address: ServerAddress { ServerAddress(host: "127.0.0.1", port: server.port) }

    func stop() async { await server.shutdown() }
}

/// A folder under the system temporary directory, removed with `remove()`.
final class TemporaryFolder: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("lanchat-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func makeIdentity(_ name: String) throws -> Identity {
    try Identity(name: UserName(name), key: PrivateKey())
}
