import NIOCore

/// Learns whether the write carrying bytes it queued reached the socket (`OutboundQueue.notify(_:)`).
public protocol WriteObserver: AnyObject {
    /// Called on the queue's event loop with the receipt handed to `notify`: `written` once the write carrying
    /// what was queued before it reached the socket, not `written` if the connection failed or closed first.
    func delivery(_ receipt: WriteReceipt, wasWritten written: Bool)
}

/// What a `WriteObserver` is handed back about one queued write: an id and bytes of its choosing (the relay: a
/// message's request id, and the message itself to store if it could not be written). Kept inline in the
/// queue's list, so asking costs no allocation per message, as a closure would.
public struct WriteReceipt {
    public let observer: any WriteObserver
    public let id: UInt32
    public let bytes: ByteBuffer

    public init(observer: any WriteObserver, id: UInt32, bytes: ByteBuffer) {
        self.observer = observer
        self.id = id
        self.bytes = bytes
    }

    /// Hands the outcome to the observer.
    func answer(_ written: Bool) {
        observer.delivery(self, wasWritten: written)
    }
}
