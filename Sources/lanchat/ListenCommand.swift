import ArgumentParser
import Foundation
import LanChatClient

struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Print each incoming message as it arrives, for scripts.",
        discussion: "With --json, one object per line: {\"type\":\"message\",\"id\",\"from\",\"text\",\"private\",\"sent_at\"}; presence changes and rejected messages are objects of their own type."
    )

    @OptionGroup var options: ClientOptions

    @Flag(help: "Print JSON lines instead of text.")
    var json = false

    func run() async throws {
        let client = try await options.connect(as: options.identity())
        Console.error("Listening as \(client.identity.name) on \(try options.serverAddress)")
        for await event in client.events {
            Console.line(json ? EventJSON.line(for: event) : EventText.line(for: event))
            if case .disconnected = event { throw ExitCode(3) }
        }
    }
}

/// One JSON object per event, for `listen --json`.
enum EventJSON {
    static func line(for event: ChatEvent) -> String {
        let object: [String: Any] = switch event {
        case let .message(message):
            ["type": "message", "id": message.id, "from": message.sender.name, "text": message.text,
             "private": message.isPrivate, "sent_at": message.sentAt]
        case let .joined(peer): ["type": "joined", "user": peer.name]
        case let .left(peer): ["type": "left", "user": peer.name]
        case let .rejected(reason): ["type": "rejected", "reason": reason]
        case let .keyChanged(name, pinned, presented):
            ["type": "key_changed", "user": name, "pinned_fingerprint": pinned, "presented_fingerprint": presented]
        case let .serverPinned(address, fingerprint): ["type": "server_pinned", "server": address, "fingerprint": fingerprint]
        case let .notice(text): ["type": "notice", "text": text]
        case let .disconnected(reason): ["type": "disconnected", "reason": reason]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// One readable line per event, for `chat` and `listen`.
enum EventText {
    static func line(for event: ChatEvent) -> String {
        switch event {
        case let .message(message):
            "[\(Console.time(message.sentAt))] \(message.sender.name)\(message.sender.isVerified ? " ✓" : "")\(message.isPrivate ? " (private)" : ""): \(MessageText.shown(message.text))"
        case let .joined(peer): "* \(peer.name) joined"
        case let .left(peer): "* \(peer.name) left"
        case let .rejected(reason): "! \(reason)"
        case let .keyChanged(name, pinned, presented):
            """
            !!! WARNING: \(name)'s key has changed. Nothing is sent to or shown from the new key.
            !!!   pinned:    \(pinned)
            !!!   presented: \(presented)
            !!! The server may be substituting its own key. Compare safety numbers with \(name) (/verify \(name)),
            !!! or accept the new key with /trust \(name).
            """
        case let .serverPinned(address, fingerprint): "* first connection to \(address): pinned its key \(fingerprint)"
        case let .notice(text): "* server: \(text)"
        case let .disconnected(reason): "* disconnected: \(reason)"
        }
    }
}
