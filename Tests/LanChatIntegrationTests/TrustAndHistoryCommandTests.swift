import Foundation
import Testing

@Suite("Trust, offline delivery and history from the command line")
struct TrustAndHistoryCommandTests {
    @Test("send to offline users, history and export, contacts, verify, trust, trust-server and release-name as real processes")
    func commands() async throws {
        let folder = try TemporaryFolder()
        let alice = ["--home", folder.path + "/alice"], bob = ["--home", folder.path + "/bob"]
        var server = try await ServerProcess(folder: folder)
        let at = ["--server", "127.0.0.1:\(server.port)"]
        func lanchat(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await RunningProcess.run("lanchat", arguments)
        }
        func keys(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await RunningProcess.run("lanchat-keys", arguments)
        }

        // bob registers, then goes offline; alice writes to him privately and to everyone including the offline.
        let listening = try RunningProcess("lanchat", ["listen", "--json", "--name", "bob"] + bob + at)
        try await listening.waitForLine("bob to register") { $0.hasPrefix("Listening as bob") }
        listening.signal(SIGTERM)
        _ = try await listening.waitForExit()
        let direct = try await lanchat(["send", "--name", "alice", "--to", "bob", "while you were away"] + alice + at)
        #expect(direct.status == 0 && direct.stdout.contains("bob is offline"), "\(direct.stderr)")
        let everyone = try await lanchat(["send", "--all", "--include-offline", "to everyone"] + alice + at)
        #expect(everyone.status == 0 && everyone.stdout.contains("kept for 1 offline"), "\(everyone.stderr)")

        let bobListens = try RunningProcess("lanchat", ["listen", "--json"] + bob + at)
        try await bobListens.waitForLine("the stored broadcast") { $0.contains("to everyone") }
        #expect(bobListens.output.contains("while you were away"))
        bobListens.signal(SIGTERM)
        _ = try await bobListens.waitForExit()

        // bob's saved chats.
        let history = try await lanchat(["history", "--with", "alice", "--json"] + bob)
        #expect(history.status == 0)
        #expect(history.stdout.split(separator: "\n").count == 2)
        #expect(history.stdout.contains("while you were away") && history.stdout.contains("\"direction\":\"in\""))
        let exported = folder.path + "/bob-chats.json"
        #expect(try await lanchat(["history", "export", "--format", "json", "--out", exported] + bob).status == 0)
        let entries = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: exported))) as? [[String: Any]])
        #expect(entries.map { $0["text"] as? String } == ["while you were away", "to everyone"])
        #expect(try FileManager.default.attributesOfItem(atPath: exported)[.posixPermissions] as? Int == 0o600)
        let again = try await lanchat(["history", "export", "--format", "text", "--out", exported] + bob)
        #expect(again.status != 0 && again.stderr.contains("already exists; refusing to overwrite it (use --force"), "\(again.stderr)")
        #expect(try await lanchat(["history", "export", "--format", "text", "--out", exported, "--force"] + bob).status == 0)
        #expect(try String(contentsOfFile: exported, encoding: .utf8).contains("alice (private): while you were away"))
        let intoFolder = try await lanchat(["history", "export", "--out", folder.path] + bob)
        #expect(intoFolder.status != 0 && intoFolder.stderr.contains("is a folder; give --out a file name"), "\(intoFolder.stderr)")
        #expect(try await lanchat(["history", "--since", "not-a-date"] + bob).status != 0)
        let none = try await lanchat(["history", "--with", "nobody", "--json"] + bob)
        #expect(none.status == 0 && none.stdout.isEmpty && none.stderr.contains("No saved messages with nobody"), "\(none)")

        // A mistyped home is reported, not created.
        let typo = ["--home", folder.path + "/bbo"]
        for command in [try await lanchat(["history"] + typo), try await keys(["contacts"] + typo), try await keys(["trust", "bob"] + typo)] {
            #expect(command.status != 0 && command.stderr.contains("there is no LanChat identity in \(folder.path)/bbo"), "\(command)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/bbo"))

        // alice's contacts and verification.
        let contacts = try await keys(["contacts"] + alice)
        #expect(contacts.status == 0 && contacts.stdout.contains("bob") && contacts.stdout.contains("pinned"), "\(contacts.stdout)")
        let verify = try await keys(["verify", "bob", "--yes"] + alice)
        #expect(verify.status == 0 && verify.stdout.split(whereSeparator: \.isWhitespace).filter { $0.count == 5 && $0.allSatisfy(\.isNumber) }.count >= 12)
        #expect(try await keys(["contacts"] + alice).stdout.contains("verified"))
        // Answering no leaves a contact verified before as it was, and says so; there is no number with oneself.
        let declining = try RunningProcess("lanchat-keys", ["verify", "bob"] + alice, typing: true)
        declining.type("n")
        #expect(try await declining.waitForExit() == 1)
        #expect(declining.output.contains("bob stays verified from before"), "\(declining.output)")
        #expect(try await keys(["contacts"] + alice).stdout.contains("verified"))
        let yourself = try await keys(["verify", "alice", "--yes"] + alice)
        #expect(yourself.status != 0 && yourself.stderr.contains("alice is you"), "\(yourself)")

        // A different server at the same address is refused until trust-server; there a new key claims "bob".
        try await server.stop()
        let released = try await lanchat(["server", "release-name", "bob", "--data", server.dataDirectory])
        #expect(released.status == 0 && released.stdout.contains("Released 'bob'"))
        #expect(try await lanchat(["server", "release-name", "bob", "--data", server.dataDirectory]).status != 0)
        server = try await ServerProcess(folder: folder, data: "other-server", port: server.port)
        let refused = try await lanchat(["send", "--all", "hi"] + alice + at)
        #expect(refused.status != 0 && refused.stderr.contains("HAS CHANGED"))
        #expect(refused.stderr.contains("run: lanchat trust-server 127.0.0.1:\(server.port) --home \(folder.path)/alice\n"), "\(refused.stderr)")
        // The server may also be named with --server; answering no changes nothing, and the question comes first.
        let declined = try RunningProcess("lanchat", ["trust-server"] + at + alice, typing: true)
        declined.type("n")
        #expect(try await declined.waitForExit() != 0)
        #expect(declined.output.contains("presents the key SHA256:") && declined.output.hasSuffix("[y/N] "), "\(declined.output)")
        #expect(declined.errorOutput.contains("not trusted; nothing changed"), "\(declined.errorOutput)")
        let trusted = try await lanchat(["trust-server", "127.0.0.1:\(server.port)", "--yes"] + alice)
        #expect(trusted.status == 0 && trusted.stdout.contains("Now trusting SHA256:"), "\(trusted.stderr)")

        let impostor = try RunningProcess("lanchat", ["listen", "--name", "bob", "--home", folder.path + "/impostor"] + at)
        try await impostor.waitForLine("the new bob to register") { $0.hasPrefix("Listening as bob") }
        let toChanged = try await lanchat(["send", "--to", "bob", "secret"] + alice + at)
        #expect(toChanged.status != 0 && toChanged.stderr.contains("key has changed"))
        #expect(toChanged.stderr.contains("'lanchat-keys verify bob --home \(folder.path)/alice'"), "\(toChanged.stderr)")
        let trustVerified = try await keys(["trust", "bob"] + alice)
        #expect(trustVerified.status != 0 && trustVerified.stderr.contains("verify"))
        #expect(try await keys(["contacts"] + alice).stdout.contains("changed"))
        #expect(try await keys(["verify", "bob", "--yes"] + alice).status == 0)
        #expect(try await lanchat(["send", "--to", "bob", "after verifying"] + alice + at).status == 0)
        impostor.signal(SIGTERM)
        _ = try await impostor.waitForExit()
        try await server.stop()
    }
}

extension TrustAndHistoryCommandTests {
    @Test("a damaged client database is named, with what to do, and left as it was")
    func damagedClientDatabase() async throws {
        let folder = try TemporaryFolder()
        let home = ["--home", folder.path + "/alice"]
        #expect(try await RunningProcess.run("lanchat-keys", ["generate", "--name", "alice"] + home).status == 0)
        let database = folder.path + "/alice/client.sqlite"
        let garbage = Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
        try garbage.write(to: URL(fileURLWithPath: database))
        for (command, arguments) in [("lanchat", ["history"]), ("lanchat-keys", ["contacts"]), ("lanchat", ["send", "--all", "hi", "--server", "127.0.0.1:9"])] {
            let result = try await RunningProcess.run(command, arguments + home)
            #expect(result.status != 0, "\(command) \(arguments)")
            #expect(result.stderr.contains("cannot open the client database \(database): file is not a database; it is damaged"), "\(result.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: database)) == garbage)
    }
}
