import LanChatClient
import LanChatCrypto
import LanChatProtocol
import NIOCore
import NIOPosix

/// A stand-in for a hostile relay on 127.0.0.1: it completes the real Noise handshake with its own key,
/// answers each client's `hello` with the frames it was given, and does nothing else.
final class ScriptedServer: Sendable {
    let port: Int
    private let listener: any Channel

    init(key: PrivateKey = try! PrivateKey(), answeringHelloWith frames: [Frame]) async throws {
        listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        NoiseChannelHandler(role: .responder, localStatic: key),
                        ByteToMessageHandler(FrameDecoder()),
                        HelloAnswer(frames: frames),
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        port = listener.localAddress!.port!
    }

    var address: ServerAddress { ServerAddress(host: "127.0.0.1", port: port) }

    func stop() async { try? await listener.close() }
}

private final class HelloAnswer: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    let frames: [Frame]

    init(frames: [Frame]) {
        self.frames = frames
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .hello = unwrapInboundIn(data) else { return }
        for frame in frames { context.write(wrapOutboundOut(frame.encoded()), promise: nil) }
        context.flush()
    }
}
