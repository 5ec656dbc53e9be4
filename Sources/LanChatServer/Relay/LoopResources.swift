import NIOCore

/// What the connections of one event loop share: the end-of-tick flusher, the keep-alive sweeper and the
/// batch of acknowledged stored deliveries to delete.
final class LoopResources {
    let flusher: TickFlusher
    let sweeper: ConnectionSweeper
    let acknowledgements: StoredAcknowledgements

    init(loop: any EventLoop, configuration: ServerConfiguration) {
        flusher = TickFlusher(loop: loop)
        sweeper = ConnectionSweeper(loop: loop, pingInterval: configuration.pingInterval)
        acknowledgements = StoredAcknowledgements(loop: loop)
    }
}
