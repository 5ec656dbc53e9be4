import Foundation
import LanChatCrypto
import LanChatClient
import LanChatProtocol
import Testing
@testable import lanchat_bench

@Suite("The lanchat command as real processes")
struct CommandLineTests {
    @Test("lanchat server, lanchat listen --json and lanchat send carry private and broadcast messages")
    func serverListenSend() async throws {
        let folder = try TemporaryFolder()
        let server = try RunningProcess("lanchat", ["server", "--host", "127.0.0.1", "--port", "0", "--data", folder.path + "/server", "--threads", "1"])
        let running = try await server.waitForLine("the listening line") { $0.hasPrefix("Running the server on 127.0.0.1 ") }
        let port = try #require(running.split(separator: " ").last.map(String.init))
        try await server.waitForLine("the fingerprint line") { $0.hasPrefix("Server key fingerprint: SHA256:") }
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

        // Bob answers from his own home while his listener runs, as a bot would; the listener stays connected.
        let reply = try await RunningProcess.run("lanchat", ["send", "--home", folder.path + "/bob", "--to", "alice", "thanks, bob here"] + common)
        #expect(reply.status == 0, "\(reply.stderr)")
        #expect(reply.stdout.contains("alice is offline: the server keeps it"), "\(reply.stdout)")
        let again = try await RunningProcess.run("lanchat", ["send", "--home", folder.path + "/alice", "--to", "bob", "still listening?"] + common)
        #expect(again.stdout.contains("Sent to bob"), "\(again.stdout) \(again.stderr)")
        try await listener.waitForLine("the message after bob's reply") { $0.contains("still listening?") }
        #expect(!listener.output.contains("connected again from elsewhere"), "\(listener.output)")
        let aliceListener = try RunningProcess("lanchat", ["listen", "--home", folder.path + "/alice"] + common)
        try await aliceListener.waitForLine("bob's reply, kept for alice") { $0.contains("thanks, bob here") }
        aliceListener.signal(SIGTERM)
        _ = try await aliceListener.waitForExit()

        // A script pipes a longer text in; a blank one is refused before connecting.
        let piped = try RunningProcess("lanchat", ["send", "--home", folder.path + "/alice", "--to", "bob", "-"] + common, typing: true)
        piped.type("first line\n  second line")
        piped.endInput()
        #expect(try await piped.waitForExit() == 0, "\(piped.errorOutput)")
        let pipedLine = try await listener.waitForLine("the piped message") { $0.contains("first line") }
        #expect(try jsonObject(pipedLine)["text"] as? String == "first line\n  second line")
        let blank = try await RunningProcess.run("lanchat", ["send", "--home", folder.path + "/alice", "--all", "  "] + common)
        #expect(blank.status == 64 && blank.stderr.contains("the message is empty"), "\(blank)")

        let offline = try await RunningProcess.run("lanchat", ["send", "--home", folder.path + "/alice", "--to", "nobody", "hi"] + common)
        #expect(offline.status != 0)
        #expect(offline.stderr.contains("nobody"))

        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
        let farewell = try await listener.waitForLine("the listener to hear of the shutdown") { $0.contains("shutting down") }
        #expect(farewell.contains("notice") || farewell.contains("disconnected"))
        #expect(try await listener.waitForExit() != 0)
    }

    @Test("a message's control characters and line breaks cannot disguise it in the terminal, and a client's cannot reach the server's log")
    func hostileText() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder)
        let common = ["--server", "127.0.0.1:\(server.port)"]
        let listener = try RunningProcess("lanchat", ["listen", "--name", "bob", "--home", folder.path + "/bob"] + common)
        try await listener.waitForLine("the listener to register") { $0.hasPrefix("Listening as bob") }

        let forged = "hi\n[12:00:00] carol ✓ (private): pay me\u{1B}[2J\u{07}\rend\tof it"
        let sent = try await RunningProcess.run("lanchat", ["send", "--name", "alice", "--home", folder.path + "/alice", "--to", "bob", forged] + common)
        #expect(sent.status == 0, "\(sent.stderr)")
        let shown = "alice (private): hi\n    [12:00:00] carol ✓ (private): pay me?[2J?\n    end    of it"
        try await listener.waitForLine("the message's last line") { $0.contains("end") }
        #expect(listener.output.contains(shown), "\(listener.output)")
        let history = try await RunningProcess.run("lanchat", ["history", "--home", folder.path + "/bob", "--with", "alice"])
        #expect(history.stdout.contains(shown), "\(history.stdout)")
        for output in [listener.output, history.stdout] {
            #expect(!output.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "\(output.debugDescription)")
        }

        let mallory = try await RawClient(port: server.port)
        try await mallory.waitForHandshake()
        try await mallory.send(.hello(Hello(name: "mallory", clientVersion: "raw\n2026-12-02T00:00:00+0000 info lanchat.server: user=admin\u{1B}[8m")))
        try await mallory.waitFor("welcome") { if case .welcome = $0 { true } else { false } }
        let registered = try await server.process.waitForLine("mallory's registration") { $0.contains("user=mallory") && $0.contains("registered") }
        #expect(registered.contains("client=raw?2026-12-02T00:00:00+0000 info lanchat.server: user=admin?[8m"), "\(registered)")
        #expect(!server.process.errorOutput.contains("\u{1B}") && !server.process.errorOutput.contains("\n2026-12-02T00:00:00"))
        await mallory.close()
        listener.signal(SIGTERM)
        _ = try await listener.waitForExit()
        try await server.stop()
    }

    @Test("bad arguments get a clear message and a non-zero exit")
    func badArguments() async throws {
        let folder = try TemporaryFolder()
        let noTarget = try await RunningProcess.run("lanchat", ["send", "--home", folder.path, "hi"])
        #expect(noTarget.status != 0)
        #expect(noTarget.stderr.contains("--to NAME or --all"))
        let badServer = try await RunningProcess.run("lanchat", ["send", "--name", "amy", "--home", folder.path, "--server", "nowhere:99999", "--all", "hi"])
        #expect(badServer.status == 64, "a usage error")
        #expect(badServer.stderr.contains("'nowhere:99999' is not a server address; use HOST:PORT"), "\(badServer.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/identity.pem"), "no identity is made for a command that cannot run")
        let badTrust = try await RunningProcess.run("lanchat", ["trust-server", "--home", folder.path, "--yes", "somewhere:port"])
        #expect(badTrust.status == 64)
        #expect(badTrust.stderr.contains("'somewhere:port' is not a server address"), "\(badTrust.stderr)")
        let twice = try await RunningProcess.run("lanchat", ["trust-server", "--home", folder.path, "127.0.0.1:9", "--server", "127.0.0.1:8"])
        #expect(twice.status == 64)
        #expect(twice.stderr.contains("give the server once"), "\(twice.stderr)")
        let refused = try await RunningProcess.run("lanchat", ["send", "--name", "amy", "--home", folder.path, "--server", "127.0.0.1:1", "--all", "hi"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("cannot connect to 127.0.0.1:1"))
        #expect(refused.stderr.contains("Created the identity amy in \(folder.path); fingerprint "), "\(refused.stderr)")
        // The identity made on first use is encrypted with the passphrase file given.
        #expect(try String(contentsOfFile: folder.path + "/identity.pem", encoding: .utf8).hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let locked = folder.path + "/locked"
        let passphrase = folder.path + "/passphrase"
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: passphrase))
        _ = try await RunningProcess.run("lanchat", ["send", "--name", "amy", "--home", locked, "--passphrase-file", passphrase, "--server", "127.0.0.1:1", "--all", "hi"])
        #expect(try String(contentsOfFile: locked + "/identity.pem", encoding: .utf8).hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        #expect(try KeyFile.readPrivateKey(at: locked + "/identity.pem", passphrase: Array("secret".utf8)).publicKey == LanChatHome(path: locked).publicKey())
    }

    @Test("server addresses: HOST:PORT, HOST, [IPv6]:PORT and bare IPv6 are read; anything else is refused whole, not mangled")
    func serverAddresses() throws {
        let read: [(String, String, Int)] = [
            ("192.168.1.10:1234", "192.168.1.10", 1234), (" 127.0.0.1:9 ", "127.0.0.1", 9), ("relay.lan", "relay.lan", 1234),
            ("my_pc:80", "my_pc", 80), ("[::1]:9", "::1", 9), ("[fe80::1]", "fe80::1", 1234), ("::1", "::1", 1234),
        ]
        for (text, host, port) in read {
            #expect(try ServerAddress(parsing: text) == ServerAddress(host: host, port: port), "\(text)")
        }
        #expect(ServerAddress(host: "::1", port: 9).description == "[::1]:9")
        for text in ["127.0.0.1:42101:5", "", ":9", "host:", "host:0", "host:65536", "host:x", "a b:9", "[::1]x", "[::1", "[]:9", "hôst:9", "1::2::3"] {
            #expect(throws: ClientError.invalidAddress(text), "\(text)") { try ServerAddress(parsing: text) }
        }
    }

    @Test("a server that cannot start says why and what to change, and leaves the data it was given alone")
    func serverStartFailures() async throws {
        let folder = try TemporaryFolder()
        func start(_ arguments: [String]) async throws -> (status: Int32, stderr: String) {
            let run = try await RunningProcess.run("lanchat", ["server", "--host", "127.0.0.1", "--port", "0", "--threads", "1"] + arguments)
            return (run.status, run.stderr)
        }
        let file = folder.path + "/not-a-folder"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: file))
        let onFile = try await start(["--data", file])
        #expect(onFile.status == 1)
        #expect(onFile.stderr.contains("cannot use \(file) as the server's data folder: a file of that name is in the way"), "\(onFile.stderr)")
        #expect(FileManager.default.contents(atPath: file) == Data("keep me".utf8))

        let underFile = try await start(["--data", file + "/server"])
        #expect(underFile.status == 1)
        #expect(underFile.stderr.contains("it cannot be created (not a directory)"), "\(underFile.stderr)")

        let corrupt = folder.path + "/corrupt"
        try FileManager.default.createDirectory(atPath: corrupt, withIntermediateDirectories: true)
        let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try garbage.write(to: URL(fileURLWithPath: corrupt + "/server.sqlite"))
        let onCorrupt = try await start(["--data", corrupt])
        #expect(onCorrupt.status == 1)
        #expect(onCorrupt.stderr.contains("cannot open the server database \(corrupt)/server.sqlite: file is not a database"), "\(onCorrupt.stderr)")
        #expect(FileManager.default.contents(atPath: corrupt + "/server.sqlite") == garbage, "the file is not overwritten")

        let running = try await ServerProcess(folder: folder)
        let onBusyPort = try await RunningProcess.run("lanchat", ["server", "--host", "127.0.0.1", "--port", "\(running.port)", "--data", folder.path + "/second"])
        #expect(onBusyPort.status == 1)
        #expect(onBusyPort.stderr.contains("cannot listen on 127.0.0.1 port \(running.port): another program (perhaps another LanChat server) already uses that port"), "\(onBusyPort.stderr)")
        #expect(running.process.isRunning, "the first server keeps serving")
        try await running.stop()

        let unknownHost = try await RunningProcess.run("lanchat", ["server", "--host", "no-such-host.invalid", "--port", "0", "--data", folder.path + "/third"])
        #expect(unknownHost.status == 1)
        #expect(unknownHost.stderr.contains("cannot listen on no-such-host.invalid port 0: not an address of this machine"), "\(unknownHost.stderr)")

        let tooManyThreads = try await start(["--data", folder.path + "/fourth", "--threads", "100000"])
        #expect(tooManyThreads.status == 64)
        #expect(tooManyThreads.stderr.contains("--threads must be between 1 and 256"))

        let hugeFrames = try await start(["--data", folder.path + "/fifth", "--max-frame-bytes", "99999999999"])
        #expect(hugeFrames.status == 64)
        #expect(hugeFrames.stderr.contains("--max-frame-bytes must be between 1024 and 16777216"))

        // A passphrase-protected server key: the server has nobody to ask, and says what to do.
        let locked = folder.path + "/locked"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: true)
        try KeyFile.writePrivateKey(PrivateKey(), to: locked + "/server.pem", passphrase: Array("secret".utf8))
        let encrypted = try await start(["--data", locked])
        #expect(encrypted.status == 1)
        #expect(encrypted.stderr.contains("the server key \(locked)/server.pem is encrypted, and the server has nobody to ask"), "\(encrypted.stderr)")
    }

    @Test("a server out of descriptors pauses accepting instead of spinning, says why, serves its connected clients and accepts again once descriptors are free")
    func descriptorExhaustion() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder, openFileLimit: 64)
        let bob = try makeIdentity("bob"), bobStore = try ClientStore.inMemory()
        await (try await ChatClient.connect(to: server.address, as: bob, store: bobStore)).close()
        let alice = try await ChatClient.connect(to: server.address, as: makeIdentity("alice"))

        // The kernel completes these connections into the listen backlog; the server runs out of descriptors taking them.
        var held: [FuzzSocket] = []
        for _ in 0..<80 { held.append(try await FuzzSocket(port: server.port)) }
        let warning = try await server.process.waitForLine("the warning") { $0.contains("cannot accept new connections") }
        #expect(warning.contains("(64); raise the limit with `ulimit -n`"), "\(warning)")

        let cpuBefore = try cpuSeconds(of: server.process.pid)
        let receipt = try await alice.sendPrivate("sent while the server is full", to: "bob")
        #expect(receipt.stored == 1)
        try await Task.sleep(for: .seconds(2))
        let cpuUsed = try cpuSeconds(of: server.process.pid) - cpuBefore
        #expect(cpuUsed < 0.5, "the server used \(cpuUsed) s of CPU in 2 s while it could not accept")
        #expect(server.process.errorOutput.components(separatedBy: "cannot accept new connections").count == 2, "one warning, not one per attempt")

        for socket in held { await socket.close() }
        let bobAgain = try await connectWithinSeconds(10, to: server.address, as: bob, store: bobStore)
        let log = EventLog(bobAgain)
        try await log.wait(for: "the stored message") { _ in log.messages.first }
        #expect(log.messages.map(\.text) == ["sent while the server is full"])
        try await server.process.waitForLine("the recovery line") { $0.contains("accepting new connections again") }
        await bobAgain.close()
        await alice.close()
        try await server.stop()
    }
}

/// Connects, retrying while the server still turns connections away.
private func connectWithinSeconds(_ seconds: Double, to address: ServerAddress, as identity: Identity, store: ClientStore) async throws -> ChatClient {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        do {
            return try await ChatClient.connect(to: address, as: identity, store: store)
        } catch where Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

/// User plus system CPU time a process has used, as the benchmark reads it.
private func cpuSeconds(of pid: Int32) throws -> Double {
    try #require(ProcessSample.of(pid)).cpuSeconds
}

private func jsonObject(_ line: String) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}
