import Foundation
import LanChatCrypto
import LanChatProtocol
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A plain TCP connection to 127.0.0.1 that writes whatever bytes it is given (no Noise, no framing) and
/// records what comes back and when the server closes it.
final class FuzzSocket: Sendable {
    let channel: any Channel
    private let received = NIOLockedValueBox<Int>(0)

    init(port: Int) async throws {
        let received = received
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FuzzSocketRecorder(received: received))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
    }

    /// Bytes received from the server so far.
    var receivedCount: Int { received.withLockedValue { $0 } }

    var isClosed: Bool { !channel.isActive }

    /// Writes `bytes`; false when the connection is already gone.
    @discardableResult
    func write(_ bytes: [UInt8]) async -> Bool {
        do {
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
            return true
        } catch {
            return false
        }
    }

    func close() async { try? await channel.close() }
}

private final class FuzzSocketRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let received: NIOLockedValueBox<Int>

    init(received: NIOLockedValueBox<Int>) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let count = unwrapInboundIn(data).readableBytes
        received.withLockedValue { $0 += count }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension RawClient {
    /// Writes `bytes` to the socket underneath the Noise handler: after the handshake they reach the server
    /// as (forged) Noise transport messages.
    func writeBelowNoise(_ bytes: [UInt8]) async throws {
        let channel = channel
        try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            do {
                let context = try channel.pipeline.syncOperations.context(handlerType: NoiseChannelHandler.self)
                return context.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
    }
}

/// Polls `condition` every millisecond until it holds or `timeout` seconds pass; true when it held.
func fuzzWait(timeout: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

/// The first Noise XX message a real initiator would send (an ephemeral key and an empty payload).
func fuzzNoiseFirstMessage() throws -> [UInt8] {
    var handshake = try NoiseHandshakeState(pattern: .XX, role: .initiator, prologue: ProtocolLimits.noisePrologue, localStatic: PrivateKey())
    return try handshake.writeMessage()
}
