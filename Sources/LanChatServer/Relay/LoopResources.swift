import NIOCore

/// What the connections of one event loop share: the end-of-tick flusher and the keep-alive sweeper.
final class LoopResources {
    let flusher: TickFlusher
    let sweeper: ConnectionSweeper

    init(loop: any EventLoop, configuration: ServerConfiguration) {
        flusher = TickFlusher(loop: loop)
        sweeper = ConnectionSweeper(loop: loop, pingInterval: configuration.pingInterval)
    }
}
