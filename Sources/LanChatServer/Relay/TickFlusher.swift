import NIOCore

/// Flushes connections once per event-loop tick: the first connection marked in a tick schedules one task,
/// which runs after the loop has processed all the I/O that was ready, so everything written for a connection
/// during that tick (deliveries from many senders, acknowledgements) leaves in one Noise pass and one system
/// call. Connections marked while the flush runs (acknowledgements of direct deliveries it wrote) are flushed
/// in the same pass.
final class TickFlusher {
    let loop: any EventLoop
    private var pending: [SessionOutbound] = []
    private var scheduled = false

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// Marks `outbound` (of a connection on this loop) for the flush at the end of the tick.
    func flushSoon(_ outbound: SessionOutbound) {
        guard !outbound.isFlushScheduled else { return }
        outbound.isFlushScheduled = true
        pending.append(outbound)
        guard !scheduled else { return }
        scheduled = true
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.execute { bound.value.flushAll() }
    }

    private func flushAll() {
        var index = 0
        while index < pending.count {
            let outbound = pending[index]
            index += 1
            outbound.isFlushScheduled = false
            outbound.flush()
        }
        pending.removeAll(keepingCapacity: true)
        scheduled = false
    }
}
