import LanChatCrypto
import LanChatProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A protocol-level client that sends any frame it is told to, for testing how the relay treats
/// misbehaving peers. It completes the real Noise handshake with its own static key.
final class RawClient: Sendable {
    let channel: any Channel
    let key: PrivateKey
    private let received = NIOLockedValueBox<[Frame]>([])
    private let handshake: EventLoopFuture<Void>

    init(port: Int, key: PrivateKey = try! PrivateKey(), prologue: [UInt8] = ProtocolLimits.noisePrologue) async throws {
        self.key = key
        let received = received
        let group = MultiThreadedEventLoopGroup.singleton
        let handshakePromise = group.next().makePromise(of: Void.self)
        handshake = handshakePromise.futureResult
        channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        NoiseChannelHandler(role: .initiator, localStatic: key, prologue: prologue),
                        ByteToMessageHandler(FrameDecoder()),
                        Collector(received: received, handshake: handshakePromise),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
    }

    var frames: [Frame] { received.withLockedValue { $0 } }

    func waitForHandshake() async throws { try await handshake.get() }

    func send(_ frame: Frame) async throws {
        try await channel.writeAndFlush(frame.encoded())
    }

    /// Sends raw plaintext bytes inside the encrypted stream.
    func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Registers with `hello` and waits for `welcome`.
    func register(as name: String, wantsPresence: Bool = true, sendsOnly: Bool = false, acknowledgesLive: Bool = false) async throws {
        try await waitForHandshake()
        try await send(.hello(Hello(name: name, clientVersion: "raw-test", wantsPresence: wantsPresence, sendsOnly: sendsOnly, acknowledgesLive: acknowledgesLive)))
        try await waitFor("welcome") { if case .welcome = $0 { true } else { false } }
    }

    @discardableResult
    func waitFor(_ what: String, timeout: Double = 10, _ predicate: @escaping (Frame) -> Bool) async throws -> Frame {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            if let frame = frames.first(where: predicate) { return frame }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw RawClientTimeout(what: what, frames: frames)
    }

    /// Waits for an `error` frame and returns it.
    func waitForError(timeout: Double = 10) async throws -> ErrorFrame {
        let frame = try await waitFor("error", timeout: timeout) { if case .error = $0 { true } else { false } }
        guard case let .error(error) = frame else { fatalError("unreachable") }
        return error
    }

    /// Waits until the server has closed the connection.
    func waitForClose(timeout: Double = 10) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while channel.isActive, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        if channel.isActive { throw RawClientTimeout(what: "close", frames: frames) }
    }

    func close() async { try? await channel.close() }
}

struct RawClientTimeout: Error, CustomStringConvertible {
    let what: String
    let frames: [Frame]
    var description: String { "timed out waiting for \(what); frames: \(frames)" }
}

private final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame

    private let received: NIOLockedValueBox<[Frame]>
    private let handshake: EventLoopPromise<Void>

    init(received: NIOLockedValueBox<[Frame]>, handshake: EventLoopPromise<Void>) {
        self.received = received
        self.handshake = handshake
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is NoiseHandshakeCompleted { handshake.succeed() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        received.withLockedValue { $0.append(frame) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshake.fail(ChannelError.ioOnClosedChannel)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
