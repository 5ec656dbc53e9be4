import Foundation
import LanChatCrypto
import LanChatProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// What a simulated client reports to the running workload. Called on the client's event loop.
protocol BenchObserver: AnyObject, Sendable {
    /// A `deliver` frame arrived; `frame` holds it from the type byte on, undecoded (decode it with `Frame(decoding:)`).
    func delivered(_ frame: ByteBuffer, to client: BenchClient)
    func acknowledged(_ ack: Ack, by client: BenchClient)
    func refused(_ error: ErrorFrame, client: BenchClient)
    /// The client's connection closed (by the server, or by the workload once it is done).
    func disconnected(_ client: BenchClient)
}

/// One simulated user: a real Noise XX connection and registration, sending pre-encoded frames and
/// counting what arrives after transport decryption.
final class BenchClient: Sendable {
    let name: String
    let key: PrivateKey
    let channel: any Channel
    /// The connection's Noise handler, to queue frames into its output directly (on the channel's event loop):
    /// no pipeline write per message, as the relay writes. The next flush sends them.
    let outbound: NIOLoopBound<any OutboundQueue>

    private init(name: String, key: PrivateKey, channel: any Channel, outbound: NIOLoopBound<any OutboundQueue>) {
        self.name = name
        self.key = key
        self.channel = channel
        self.outbound = outbound
    }

    /// How long a client waits for the server's `welcome` after connecting (the handshake itself times out sooner).
    static let welcomeTimeLimit = TimeAmount.seconds(30)

    /// Connects, runs the handshake and registers; returns once the server said welcome.
    static func connect(name: String, key: PrivateKey, to address: SocketAddress, group: any EventLoopGroup, observer: (any BenchObserver)?) async throws -> BenchClient {
        let welcome = group.next().makePromise(of: Void.self)
        let clientBox = NIOLockedValueBoxLite<BenchClient?>(nil)
        let channel: any Channel, outbound: NIOLoopBound<any OutboundQueue>
        do {
            (channel, outbound) = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(to: address) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let noise = try NoiseChannelHandler(role: .initiator, localStatic: key)
                        try channel.pipeline.syncOperations.addHandlers([
                            noise,
                            BenchReceiver(name: name, welcome: welcome, observer: observer, client: clientBox),
                        ])
                        return (channel, NIOLoopBound<any OutboundQueue>(noise, eventLoop: channel.eventLoop))
                    }
                }
        } catch {
            welcome.fail(error)
            guard let error = error as? IOError else { throw error }
            throw BenchError.setup("cannot connect to the server at \(address): \(String(cString: strerror(error.errnoCode)))")
        }
        let client = BenchClient(name: name, key: key, channel: channel, outbound: outbound)
        clientBox.set(client)
        let timer = channel.eventLoop.scheduleTask(in: welcomeTimeLimit) {
            welcome.fail(BenchError.timedOut("\(name) got no welcome from the server within \(welcomeTimeLimit.nanoseconds / 1_000_000_000) s of connecting"))
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        try await welcome.futureResult.get()
        return client
    }

    func close() async {
        try? await channel.close()
    }
}

/// Holds a value set once from outside the event loop and read on it.
final class NIOLockedValueBoxLite<Value: Sendable>: Sendable {
    private let box: NIOLockedValueBox<Value>
    init(_ value: Value) { box = NIOLockedValueBox(value) }
    func set(_ value: Value) { box.withLockedValue { $0 = value } }
    var value: Value { box.withLockedValue { $0 } }
}

/// The client's end of the pipeline: cuts the decrypted stream into frames itself (`FrameAssembler`: no decoder
/// stage, no per-frame pipeline event), hands `deliver` frames to the observer undecoded and decodes the rest.
private final class BenchReceiver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let name: String
    private let welcome: EventLoopPromise<Void>
    private let observer: (any BenchObserver)?
    /// What `observer` forwards to, once it is known: deliveries go straight to it.
    private var resolvedObserver: (any BenchObserver)?
    private let client: NIOLockedValueBoxLite<BenchClient?>
    private var cachedClient: BenchClient?
    private var frames = FrameAssembler(maxFrameLength: ProtocolLimits.maxServerFrameLength)

    init(name: String, welcome: EventLoopPromise<Void>, observer: (any BenchObserver)?, client: NIOLockedValueBoxLite<BenchClient?>) {
        self.name = name
        self.welcome = welcome
        self.observer = observer
        self.client = client
    }

    private var me: BenchClient? {
        if cachedClient == nil { cachedClient = client.value }
        return cachedClient
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is NoiseHandshakeCompleted {
            let hello = Frame.hello(Hello(name: name, clientVersion: "lanchat-bench", wantsPresence: false, acknowledgesLive: true)).encoded(allocator: context.channel.allocator)
            context.writeAndFlush(NIOAny(hello), promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        frames.append(unwrapInboundIn(data))
        if resolvedObserver == nil {
            // Until the workload sets its counter, deliveries go through the forwarder.
            if let forwarding = observer as? ForwardingObserver { resolvedObserver = forwarding.resolved } else { resolvedObserver = observer }
        }
        let me = me, target = resolvedObserver ?? observer
        do {
            while var frame = try frames.nextBody() {
                if frame.getInteger(at: frame.readerIndex, as: UInt8.self) == Frame.Kind.deliver.rawValue {
                    if let me {
                        target?.delivered(frame, to: me)
                        Self.acknowledgeIfLiveDirect(frame, via: me.outbound.value)
                    }
                } else {
                    handle(try Frame(decoding: &frame), target: target, context: context)
                }
            }
        } catch {
            errorCaught(context: context, error: error)
        }
    }

    /// Queues the `deliveryAck` that a real client sends for a live direct delivery once it has kept it (the relay
    /// holds those until then); `channelReadComplete` flushes it with the rest of this read's answers.
    private static func acknowledgeIfLiveDirect(_ frame: ByteBuffer, via outbound: any OutboundQueue) {
        // type, flags, header length, then the header: version, kind (1: direct), message id.
        let start = frame.readerIndex, idStart = start + 4 + EnvelopeRoutingFields.messageIDRange.lowerBound
        guard frame.getInteger(at: start + 1, as: UInt8.self) == 0, frame.getInteger(at: start + 5, as: UInt8.self) == 1,
              let high = frame.getInteger(at: idStart, as: UInt64.self), let low = frame.getInteger(at: idStart + 8, as: UInt64.self) else { return }
        outbound.enqueue { out in
            out.writeInteger(UInt32(17))
            out.writeInteger(Frame.Kind.deliveryAck.rawValue)
            out.writeInteger(high)
            out.writeInteger(low)
        }
    }

    private func handle(_ frame: Frame, target: (any BenchObserver)?, context: ChannelHandlerContext) {
        switch frame {
        case .welcome:
            welcome.succeed()
        case let .ack(ack):
            if let me { target?.acknowledged(ack, by: me) }
        case let .error(error):
            welcome.fail(BenchError.refused(error.reason))
            if let me { observer?.refused(error, client: me) }
        case let .ping(nonce):
            context.writeAndFlush(NIOAny(Frame.pong(nonce).encoded(allocator: context.channel.allocator)), promise: nil)
        default:
            break
        }
    }

    /// Sends what the workload wrote in answer to this read (more envelopes once acknowledgements arrive).
    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        welcome.fail(BenchError.refused("the connection closed before welcome"))
        if let me { (resolvedObserver ?? observer)?.disconnected(me) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        welcome.fail(error)
        context.close(promise: nil)
    }
}

enum BenchError: Error, CustomStringConvertible {
    case refused(String)
    case timedOut(String)
    case connectionLost(String)
    case setup(String)

    var description: String {
        switch self {
        case let .refused(reason): "the server refused: \(reason)"
        case let .timedOut(what): "timed out: \(what)"
        case let .connectionLost(what), let .setup(what): what
        }
    }
}
