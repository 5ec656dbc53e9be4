import LanChatCrypto
import LanChatProtocol
import NIOCore
import NIOPosix

/// The channel pipeline of every client connection: Noise message framing, the Noise session as initiator
/// with the identity key, the frame decoder, then `last`.
enum ClientPipeline {
    static func connect(
        to address: ServerAddress,
        identity: Identity,
        group: any EventLoopGroup,
        handshakeTimeout: TimeAmount,
        last: @escaping @Sendable () -> any ChannelHandler
    ) async throws -> any Channel {
        try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        NoiseChannelHandler(role: .initiator, localStatic: identity.key, handshakeTimeout: handshakeTimeout),
                        ByteToMessageHandler(FrameDecoder(maxFrameLength: ProtocolLimits.maxServerFrameLength)),
                        last(),
                    ])
                }
            }
            .connect(host: address.host, port: address.port)
            .get()
    }
}

/// Reports the server's static key once the handshake is done, then closes the connection.
final class ServerKeyProbe: ChannelInboundHandler {
    typealias InboundIn = Frame

    private let result: EventLoopPromise<PublicKey>

    init(result: EventLoopPromise<PublicKey>) {
        self.result = result
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let completed = event as? NoiseHandshakeCompleted {
            result.succeed(completed.remoteStatic)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        result.fail(ClientError.disconnected("closed before the handshake finished"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        result.fail(error)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ServerKeyProbe: Sendable {}
