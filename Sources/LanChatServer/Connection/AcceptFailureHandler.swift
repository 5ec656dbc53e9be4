#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore

/// Pauses accepting for a second when `accept` fails for want of resources (every descriptor in use, no memory),
/// and tells the operator why new clients cannot connect: once when accepting starts failing, once when it
/// works again. The kernel keeps reporting the waiting connection, so a listener that retries at once spins a
/// core while serving nobody new (NIO's `AcceptBackoffHandler` never sees the read it would delay on this
/// path). Connected clients are served throughout.
final class AcceptFailureHandler: ChannelInboundHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    /// How long accepting pauses after a failure.
    static let pause = TimeAmount.seconds(1)

    private let logger: Logger
    private var failing = false
    private var resumption: Scheduled<Void>?

    init(logger: Logger) {
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if failing {
            failing = false
            logger.notice("accepting new connections again")
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A connection reset before it was accepted (ECONNABORTED) says nothing about the next one.
        guard let error = error as? IOError, error.errnoCode != ECONNABORTED else {
            context.fireErrorCaught(error)
            return
        }
        if !failing {
            failing = true
            logger.warning("cannot accept new connections, trying again every second (connected clients are still served): \(Self.reason(for: error))")
        }
        pauseAccepting(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        resumption?.cancel()
        resumption = nil
        context.fireChannelInactive()
    }

    /// Stops the listener's reads (which also stops the kernel's readiness reports) and resumes them after `pause`.
    private func pauseAccepting(context: ChannelHandlerContext) {
        guard resumption == nil, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: false)
        resumption = context.eventLoop.assumeIsolated().scheduleTask(in: Self.pause) {
            self.resumption = nil
            try? options.setOption(.autoRead, value: true)
        }
    }

    private static func reason(for error: IOError) -> String {
        switch error.errnoCode {
        case EMFILE:
            let limit = ProcessLimits.openFileLimit.map { " (\($0))" } ?? ""
            return "the server has as many files and connections open as it may\(limit); raise the limit with `ulimit -n` before starting it"
        case ENFILE:
            return "the system has as many files open as it allows; raise fs.file-max or stop other programs"
        case ENOBUFS, ENOMEM:
            return "the system is out of memory for new connections"
        default:
            return String(cString: strerror(error.errnoCode))
        }
    }
}
