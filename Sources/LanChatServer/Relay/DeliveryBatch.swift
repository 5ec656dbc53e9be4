import NIOCore

/// Deliveries collected while a connection's read batch is processed, written out together: per event
/// loop one task, per recipient all its buffers in order, flushed by the loop's `TickFlusher`. Many
/// envelopes to the same recipient thus leave in one Noise message and one system call.
struct DeliveryBatch {
    private struct LoopGroup {
        let loop: any EventLoop
        var sessions: [ClientSession] = []
        var buffers: [[ByteBuffer]] = []
        var index: [ObjectIdentifier: Int] = [:]
    }

    private var groups: [ObjectIdentifier: LoopGroup] = [:]

    /// Queues one delivery (shared part, then the recipient's wrap) for `session`.
    mutating func add(_ shared: ByteBuffer, _ wrap: ByteBuffer, to session: ClientSession) {
        append(to: session) { $0.append(shared); $0.append(wrap) }
    }

    /// Queues `buffers` for `session`.
    mutating func add(_ buffers: [ByteBuffer], to session: ClientSession) {
        append(to: session) { $0.append(contentsOf: buffers) }
    }

    private mutating func append(to session: ClientSession, _ body: (inout [ByteBuffer]) -> Void) {
        let loop = session.channel.eventLoop
        let loopID = ObjectIdentifier(loop)
        let sessionID = ObjectIdentifier(session)
        if groups[loopID] == nil { groups[loopID] = LoopGroup(loop: loop) }
        if let position = groups[loopID]!.index[sessionID] {
            body(&groups[loopID]!.buffers[position])
        } else {
            var buffers: [ByteBuffer] = []
            body(&buffers)
            groups[loopID]!.index[sessionID] = groups[loopID]!.sessions.count
            groups[loopID]!.sessions.append(session)
            groups[loopID]!.buffers.append(buffers)
        }
    }

    /// Writes everything queued: directly on the current event loop, as one task on each other loop.
    mutating func dispatch(relay: Relay) {
        for group in groups.values {
            let sessions = group.sessions, buffers = group.buffers, loop = group.loop
            let work = { @Sendable in
                let flusher = relay.flusher(for: loop)
                for (session, pending) in zip(sessions, buffers) {
                    for buffer in pending { session.channel.write(buffer, promise: nil) }
                    flusher.flushSoon(session.channel)
                }
            }
            if group.loop.inEventLoop { work() } else { group.loop.execute(work) }
        }
        groups.removeAll(keepingCapacity: true)
    }
}
