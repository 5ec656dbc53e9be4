import Foundation
import Testing

@Suite("The lanchat command as real processes")
struct CommandLineTests {
    @Test("lanchat server, lanchat listen --json and lanchat send carry private and broadcast messages")
    func serverListenSend() async throws {
        let folder = try TemporaryFolder()
        let server = try RunningProcess("lanchat", ["server", "--host", "127.0.0.1", "--port", "0", "--data", folder.path + "/server", "--threads", "1"])
        let running = try await server.waitForLine("the listening line") { $0.hasPrefix("Running the server on 127.0.0.1 ") }
        let port = try #require(running.split(separator: " ").last.map(String.init))
        #expect(server.output.contains("Server key fingerprint: SHA256:"))
        let common = ["--server", "127.0.0.1:\(port)"]

        let listener = try RunningProcess("lanchat", ["listen", "--json", "--name", "bob", "--home", folder.path + "/bob"] + common)
        try await listener.waitForLine("the listener to register") { $0.hasPrefix("Listening as bob") }

        let direct = try await RunningProcess.run("lanchat", ["send", "--name", "alice", "--home", folder.path + "/alice", "--to", "bob", "psst, private"] + common)
        #expect(direct.status == 0, "\(direct.stderr)")
        #expect(direct.stdout.contains("Sent to bob"))
        let everyone = try await RunningProcess.run("lanchat", ["send", "--home", folder.path + "/alice", "--all", "hello everyone"] + common)
        #expect(everyone.status == 0, "\(everyone.stderr)")

        let privateLine = try await listener.waitForLine("the private message") { $0.contains("psst, private") }
        let broadcastLine = try await listener.waitForLine("the broadcast") { $0.contains("hello everyone") }
        let privateMessage = try jsonObject(privateLine)
        #expect(privateMessage["type"] as? String == "message")
        #expect(privateMessage["from"] as? String == "alice")
        #expect(privateMessage["private"] as? Bool == true)
        #expect((privateMessage["id"] as? String)?.count == 32)
        #expect(try jsonObject(broadcastLine)["private"] as? Bool == false)

        let offline = try await RunningProcess.run("lanchat", ["send", "--home", folder.path + "/alice", "--to", "nobody", "hi"] + common)
        #expect(offline.status != 0)
        #expect(offline.stderr.contains("nobody"))

        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        let farewell = try await listener.waitForLine("the listener to hear of the shutdown") { $0.contains("shutting down") }
        #expect(farewell.contains("notice") || farewell.contains("disconnected"))
        #expect(try await listener.waitForExit() != 0)
    }

    @Test("bad arguments get a clear message and a non-zero exit")
    func badArguments() async throws {
        let folder = try TemporaryFolder()
        let noTarget = try await RunningProcess.run("lanchat", ["send", "--home", folder.path, "hi"])
        #expect(noTarget.status != 0)
        #expect(noTarget.stderr.contains("--to NAME or --all"))
        let badServer = try await RunningProcess.run("lanchat", ["send", "--name", "amy", "--home", folder.path, "--server", "nowhere:99999", "--all", "hi"])
        #expect(badServer.status != 0)
        #expect(badServer.stderr.contains("not a server address"))
        let refused = try await RunningProcess.run("lanchat", ["send", "--name", "amy", "--home", folder.path, "--server", "127.0.0.1:1", "--all", "hi"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("cannot connect to 127.0.0.1:1"))
    }
}

private func jsonObject(_ line: String) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}
