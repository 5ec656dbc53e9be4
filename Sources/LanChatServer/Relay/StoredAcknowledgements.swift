import Logging
import NIOCore

/// The `deliveryAck`s of stored deliveries that one event loop's connections read in a tick, deleted from the
/// database in one transaction at the tick's end rather than one each: a message kept for everyone (`/all+`)
/// comes back as one acknowledgement from every online user.
final class StoredAcknowledgements {
    private let loop: any EventLoop
    private var pending: [(recipient: String, messageID: [UInt8])] = []

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// Queues the deletion of `recipient`'s stored delivery `messageID` (call on the loop).
    func add(recipient: String, messageID: [UInt8], database: ServerDatabase, logger: Logger) {
        pending.append((recipient, messageID))
        guard pending.count == 1 else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.execute {
            let batch = bound.value.pending
            bound.value.pending.removeAll(keepingCapacity: true)
            Task {
                do {
                    try await database.acknowledge(batch)
                } catch {
                    logger.error("cannot delete \(batch.count) acknowledged deliveries: \(error)")
                }
            }
        }
    }
}
