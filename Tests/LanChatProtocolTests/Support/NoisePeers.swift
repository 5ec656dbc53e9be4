import LanChatCrypto
import LanChatProtocol
import NIOCore
import NIOEmbedded
import Testing

/// Sits after the Noise handler and records handshake completions and errors. Errors stop here, so a failing
/// handler does not make the next `writeInbound` throw.
final class NoiseEventRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private(set) var completions: [NoiseHandshakeCompleted] = []
    private(set) var errors: [any Error] = []

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let completed = event as? NoiseHandshakeCompleted { completions.append(completed) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
    }
}

/// One side of a connection: an `EmbeddedChannel` with [Noise handler, recorder].
struct NoisePeer {
    let key: PrivateKey
    let channel: EmbeddedChannel
    let noise: NoiseChannelHandler
    let events = NoiseEventRecorder()

    init(role: NoiseHandshakeState.Role, prologue: [UInt8] = ProtocolLimits.noisePrologue, handshakeTimeout: TimeAmount = .seconds(10)) throws {
        key = try PrivateKey()
        channel = EmbeddedChannel()
        noise = try NoiseChannelHandler(role: role, localStatic: key, prologue: prologue, handshakeTimeout: handshakeTimeout)
        try channel.pipeline.syncOperations.addHandlers(noise, events)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7777)).wait()
    }

    /// Writes each of `pieces` as its own buffer, then flushes once.
    func send(_ pieces: [[UInt8]]) {
        for piece in pieces { channel.write(ByteBuffer(bytes: piece), promise: nil) }
        channel.flush()
    }

    /// All plaintext that reached the application, concatenated.
    func received() throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }
}

/// A client (initiator) and a server (responder) whose outbound bytes are carried to each other by `pump()`.
struct NoisePeers {
    let client: NoisePeer
    let server: NoisePeer
    /// Every buffer either side put on the wire, in the order it was carried.
    private(set) var wire: [ByteBuffer] = []

    init(serverPrologue: [UInt8] = ProtocolLimits.noisePrologue, handshakeTimeout: TimeAmount = .seconds(10)) throws {
        server = try NoisePeer(role: .responder, prologue: serverPrologue, handshakeTimeout: handshakeTimeout)
        client = try NoisePeer(role: .initiator, handshakeTimeout: handshakeTimeout)
    }

    /// Creates the pair and runs the handshake to completion.
    static func connected() throws -> NoisePeers {
        var peers = try NoisePeers()
        try peers.pump()
        try #require(peers.client.events.completions.count == 1 && peers.server.events.completions.count == 1)
        return peers
    }

    /// Carries outbound bytes from each side to the other until neither has anything left to send.
    mutating func pump() throws {
        var carried = true
        while carried {
            let fromClient = try carry(from: client, to: server)
            let fromServer = try carry(from: server, to: client)
            carried = fromClient || fromServer
        }
    }

    /// Delivers `buffer` to `peer` as if it had come off the wire.
    mutating func deliver(_ buffer: ByteBuffer, to peer: NoisePeer) throws {
        wire.append(buffer)
        try peer.channel.writeInbound(buffer)
    }

    private mutating func carry(from sender: NoisePeer, to receiver: NoisePeer) throws -> Bool {
        var carried = false
        while let buffer = try sender.channel.readOutbound(as: ByteBuffer.self) {
            try deliver(buffer, to: receiver)
            carried = true
        }
        return carried
    }

    /// All bytes carried so far, concatenated.
    var wireBytes: [UInt8] { wire.flatMap { Array($0.readableBytesView) } }

    /// Closes both channels and expects nothing left unread on either.
    func finish() throws {
        #expect(try client.channel.finish(acceptAlreadyClosed: true).isClean)
        #expect(try server.channel.finish(acceptAlreadyClosed: true).isClean)
    }
}

extension ByteBuffer {
    /// Where the readable bytes start in memory, to tell whether two buffers share their storage.
    var storageAddress: UInt {
        withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
    }

    /// Whether this buffer holds the only reference to its storage (no handler keeps it alive).
    mutating func ownsStorageAlone() -> Bool {
        modifyIfUniquelyOwned { _ in true } ?? false
    }

    /// The lengths of the 2-byte length-prefixed messages this buffer holds, which must fill it exactly.
    func noiseMessageLengths() throws -> [Int] {
        var buffer = self
        var lengths: [Int] = []
        while buffer.readableBytes > 0 {
            let length = buffer.readInteger(as: UInt16.self)
            let message = length.flatMap { buffer.readSlice(length: Int($0)) }
            lengths.append(try #require(message).readableBytes)
        }
        return lengths
    }
}
