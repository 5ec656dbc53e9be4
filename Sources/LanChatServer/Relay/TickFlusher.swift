import NIOCore

/// Flushes channels once per event-loop tick: the first channel marked in a tick schedules one task, which
/// runs after the loop has processed all the I/O that was ready, so everything written for a channel during
/// that tick (deliveries from many senders, acknowledgements) leaves in one Noise message and one system call.
final class TickFlusher {
    private let loop: any EventLoop
    private var pending: [any Channel] = []
    private var marked = Set<ObjectIdentifier>()
    private var scheduled = false

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// Marks `channel` (on this loop) for the flush at the end of the tick.
    func flushSoon(_ channel: any Channel) {
        loop.preconditionInEventLoop()
        guard marked.insert(ObjectIdentifier(channel)).inserted else { return }
        pending.append(channel)
        guard !scheduled else { return }
        scheduled = true
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.execute { bound.value.flushAll() }
    }

    private func flushAll() {
        scheduled = false
        let channels = pending
        pending.removeAll(keepingCapacity: true)
        marked.removeAll(keepingCapacity: true)
        for channel in channels { channel.flush() }
    }
}
