import NIOCore

/// One application frame. On the wire: `u32 length` (of what follows), `u8 type`, then the body described
/// per type in docs/PROTOCOL.md. Byte fields are slices of the received buffer, never copies.
public enum Frame: Equatable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case presence(Presence)
    case lookup(Lookup)
    case lookupResult(LookupResult)
    case send(Send)
    case deliver(Deliver)
    case ack(Ack)
    case error(ErrorFrame)
    case ping(UInt64)
    case pong(UInt64)
    case bye(String)
    case deliveryAck(DeliveryAck)
    case listUsers(requestID: UInt32)
    case userList(UserList)

    /// The type byte of each frame.
    public enum Kind: UInt8, Sendable {
        case hello = 0x01, welcome = 0x02, presence = 0x03, lookup = 0x04, lookupResult = 0x05
        case send = 0x06, deliver = 0x07, ack = 0x08, error = 0x09, ping = 0x0A, pong = 0x0B, bye = 0x0C
        case deliveryAck = 0x0D, listUsers = 0x0E, userList = 0x0F
    }

    public var kind: Kind {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .presence: .presence
        case .lookup: .lookup
        case .lookupResult: .lookupResult
        case .send: .send
        case .deliver: .deliver
        case .ack: .ack
        case .error: .error
        case .ping: .ping
        case .pong: .pong
        case .bye: .bye
        case .deliveryAck: .deliveryAck
        case .listUsers: .listUsers
        case .userList: .userList
        }
    }
}

/// A user and their identity key as the server knows them.
public struct DirectoryEntry: Equatable, Sendable {
    public var name: String
    /// 32-byte X25519 public key.
    public var key: [UInt8]

    public init(name: String, key: [UInt8]) {
        self.name = name
        self.key = key
    }
}

/// Client → server, first frame after the handshake: registers the connection's key under a name.
public struct Hello: Equatable, Sendable {
    public var protocolVersion: UInt16
    public var name: String
    public var clientVersion: String
    /// Whether the client wants the online list in `welcome` and a `presence` frame for every join and leave.
    /// A client that only sends or receives (a bot, a script) can leave it off and costs the relay nothing when
    /// others come and go.
    public var wantsPresence: Bool
    /// Whether the connection only sends (a `send` command beside the user's running chat or bot): it gets no
    /// deliveries, stored or live, and it neither replaces the user's receiving connection nor is replaced by it.
    public var sendsOnly: Bool
    /// Whether the client answers a live direct delivery with `deliveryAck` too, once it has kept it: the server
    /// then holds each one until that answer, and stores those unanswered when the connection ends (a laptop
    /// that went to sleep loses nothing that reached its dead connection).
    public var acknowledgesLive: Bool

    public init(
        protocolVersion: UInt16 = ProtocolLimits.protocolVersion, name: String, clientVersion: String, wantsPresence: Bool = true,
        sendsOnly: Bool = false, acknowledgesLive: Bool = false
    ) {
        self.protocolVersion = protocolVersion
        self.name = name
        self.clientVersion = clientVersion
        self.wantsPresence = wantsPresence
        self.sendsOnly = sendsOnly
        self.acknowledgesLive = acknowledgesLive
    }

    /// The bits of the flags byte.
    static let presenceFlag: UInt8 = 0x01
    static let sendsOnlyFlag: UInt8 = 0x02
    static let acknowledgesLiveFlag: UInt8 = 0x04
}

/// Server → client, answer to a successful `hello`.
public struct Welcome: Equatable, Sendable {
    public var protocolVersion: UInt16
    public var serverName: String
    public var serverVersion: String
    /// Everyone online, the new user included (at most 65535; a longer list is cut).
    public var online: [DirectoryEntry]

    public init(protocolVersion: UInt16 = ProtocolLimits.protocolVersion, serverName: String, serverVersion: String, online: [DirectoryEntry]) {
        self.protocolVersion = protocolVersion
        self.serverName = serverName
        self.serverVersion = serverVersion
        self.online = online
    }
}

/// Server → client: someone came online or went offline.
public struct Presence: Equatable, Sendable {
    public enum Event: UInt8, Sendable { case joined = 1, left = 2 }
    public var event: Event
    public var user: DirectoryEntry

    public init(event: Event, user: DirectoryEntry) {
        self.event = event
        self.user = user
    }
}

/// Client → server: asks for a user's key.
public struct Lookup: Equatable, Sendable {
    public var requestID: UInt32
    public var name: String

    public init(requestID: UInt32, name: String) {
        self.requestID = requestID
        self.name = name
    }
}

/// Server → client: answer to a `lookup`.
public struct LookupResult: Equatable, Sendable {
    public enum Status: UInt8, Sendable { case unknown = 0, online = 1, offline = 2 }
    public var requestID: UInt32
    public var name: String
    public var status: Status
    /// The key, absent when the status is `unknown`.
    public var key: [UInt8]?

    public init(requestID: UInt32, name: String, status: Status, key: [UInt8]?) {
        self.requestID = requestID
        self.name = name
        self.status = status
        self.key = key
    }
}

/// Client → server: one sealed envelope and a wrap for each named recipient.
public struct Send: Equatable, Sendable {
    public struct Wrap: Equatable, Sendable {
        public var recipient: String
        public var wrap: ByteBuffer

        public init(recipient: String, wrap: ByteBuffer) {
            self.recipient = recipient
            self.wrap = wrap
        }
    }

    public var requestID: UInt32
    /// Store the envelope for named recipients who are offline (always done for a direct message).
    public var storeForOffline: Bool
    public var header: ByteBuffer
    public var body: ByteBuffer
    public var wraps: [Wrap]

    public init(requestID: UInt32, storeForOffline: Bool = false, header: ByteBuffer, body: ByteBuffer, wraps: [Wrap]) {
        self.requestID = requestID
        self.storeForOffline = storeForOffline
        self.header = header
        self.body = body
        self.wraps = wraps
    }
}

/// Server → client: one envelope with only this recipient's wrap.
public struct Deliver: Equatable, Sendable {
    /// The server stored this envelope; it keeps it until the client answers with `deliveryAck`.
    public var stored: Bool
    public var header: ByteBuffer
    public var body: ByteBuffer
    public var wrap: ByteBuffer

    public init(stored: Bool = false, header: ByteBuffer, body: ByteBuffer, wrap: ByteBuffer) {
        self.stored = stored
        self.header = header
        self.body = body
        self.wrap = wrap
    }
}

/// Server → client: a `send` was accepted.
public struct Ack: Equatable, Sendable {
    public var requestID: UInt32
    /// Recipients it was written to.
    public var delivered: UInt16
    /// Recipients it was stored for, to be delivered when they connect.
    public var stored: UInt16
    /// Named recipients it could not reach (went offline meanwhile).
    public var missed: [String]

    public init(requestID: UInt32, delivered: UInt16, stored: UInt16 = 0, missed: [String] = []) {
        self.requestID = requestID
        self.delivered = delivered
        self.stored = stored
        self.missed = missed
    }
}

/// Server → client: a refusal with a code and a reason a person can read.
public struct ErrorFrame: Equatable, Sendable, CustomStringConvertible {
    /// The request it answers, or 0 when it concerns the connection.
    public var requestID: UInt32
    public var code: ErrorCode
    public var reason: String

    public init(requestID: UInt32 = 0, code: ErrorCode, reason: String) {
        self.requestID = requestID
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
}

/// Client → server: a stored delivery is safely kept by the client; the server may delete it.
public struct DeliveryAck: Equatable, Sendable {
    /// The 16-byte message id from the envelope header.
    public var messageID: [UInt8]

    public init(messageID: [UInt8]) {
        self.messageID = messageID
    }
}

/// Server → client: every registered user, online or not (answer to `listUsers`).
public struct UserList: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var user: DirectoryEntry
        public var online: Bool

        public init(user: DirectoryEntry, online: Bool) {
            self.user = user
            self.online = online
        }
    }

    public var requestID: UInt32
    public var users: [Entry]

    public init(requestID: UInt32, users: [Entry]) {
        self.requestID = requestID
        self.users = users
    }
}
