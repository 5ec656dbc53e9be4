import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP proxy on 127.0.0.1 that forwards to a server and records every byte in both directions,
/// to check what the relay could observe on the network. It can also go dark: drop everything from then on
/// while keeping both connections open, as a link to a laptop that went to sleep.
final class RecordingProxy: Sendable {
    private let recorded = NIOLockedValueBox<[UInt8]>([])
    private let dark = NIOLockedValueBox(false)
    private let listener: any Channel

    var port: Int { listener.localAddress!.port! }
    var bytes: [UInt8] { recorded.withLockedValue { $0 } }

    init(forwardingTo targetPort: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws {
        let recorded = recorded, dark = dark
        listener = try await ServerBootstrap(group: group)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMap { outbound in
                        inbound.eventLoop.makeCompletedFuture {
                            try inbound.pipeline.syncOperations.addHandler(Forwarder(peer: outbound, recorded: recorded, dark: dark))
                            try outbound.pipeline.syncOperations.addHandler(Forwarder(peer: inbound, recorded: recorded, dark: dark))
                            try inbound.syncOptions?.setOption(.autoRead, value: true)
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
    }

    func close() async throws { try await listener.close() }

    /// Drops every byte in both directions from now on, leaving the connections open.
    func goDark() { dark.withLockedValue { $0 = true } }

    /// True when `needle` occurs anywhere in the recording.
    func contains(_ needle: [UInt8]) -> Bool {
        let haystack = bytes
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}

private final class Forwarder: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let peer: any Channel
    private let recorded: NIOLockedValueBox<[UInt8]>
    private let dark: NIOLockedValueBox<Bool>

    init(peer: any Channel, recorded: NIOLockedValueBox<[UInt8]>, dark: NIOLockedValueBox<Bool>) {
        self.peer = peer
        self.recorded = recorded
        self.dark = dark
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !dark.withLockedValue({ $0 }) else { return }
        let buffer = unwrapInboundIn(data)
        recorded.withLockedValue { $0.append(contentsOf: buffer.readableBytesView) }
        peer.writeAndFlush(buffer, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
