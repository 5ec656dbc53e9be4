import LanChatProtocol
import NIOCore
import Testing

@Suite("Text from the other side is printable")
struct PrintableTextTests {
    /// Clears the screen, rings, returns the cursor to overwrite the line, starts a new line, reverses the rest.
    static let hostile = "a\u{1B}[2J\u{07}b\rc\nd\u{202E}e\u{85}f\u{7F}"
    static let hostileShown = "a?[2J?b?c?d?e?f?"

    @Test(
        "control and bidirectional formatting characters become ?; everything else is kept",
        arguments: [
            (hostile, hostileShown),
            ("plain ASCII, with punctuation: ok?", "plain ASCII, with punctuation: ok?"),
            ("Zoë says 你好 👋🏽 — ✓", "Zoë says 你好 👋🏽 — ✓"),
            ("tab\there", "tab?here"),
            ("\u{061C}\u{200E}\u{200F}\u{202A}\u{2066}\u{2069}", "??????"),
            ("", ""),
        ]
    )
    func line(text: String, shown: String) {
        #expect(PrintableText.line(text) == shown)
    }

    @Test("every string field of a frame is decoded as printable text, whatever the sender wrote")
    func decodedFields() throws {
        let key = [UInt8](repeating: 9, count: 32)
        let written: [Frame] = [
            .hello(Hello(name: Self.hostile, clientVersion: Self.hostile)),
            .welcome(Welcome(serverName: Self.hostile, serverVersion: Self.hostile, online: [DirectoryEntry(name: Self.hostile, key: key)])),
            .presence(Presence(event: .joined, user: DirectoryEntry(name: Self.hostile, key: key))),
            .lookup(Lookup(requestID: 1, name: Self.hostile)),
            .lookupResult(LookupResult(requestID: 1, name: Self.hostile, status: .online, key: key)),
            .ack(Ack(requestID: 2, delivered: 0, missed: [Self.hostile])),
            .error(ErrorFrame(code: .badEnvelope, reason: Self.hostile)),
            .bye(Self.hostile),
            .userList(UserList(requestID: 3, users: [UserList.Entry(user: DirectoryEntry(name: Self.hostile, key: key), online: true)])),
        ]
        let shown = Self.hostileShown
        let expected: [Frame] = [
            .hello(Hello(name: shown, clientVersion: shown)),
            .welcome(Welcome(serverName: shown, serverVersion: shown, online: [DirectoryEntry(name: shown, key: key)])),
            .presence(Presence(event: .joined, user: DirectoryEntry(name: shown, key: key))),
            .lookup(Lookup(requestID: 1, name: shown)),
            .lookupResult(LookupResult(requestID: 1, name: shown, status: .online, key: key)),
            .ack(Ack(requestID: 2, delivered: 0, missed: [shown])),
            .error(ErrorFrame(code: .badEnvelope, reason: shown)),
            .bye(shown),
            .userList(UserList(requestID: 3, users: [UserList.Entry(user: DirectoryEntry(name: shown, key: key), online: true)])),
        ]
        for (frame, decoded) in zip(written, expected) {
            var wire = frame.encoded()
            #expect(try FrameDecoder().nextFrame(&wire) == decoded, "\(frame.kind)")
        }
    }

    @Test("a longest name of the worst characters still fits its field when echoed back", arguments: ["\u{01}", "\u{85}", "\u{202E}"])
    func echoFits(character: String) throws {
        let count = 255 / character.utf8.count
        var wire = Frame.lookup(Lookup(requestID: 1, name: String(repeating: character, count: count))).encoded()
        guard case let .lookup(lookup) = try FrameDecoder().nextFrame(&wire) else { Issue.record("not a lookup"); return }
        #expect(lookup.name == String(repeating: "?", count: count))
        var answer = Frame.lookupResult(LookupResult(requestID: 1, name: lookup.name, status: .unknown, key: nil)).encoded()
        #expect(try FrameDecoder().nextFrame(&answer) == .lookupResult(LookupResult(requestID: 1, name: lookup.name, status: .unknown, key: nil)))
    }

    @Test("a send frame's recipient names read as printable text")
    func sendRecipients() throws {
        let send = Send(requestID: 1, header: ByteBuffer(), body: ByteBuffer(), wraps: [
            Send.Wrap(recipient: Self.hostile, wrap: ByteBuffer(bytes: [1])),
            Send.Wrap(recipient: "bob", wrap: ByteBuffer(bytes: [2])),
        ])
        var wire = Frame.send(send).encoded()
        wire.moveReaderIndex(forwardBy: 4)
        let view = try SendView(decoding: wire)
        #expect(view.recipientNames == [Self.hostileShown, "bob"])
        #expect(view.wrap(at: 0).recipient == Self.hostileShown)
    }
}
