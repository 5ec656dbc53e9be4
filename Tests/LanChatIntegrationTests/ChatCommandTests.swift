import Foundation
import LanChatClient
import Testing
@testable import lanchat

@Suite("lanchat chat as real processes, typed into")
struct ChatCommandTests {
    @Test("two people chat, privately and to all, compare the same safety number and verify each other")
    func chatAndVerify() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder)
        let at = ["--server", "127.0.0.1:\(server.port)"]
        let bob = try RunningProcess("lanchat", ["chat", "--name", "bob", "--home", folder.path + "/bob"] + at, typing: true)
        try await bob.waitForLine("bob to connect") { $0.hasPrefix("* connected to") }
        let alice = try RunningProcess("lanchat", ["chat", "--name", "alice", "--home", folder.path + "/alice"] + at, typing: true)
        try await alice.waitForLine("alice to connect") { $0.hasPrefix("* connected to") }
        try await bob.waitForLine("alice to join") { $0 == "* alice joined" }

        alice.type("hello everyone")
        try await bob.waitForLine("the broadcast") { $0.hasSuffix("] alice: hello everyone") }
        alice.type("/msg bob just for you")
        try await bob.waitForLine("the private message") { $0.hasSuffix("] alice (private): just for you") }
        bob.type("/msg alice got it")
        try await alice.waitForLine("bob's answer") { $0.hasSuffix("] bob (private): got it") }

        alice.type("/msg bob")
        try await alice.waitForLine("the usage of /msg") { $0.hasPrefix("Usage: /msg NAME TEXT") }
        alice.type("/frobnicate")
        try await alice.waitForLine("the unknown command") { $0 == "Unknown command /frobnicate; type /help" }
        alice.type("/who")
        try await alice.waitForLine("bob online, not verified yet") { $0.hasPrefix("  bob ") && $0.hasSuffix("pinned, not verified") }

        alice.type("/verify bob")
        bob.type("/verify alice")
        let aliceSees = try await alice.waitForLine("alice's safety number") { Self.isSafetyNumber($0) }
        let bobSees = try await bob.waitForLine("bob's safety number") { Self.isSafetyNumber($0) }
        #expect(aliceSees == bobSees)
        alice.type("y")
        bob.type("no")
        try await alice.waitForLine("bob verified") { $0 == "bob is verified ✓" }
        try await bob.waitForLine("alice not verified") { $0 == "Not verified." }
        bob.type("/msg alice still me")
        try await alice.waitForLine("a message from a verified sender") { $0.hasSuffix("] bob ✓ (private): still me") }
        alice.type("/who")
        try await alice.waitForLine("bob verified in /who") { $0.hasPrefix("  bob ") && $0.hasSuffix("✓ verified") }
        alice.type("/verify bob")
        alice.type("n")
        try await alice.waitForLine("bob still verified") { $0.hasPrefix("bob stays verified from before") }
        alice.type("/verify alice")
        try await alice.waitForLine("no number with herself") { $0 == "! alice is you: a safety number is compared with someone else" }

        alice.type("/quit")
        #expect(try await alice.waitForExit() == 0)
        try await bob.waitForLine("alice to leave") { $0 == "* alice left" }
        bob.type("/quit")
        #expect(try await bob.waitForExit() == 0)
        let history = try await RunningProcess.run("lanchat", ["history", "--with", "bob", "--home", folder.path + "/alice"])
        let saved = history.stdout.split(separator: "\n").map { $0.split(separator: ": ", maxSplits: 1).last.map(String.init) }
        #expect(saved == ["just for you", "got it", "still me"], "\(history.stdout)")
        #expect(try await server.stop() == 0)
    }

    @Test("on first use the chat asks for a user name until it gets a valid one")
    func asksForName() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder)
        let carol = try RunningProcess("lanchat", ["chat", "--home", folder.path + "/carol", "--server", "127.0.0.1:\(server.port)"], typing: true)
        carol.type("carol smith")
        carol.type("")
        carol.type(" carol ")
        try await carol.waitForLine("the identity made") { $0.contains("You are carol; your fingerprint: ") }
        #expect(carol.output.contains("the user name 'carol smith' may only contain the ASCII letters a-z and A-Z, digits, '_', '-' and '.'; try again"), "\(carol.output)")
        #expect(carol.output.components(separatedBy: "Enter username: ").count == 4, "asked three times: \(carol.output)")
        try await carol.waitForLine("carol to connect") { $0.hasPrefix("* connected to") }
        carol.type("/quit")
        #expect(try await carol.waitForExit() == 0)
        #expect(try String(contentsOfFile: folder.path + "/carol/name", encoding: .utf8) == "carol\n")
        #expect(try await server.stop() == 0)
    }

    @Test("a second chat of the same home takes over and the first stops with status 2, once")
    func secondChatOfOneHome() async throws {
        let folder = try TemporaryFolder()
        let server = try await ServerProcess(folder: folder)
        let at = ["--server", "127.0.0.1:\(server.port)"]
        let bobHome = ["--name", "bob", "--home", folder.path + "/bob"]
        let first = try RunningProcess("lanchat", ["chat"] + bobHome + at, typing: true)
        try await first.waitForLine("the first chat to connect") { $0.hasPrefix("* connected to") }
        let second = try RunningProcess("lanchat", ["chat"] + bobHome + at, typing: true)
        try await second.waitForLine("the second chat to connect") { $0.hasPrefix("* connected to") }

        #expect(try await first.waitForExit() == 2)
        #expect(first.output.contains("!! stopped: bob connected again from elsewhere"), "\(first.output)")
        let alice = try await RunningProcess.run("lanchat", ["send", "--name", "alice", "--home", folder.path + "/alice", "--to", "bob", "who is there?"] + at)
        #expect(alice.stdout.contains("Sent to bob"), "\(alice.stdout) \(alice.stderr)")
        try await second.waitForLine("the message in the chat that stayed") { $0.hasSuffix("] alice (private): who is there?") }
        #expect(second.outputLines.filter { $0.hasPrefix("* connected to") }.count == 1, "\(second.output)")
        second.type("/quit")
        #expect(try await second.waitForExit() == 0)
        #expect(try await server.stop() == 0)
    }

    @Test("text from the outbox is shown with its control characters replaced, like everyone else's")
    func outboxTextIsShownSafely() {
        let pasted = "fine\u{1B}[2J\u{1B}]0;owned\u{07}\nsecond line"
        for event in [ChatConnection.Event.sentFromOutbox(text: pasted, to: "bob"), .outboxRefused(text: pasted, reason: "gone")] {
            let shown = ConnectionText.line(for: event)
            #expect(!shown.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "\(shown.debugDescription)")
            #expect(shown.contains("fine?[2J?]0;owned?\n    second line"), "\(shown.debugDescription)")
        }
    }

    /// Twelve groups of five digits: a safety number as `chat` prints it.
    private static func isSafetyNumber(_ line: String) -> Bool {
        let groups = line.split(separator: " ")
        return groups.count == 12 && groups.allSatisfy { $0.count == 5 && $0.allSatisfy(\.isNumber) }
    }
}
