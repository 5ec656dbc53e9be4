import ArgumentParser
import Foundation
import LanChatClient
import LanChatProtocol

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat interactively: typed lines go to everyone; /help lists commands.",
        discussion: """
            The chat reconnects by itself when the server goes away; what you type meanwhile waits in the outbox. \
            It stops (exit status 2) when reconnecting cannot help: the server's key changed, the name belongs to \
            another key, or a newer chat of the same identity took over.
            """
    )

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let identity = try options.identity {
            while true {
                print("Enter username: ", terminator: "")
                fflush(nil)
                guard let typed = readLine() else { return nil }
                do {
                    return try UserName(typed.trimmingCharacters(in: .whitespaces)).value
                } catch {
                    Console.line("\(error); try again")
                }
            }
        }
        let store = try ClientStore(home: options.resolvedHome)
        let connection = ChatConnection(to: try options.serverAddress, as: identity, store: store)
        Console.line("You are \(identity.name); your fingerprint: \(identity.fingerprint)")
        Console.line(ChatSession.help)
        await connection.start()
        let stopped = await withTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                let session = ChatSession(connection: connection, identity: identity, store: store, lines: LineReader(StandardInput.lines()))
                while let line = await session.lines.next() {
                    guard await session.handle(line) else { break }
                }
                return false
            }
            tasks.addTask {
                for await event in connection.events {
                    Console.line(ConnectionText.line(for: event))
                    if case .stopped = event { return true }
                }
                return false
            }
            let first = await tasks.next() ?? false
            tasks.cancelAll()
            return first
        }
        await connection.close()
        if stopped { throw ExitCode(2) }
    }
}

/// Interprets what the user types in `chat`.
struct ChatSession {
    static let help = """
        Type a message and press Enter to send it to everyone online.
          /msg NAME TEXT   send TEXT privately to NAME (kept for them if they are offline)
          /all+ TEXT       send to everyone, also those offline (kept for them)
          /who             list who is online, with fingerprints (✓ = verified)
          /verify NAME     compare safety numbers with NAME and mark them verified
          /trust NAME      accept NAME's changed key
          /history [NAME]  show saved messages (with NAME only)
          /help            show this help
          /quit            leave (Ctrl-D works too)
        """

    /// The help line of `command` ("/msg NAME TEXT   send TEXT privately to NAME …").
    static func usage(of command: Substring) -> String {
        let lines = help.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        return lines.first { $0.hasPrefix(command + " ") } ?? "see /help"
    }

    let connection: ChatConnection
    let identity: Identity
    let store: ClientStore
    let lines: LineReader

    /// Handles one typed line; false when the user wants to leave.
    func handle(_ line: String) async -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return true }
        let words = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        if StandardInput.mayBeCut(line) {
            Console.line("! the terminal passes at most \(StandardInput.terminalLineLimit) bytes of a typed line, so this one may have been cut; for longer texts use: lanchat send --to NAME - < FILE")
        }
        do {
            switch words[0] {
            case "/quit", "/exit":
                return false
            case "/help":
                Console.line(Self.help)
            case "/who":
                try await who()
            case "/msg" where words.count == 3:
                report(try await connection.send(String(words[2].drop { $0 == " " }), to: String(words[1])), to: String(words[1]))
            case "/all+" where words.count >= 2:
                let text = trimmed.dropFirst("/all+".count).trimmingCharacters(in: .whitespaces)
                report(try await connection.send(text, to: nil, includeOffline: true), to: nil)
            case "/trust" where words.count == 2:
                let contact = try await connection.trust(String(words[1]))
                Console.line("Accepted \(contact.name)'s new key \(contact.fingerprint). Verify it with /verify \(contact.name).")
            case "/verify" where words.count == 2:
                try await verify(String(words[1]))
            case "/history":
                showHistory(with: words.count >= 2 ? String(words[1]) : nil)
            case let command where ["/msg", "/all+", "/trust", "/verify"].contains(command):
                Console.line("Usage: \(Self.usage(of: command))")
            case let command where command.hasPrefix("/"):
                Console.line("Unknown command \(command); type /help")
            default:
                report(try await connection.send(trimmed, to: nil), to: nil)
            }

        } catch {
            Console.line("! \(error)")
        }
        return true
    }

    private func who() async throws {
        guard let client = await connection.client else {
            Console.line("Not connected right now.")
            return
        }
        let peers = client.peers
        Console.line(peers.isEmpty ? "Nobody else is online." : "Online:")
        for peer in peers { Console.line("  \(peer.name)  \(peer.fingerprint)  \(Self.mark(peer.state))") }
    }

    private func report(_ outcome: ChatConnection.SendOutcome, to recipient: String?) {
        switch outcome {
        case let .sent(receipt):
            if receipt.stored > 0 { Console.line("* kept on the server for \(recipient ?? "\(receipt.stored) offline user(s)") until they connect") }
            if !receipt.skipped.isEmpty { Console.line("! not sent to \(receipt.skipped.joined(separator: ", ")): their key changed (see /verify, /trust)") }
        case .queued:
            Console.line("* not connected: kept in the outbox, sent when the server is back")
        }
    }

    private func verify(_ name: String) async throws {
        let number = identity.safetyNumber(with: name, key: try store.keyToVerify(name: name, me: identity.name.value))
        Console.line("Safety number with \(name):\n  \(number)")
        Console.line("Compare it with what \(name) sees (in person or by phone). Does it match exactly? [y/N]")
        guard let answer = await lines.next(), answer.lowercased().hasPrefix("y") else {
            Console.line(try store.contact(named: name)?.notConfirmedNotice ?? "Not verified.")
            return
        }
        try await connection.markVerified(name)
        Console.line("\(name) is verified ✓")
    }

    private func showHistory(with peer: String?) {
        do {
            let entries = try store.history(with: peer).suffix(50)
            if entries.isEmpty { Console.line(HistoryText.nothingSaved(with: peer)) }
            for entry in entries { Console.line(HistoryText.line(for: entry)) }
        } catch {
            Console.line("! cannot read the history: \(error)")
        }
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
final class LineReader: @unchecked Sendable {
    // Used by one task at a time: the chat's input loop.
    private var iterator: AsyncStream<String>.Iterator

    init(_ lines: AsyncStream<String>) {
        iterator = lines.makeAsyncIterator()
    }

    func next() async -> String? {
        await iterator.next()
    }
}

/// One readable line per connection event.
enum ConnectionText {
    static func line(for event: ChatConnection.Event) -> String {
        switch event {
        case let .connected(server): "* connected to \(server)"
        case let .chat(event): EventText.line(for: event)
        case let .reconnecting(after, reason): "* \(reason); reconnecting in \(Console.seconds(after))"
        case let .sentFromOutbox(text, recipient): "* sent from the outbox\(recipient.map { " to \($0)" } ?? ""): \(MessageText.shown(text))"
        case let .outboxRefused(text, reason): "! could not send '\(MessageText.shown(text))' from the outbox: \(reason)"
        case let .stopped(reason): "!! stopped: \(reason)"
        }
    }
}
