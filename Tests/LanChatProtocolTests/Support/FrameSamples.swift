import LanChatProtocol
import NIOCore

/// Frames of every type, with the edge cases of each, shared by the codec and decoder suites.
enum FrameSamples {
    /// A distinct 32-byte key.
    static func key(_ seed: UInt8) -> [UInt8] {
        (0..<32).map { seed &+ UInt8($0) }
    }

    /// A buffer of `count` bytes that differ from one another.
    static func bytes(_ count: Int, seed: UInt8 = 0) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { seed &+ UInt8(truncatingIfNeeded: $0 &* 7) })
    }

    /// The longest name a `u8` length allows.
    static let longestName = String(repeating: "n", count: 255)

    static let all: [Frame] = [
        .hello(Hello(name: "alice", clientVersion: "lanchat 1.0")),
        .hello(Hello(name: "bot", clientVersion: "a script", wantsPresence: false)),
        .hello(Hello(name: "bot", clientVersion: "a script", wantsPresence: false, sendsOnly: true)),
        .hello(Hello(name: "alice", clientVersion: "lanchat send", sendsOnly: true)),
        .hello(Hello(name: "alice", clientVersion: "lanchat chat", acknowledgesLive: true)),
        .hello(Hello(protocolVersion: 0xBEEF, name: longestName, clientVersion: "")),
        .hello(Hello(name: "zoë-🦊", clientVersion: longestName)),
        .welcome(Welcome(serverName: "hub", serverVersion: "1.0", online: [])),
        .welcome(Welcome(serverName: longestName, serverVersion: "2.3", online: [
            DirectoryEntry(name: "alice", key: key(1)),
            DirectoryEntry(name: longestName, key: key(2)),
        ])),
        .presence(Presence(event: .joined, user: DirectoryEntry(name: "bob", key: key(3)))),
        .presence(Presence(event: .left, user: DirectoryEntry(name: longestName, key: key(4)))),
        .lookup(Lookup(requestID: 0, name: "carol")),
        .lookup(Lookup(requestID: .max, name: longestName)),
        .lookupResult(LookupResult(requestID: 7, name: "carol", status: .online, key: key(5))),
        .lookupResult(LookupResult(requestID: 8, name: "dave", status: .offline, key: key(6))),
        .lookupResult(LookupResult(requestID: 9, name: "nobody", status: .unknown, key: nil)),
        .send(Send(requestID: 10, header: bytes(48), body: bytes(300, seed: 1), wraps: [
            Send.Wrap(recipient: "bob", wrap: bytes(ProtocolLimits.wrapLength, seed: 2)),
            Send.Wrap(recipient: longestName, wrap: bytes(ProtocolLimits.wrapLength, seed: 3)),
        ])),
        .send(Send(requestID: 11, header: ByteBuffer(), body: ByteBuffer(), wraps: [])),
        .send(Send(requestID: 12, storeForOffline: true, header: bytes(48), body: bytes(20, seed: 6), wraps: [
            Send.Wrap(recipient: "carol", wrap: bytes(ProtocolLimits.wrapLength, seed: 7)),
        ])),
        .deliver(Deliver(header: bytes(48), body: bytes(300, seed: 4), wrap: bytes(ProtocolLimits.wrapLength, seed: 5))),
        .deliver(Deliver(stored: true, header: bytes(48), body: bytes(30, seed: 8), wrap: bytes(ProtocolLimits.wrapLength, seed: 9))),
        .deliver(Deliver(header: ByteBuffer(), body: ByteBuffer(), wrap: ByteBuffer())),
        .ack(Ack(requestID: 12, delivered: 3)),
        .ack(Ack(requestID: 13, delivered: 1, stored: 2, missed: ["erin", longestName])),
        .error(ErrorFrame(requestID: 14, code: .nameTaken, reason: "the name 'alice' is taken")),
        .error(ErrorFrame(code: .unknown, reason: "")),
        .ping(0),
        .pong(.max),
        .bye(""),
        .bye("server shutting down"),
        .deliveryAck(DeliveryAck(messageID: Array(0..<16))),
        .listUsers(requestID: 15),
        .userList(UserList(requestID: 16, users: [])),
        .userList(UserList(requestID: 17, users: [
            UserList.Entry(user: DirectoryEntry(name: "alice", key: key(7)), online: true),
            UserList.Entry(user: DirectoryEntry(name: longestName, key: key(8)), online: false),
        ])),
    ]

    /// The sample with the longest encoding, to split in many places.
    static let largest = all.max { $0.encoded().readableBytes < $1.encoded().readableBytes }!

    /// A frame on the wire: its `u32` length prefix, the type byte, then what `writeBody` writes.
    static func rawFrame(type: UInt8, _ writeBody: (inout ByteBuffer) -> Void = { _ in }) -> ByteBuffer {
        var body = ByteBuffer(integer: type)
        writeBody(&body)
        var frame = ByteBuffer(integer: UInt32(body.readableBytes))
        frame.writeBuffer(&body)
        return frame
    }

    /// `frames` encoded one after another into one buffer.
    static func concatenated(_ frames: [Frame]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for frame in frames { frame.encode(into: &buffer) }
        return buffer
    }
}
