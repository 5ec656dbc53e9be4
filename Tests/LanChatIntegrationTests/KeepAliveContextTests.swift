import LanChatCrypto
@testable import LanChatProtocol
@testable import LanChatServer
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@Suite("The keep-alive of a silent connection")
struct KeepAliveContextTests {
    @Test("its ping is sealed, and its pong read, with the cipher contexts freed at once after each; other pongs free nothing")
    func contextsFreedAtOnce() async throws {
        let relay = try InProcessRelay(threads: 1) { $0.pingInterval = .milliseconds(400) }
        let loop = NIOAsyncTestingEventLoop()
        let events = NIOLockedValueBox<[String]>([])
        let channel = NIOAsyncTestingChannel(loop: loop)
        let key = try PrivateKey().publicKey
        try await loop.executeInContext {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandlers([
                FrameKindRecorder(events: events),
                RelayConnectionHandler(
                    services: relay.services,
                    noise: PlaintextQueue(channel: channel) { events.withLockedValue { $0.append("released at once") } },
                    peer: nil, loop: loop
                ),
            ])
            pipeline.register(promise: nil)
            pipeline.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1), promise: nil)
            pipeline.fireUserInboundEventTriggered(NoiseHandshakeCompleted(remoteStatic: key, handshakeHash: []))
            pipeline.fireChannelRead(NIOAny(Frame.hello(Hello(name: "quiet", clientVersion: "test")).encoded()))
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !events.withLockedValue({ $0.contains("welcome") }), ContinuousClock.now < deadline {
            await loop.run()
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(events.withLockedValue { $0.contains("welcome") })
        // On the loop, so that the rest of the registration (it frees the contexts once too) is not counted.
        try await loop.executeInContext { events.withLockedValue { $0.removeAll() } }

        // Sweeps every 100 ms; the read of the hello counts for the first, then four silent ones reach the interval.
        await loop.advanceTime(by: .milliseconds(550))
        #expect(events.withLockedValue { $0 } == ["ping", "released at once"])

        try await loop.executeInContext {
            events.withLockedValue { $0.removeAll() }
            channel.pipeline.syncOperations.fireChannelRead(NIOAny(Frame.pong(7).encoded()))
            channel.pipeline.syncOperations.fireChannelRead(NIOAny(Frame.pong(8).encoded()))
        }
        #expect(events.withLockedValue { $0 } == ["released at once"], "only the pong that answers the ping")

        try await loop.executeInContext { channel.pipeline.syncOperations.close(promise: nil) }
        await loop.run()
        await loop.shutdownGracefully()
    }
}

/// Records the kind of every frame the relay writes down the pipeline.
private final class FrameKindRecorder: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ByteBuffer

    private let events: NIOLockedValueBox<[String]>
    private let decoder = FrameDecoder(maxFrameLength: 1 << 20)

    init(events: NIOLockedValueBox<[String]>) {
        self.events = events
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = unwrapOutboundIn(data)
        while let frame = try? decoder.nextFrame(&bytes) {
            events.withLockedValue { $0.append("\(frame.kind)") }
        }
        promise?.succeed(())
    }
}
