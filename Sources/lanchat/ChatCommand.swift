import ArgumentParser
import LanChatClient

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat interactively: typed lines go to everyone; /help lists commands."
    )

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let lines = LineReader(StandardInput.lines())
        let identity = try options.identity {
            print("Enter username: ", terminator: "")
            return readLine()
        }
        let client = try await options.connect(as: identity)
        Console.line("Connected to \(client.serverName) at \(try options.serverAddress) as \(identity.name).")
        Console.line("Your fingerprint: \(identity.fingerprint)")
        Console.line(ChatSession.help)
        let session = ChatSession(client: client, lines: lines)
        let printer = Task {
            for await event in client.events { Console.line(EventText.line(for: event)) }
        }
        while let line = await lines.next() {
            guard await session.handle(line) else { break }
        }
        await client.close()
        printer.cancel()
    }
}

/// Interprets what the user types in `chat`.
struct ChatSession {
    static let help = """
        Type a message and press Enter to send it to everyone.
          /msg NAME TEXT   send TEXT privately to NAME
          /who             list who is online, with fingerprints (✓ = verified)
          /verify NAME     compare safety numbers with NAME and mark them verified
          /trust NAME      accept NAME's changed key
          /help            show this help
          /quit            leave (Ctrl-D works too)
        """

    let client: ChatClient
    let lines: LineReader

    /// Handles one typed line; false when the user wants to leave.
    func handle(_ line: String) async -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return true }
        let words = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        do {
            switch words[0] {
            case "/quit", "/exit":
                return false
            case "/help":
                Console.line(Self.help)
            case "/who":
                let peers = client.peers
                Console.line(peers.isEmpty ? "Nobody else is online." : "Online:")
                for peer in peers { Console.line("  \(peer.name)  \(peer.fingerprint)  \(Self.mark(peer.state))") }
            case "/trust":
                guard words.count == 2 else {
                    Console.line("Usage: /trust NAME")
                    return true
                }
                let contact = try client.trust(String(words[1]))
                Console.line("Accepted \(contact.name)'s new key \(contact.fingerprint). Verify it with /verify \(contact.name).")
            case "/verify":
                guard words.count == 2 else {
                    Console.line("Usage: /verify NAME")
                    return true
                }
                try await verify(String(words[1]))
            case "/msg":
                guard words.count == 3 else {
                    Console.line("Usage: /msg NAME TEXT")
                    return true
                }
                try await client.sendPrivate(String(words[2]), to: String(words[1]))
            case let command where command.hasPrefix("/"):
                Console.line("Unknown command \(command); type /help")
            default:
                try await client.broadcast(trimmed)
            }
        } catch {
            Console.line("! \(error)")
        }
        return true
    }

    private func verify(_ name: String) async throws {
        let number = try client.safetyNumber(with: name)
        Console.line("Safety number with \(name):\n  \(number)")
        Console.line("Compare it with what \(name) sees (in person or by phone). Does it match exactly? [y/N]")
        guard let answer = await lines.next(), answer.lowercased().hasPrefix("y") else {
            Console.line("Not verified.")
            return
        }
        try client.markVerified(name)
        Console.line("\(name) is verified ✓")
    }

    static func mark(_ state: Contact.State?) -> String {
        switch state {
        case .verified: "✓ verified"
        case .changed: "!! KEY CHANGED: blocked"
        case .pinned, .new: "pinned, not verified"
        case nil: ""
        }
    }
}

/// Reads typed lines one at a time, for commands that ask a follow-up question.
final class LineReader {
    private var iterator: AsyncStream<String>.Iterator

    init(_ lines: AsyncStream<String>) {
        iterator = lines.makeAsyncIterator()
    }

    func next() async -> String? {
        await iterator.next()
    }
}
