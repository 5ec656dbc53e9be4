import ArgumentParser
import LanChatClient

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat interactively: typed lines go to everyone; /help lists commands."
    )

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let input = StandardInput.lines()
        var lines = input.makeAsyncIterator()
        let identity = try options.identity {
            print("Enter username: ", terminator: "")
            return readLine()
        }
        let client = try await options.connect(as: identity)
        Console.line("Connected to \(client.serverName) at \(try options.serverAddress) as \(identity.name).")
        Console.line("Your fingerprint: \(identity.fingerprint)")
        Console.line(ChatSession.help)
        let session = ChatSession(client: client)
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
          /who             list who is online, with fingerprints
          /help            show this help
          /quit            leave (Ctrl-D works too)
        """

    let client: ChatClient

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
                for peer in peers { Console.line("  \(peer.name)  \(peer.fingerprint)") }
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
}
