import Foundation
import LanChatCrypto
import LanChatProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

// Helpers for `LimitsTests`: a log recorder, a client that can stop reading, and polling.

/// Keeps every line a `Logger` made from it emits, so a test can check what the server reported.
final class LimitsLogRecorder: Sendable {
    struct Entry: Sendable, CustomStringConvertible {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
        var description: String { "[\(level)] \(message) \(metadata)" }
    }

    private let box = NIOLockedValueBox<[Entry]>([])

    /// A logger (level `.info`) whose lines are recorded here.
    var logger: Logger {
        let box = box
        var logger = Logger(label: "limits.test.server") { _ in Handler(box: box) }
        logger.logLevel = .info
        return logger
    }

    var entries: [Entry] { box.withLockedValue { $0 } }

    private struct Handler: LogHandler {
        let box: NIOLockedValueBox<[Entry]>
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        var metadataProvider: Logger.MetadataProvider?

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let entry = Entry(level: event.level, message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { $1 })
            box.withLockedValue { $0.append(entry) }
        }
    }
}

/// A protocol-level client (real Noise handshake, like `RawClient`) with a small socket receive buffer that can
/// stop reading from its socket altogether (`autoRead` off) and resume later, to play a client that does not
/// read. It sends `hello` for `name` as soon as the handshake completes (on the event loop, so no idle gap opens
/// between the two) and answers pings only until `welcome` arrives; after that it never sends anything. The times
/// of what it sends, of each frame's arrival and of the close are taken on its event loop, so they do not depend
/// on how promptly the test task runs.
final class LimitsQuietClient: Sendable {
    struct Arrival: Sendable {
        let frame: Frame
        let at: ContinuousClock.Instant
    }

    let channel: any Channel
    let key: PrivateKey
    private let received = NIOLockedValueBox<[Arrival]>([])
    private let closed = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    private let lastSent = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    private let handshake: EventLoopFuture<Void>

    init(port: Int, name: String, key: PrivateKey = try! PrivateKey(), receiveBuffer: Int = 4096) async throws {
        self.key = key
        let received = received, closed = closed, lastSent = lastSent
        let hello = Frame.hello(Hello(name: name, clientVersion: "limits-quiet"))
        let group = MultiThreadedEventLoopGroup.singleton
        let handshakePromise = group.next().makePromise(of: Void.self)
        handshake = handshakePromise.futureResult
        channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
            .channelInitializer { channel in
                channel.closeFuture.whenComplete { _ in closed.withLockedValue { $0 = .now } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        NoiseChannelHandler(role: .initiator, localStatic: key),
                        ByteToMessageHandler(FrameDecoder()),
                        LimitsFrameCollector(received: received, handshake: handshakePromise, hello: hello, lastSent: lastSent),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
    }

    var arrivals: [Arrival] { received.withLockedValue { $0 } }
    var frames: [Frame] { arrivals.map(\.frame) }

    /// The `deliver` frames received so far.
    var deliveries: [Deliver] {
        frames.compactMap { if case let .deliver(deliver) = $0 { deliver } else { nil } }
    }

    /// When the connection was closed, if it was.
    var closedAt: ContinuousClock.Instant? { closed.withLockedValue { $0 } }

    /// Waits for `welcome`; returns when this client last sent something (`hello`, or a `pong` before `welcome`):
    /// from then on it is silent.
    @discardableResult
    func waitForWelcome() async throws -> ContinuousClock.Instant {
        try await handshake.get()
        try await waitFor("welcome", timeout: 10) { if case .welcome = $0 { true } else { false } }
        return lastSent.withLockedValue { $0! }
    }

    /// Waits for a frame satisfying `predicate` and returns it with its arrival time.
    @discardableResult
    func waitFor(_ what: String, timeout: Double, _ predicate: (Frame) -> Bool) async throws -> Arrival {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            if let arrival = arrivals.first(where: { predicate($0.frame) }) { return arrival }
            guard ContinuousClock.now < deadline else { throw RawClientTimeout(what: what, frames: frames) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Stops reading from the socket: whatever the server sends piles up in the kernel buffers, then in the server.
    func stopReading() async throws { try await channel.setOption(.autoRead, value: false).get() }

    /// Reads again, including what piled up while it did not.
    func resumeReading() async throws {
        try await channel.setOption(.autoRead, value: true).get()
        channel.read()
    }

    /// Waits until the connection is closed (a close by the server is only seen while reading); returns when it was.
    @discardableResult
    func waitForClose(timeout: Double) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            if let closedAt { return closedAt }
            guard ContinuousClock.now < deadline else { throw RawClientTimeout(what: "close", frames: frames) }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func close() async { try? await channel.close() }
}

private final class LimitsFrameCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame

    private let received: NIOLockedValueBox<[LimitsQuietClient.Arrival]>
    private let handshake: EventLoopPromise<Void>
    private let hello: Frame
    private let lastSent: NIOLockedValueBox<ContinuousClock.Instant?>

    init(received: NIOLockedValueBox<[LimitsQuietClient.Arrival]>, handshake: EventLoopPromise<Void>, hello: Frame, lastSent: NIOLockedValueBox<ContinuousClock.Instant?>) {
        self.received = received
        self.handshake = handshake
        self.hello = hello
        self.lastSent = lastSent
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is NoiseHandshakeCompleted else { return }
        send(hello, context: context)
        handshake.succeed()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let arrival = LimitsQuietClient.Arrival(frame: unwrapInboundIn(data), at: .now)
        let welcomed = received.withLockedValue { received in
            defer { received.append(arrival) }
            return received.contains { if case .welcome = $0.frame { true } else { false } }
        }
        if case let .ping(nonce) = arrival.frame, !welcomed { send(.pong(nonce), context: context) }
    }

    private func send(_ frame: Frame, context: ChannelHandlerContext) {
        lastSent.withLockedValue { $0 = .now }
        context.writeAndFlush(NIOAny(frame.encoded(allocator: context.channel.allocator)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshake.fail(ChannelError.ioOnClosedChannel)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A plain TCP connection that never says anything (no Noise handshake); notes, on its event loop, when it was closed.
final class LimitsSilentConnection: Sendable {
    let channel: any Channel
    /// Just before connecting: the server cannot have started its handshake timer earlier.
    let connectingAt: ContinuousClock.Instant
    private let closed = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    init(port: Int) async throws {
        connectingAt = .now
        let closed = closed
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.closeFuture.whenComplete { _ in closed.withLockedValue { $0 = .now } }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
    }

    /// Waits for the server to close the connection; returns how long after connecting that happened.
    func waitForClose(timeout: Double) async throws -> Duration {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            if let closedAt = closed.withLockedValue({ $0 }) { return closedAt - connectingAt }
            guard ContinuousClock.now < deadline else { throw LimitsTimeout(what: "the server to close a silent connection") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Whether the server closes the connection within `seconds`.
    func isClosed(within seconds: Double) async -> Bool {
        (try? await waitForClose(timeout: seconds)) != nil
    }

    func close() async { try? await channel.close() }
}

struct LimitsTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every 10 ms until it holds; throws after `timeout` seconds.
func limitsWait(timeout: Double = 10, _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    if try await condition() { return }
    throw LimitsTimeout(what: what)
}

/// Waits at most `timeout` seconds for `task`'s value; on a timeout cancels it and throws.
func limitsValue<T: Sendable>(of task: Task<T, any Error>, timeout: Double, _ what: String) async throws -> T {
    let outcome = NIOLockedValueBox<Result<T, any Error>?>(nil)
    let waiter = Task { let result = await task.result; outcome.withLockedValue { $0 = result } }
    do {
        try await limitsWait(timeout: timeout, what) { outcome.withLockedValue { $0 != nil } }
    } catch {
        task.cancel()
        waiter.cancel()
        throw error
    }
    return try outcome.withLockedValue { $0! }.get()
}

/// Measures how late the event loops of `group` run a task scheduled every 20 ms: the longest delay seen is
/// how long a client on them could have taken to answer, say, a ping.
final class LimitsLoopLagMonitor: Sendable {
    private let worst = NIOLockedValueBox<Duration>(.zero)
    private let tasks: [RepeatedTask]

    init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        let worst = worst
        tasks = group.makeIterator().map { loop in
            let last = NIOLockedValueBox(ContinuousClock.now)
            return loop.scheduleRepeatedTask(initialDelay: .milliseconds(20), delay: .milliseconds(20)) { _ in
                let now = ContinuousClock.now
                let lag = last.withLockedValue { last in defer { last = now }; return now - last - .milliseconds(20) }
                worst.withLockedValue { $0 = max($0, lag) }
            }
        }
    }

    /// The longest a loop was late so far.
    var worstLag: Duration { worst.withLockedValue { $0 } }

    func stop() { tasks.forEach { $0.cancel() } }
}
