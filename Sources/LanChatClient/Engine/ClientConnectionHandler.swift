import LanChatProtocol
import NIOCore

/// Passes a client connection's frames and lifecycle to its `ClientCore`.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame

    private let core: ClientCore
    private var closeReason = "the server closed the connection"

    init(core: ClientCore) {
        self.core = core
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let completed = event as? NoiseHandshakeCompleted {
            core.handshakeCompleted(serverKey: completed.remoteStatic, channel: context.channel)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if case let .error(error) = frame, error.requestID == 0 { closeReason = error.reason }
        core.received(frame, channel: context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        core.closed(reason: closeReason)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeReason = "\(error)"
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}
