import NIOCore

/// Keep-alive for every connection of one event loop with a single repeating timer (not one timer per
/// connection): each `interval` it lets every connection check itself (`RelayConnectionHandler.sweep`): close
/// a peer that stopped reading, ping or close a silent one, and release what an idle connection need not keep.
/// The first sweep that finds all of them silent also hands the process's free heap memory back to the kernel.
final class ConnectionSweeper {
    /// Time between two sweeps: a quarter of the ping interval, at most one second.
    let interval: TimeAmount
    private let loop: any EventLoop
    private var connections: [RelayConnectionHandler] = []
    private var task: RepeatedTask?
    /// Whether free memory was handed back since the loop's connections last carried anything.
    private var trimmedSinceTraffic = false

    init(loop: any EventLoop, pingInterval: TimeAmount) {
        self.loop = loop
        self.interval = max(.milliseconds(10), min(.seconds(1), .nanoseconds(pingInterval.nanoseconds / 4)))
    }

    /// Starts sweeping `handler`'s connection; returns its slot, to pass to `remove`.
    func add(_ handler: RelayConnectionHandler) -> Int {
        connections.append(handler)
        if task == nil {
            let bound = NIOLoopBound(self, eventLoop: loop)
            task = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in bound.value.sweep() }
        }
        return connections.count - 1
    }

    /// Stops sweeping the connection in `slot`. The last connection moves into the slot; its handler is told.
    func remove(slot: Int) {
        let last = connections.removeLast()
        guard slot < connections.count else { return }
        connections[slot] = last
        last.sweepSlot = slot
    }

    private func sweep() {
        // A sweep may close connections, which removes them from the list: walk a copy.
        var traffic = false
        for handler in connections where handler.sweep() {
            traffic = true
        }
        if traffic {
            trimmedSinceTraffic = false
        } else if !trimmedSinceTraffic {
            trimmedSinceTraffic = true
            ProcessLimits.releaseFreeMemory()
        }
    }
}
