import LanChatProtocol
import NIOCore

/// The write side of one connection, used only on its event loop. Frames and deliveries are copied into the
/// Noise handler's output buffer (its `OutboundQueue`) and flushed once at the end of the loop's tick
/// (`TickFlusher`), so all that a tick produces for one connection leaves as one encryption pass and one
/// system call. A direct delivery can ask to be told whether the write carrying it reached the socket.
final class SessionOutbound: LoopBound {
    private let noise: any OutboundQueue
    private let flusher: TickFlusher
    /// Set while this outbound waits in the flusher's list.
    var isFlushScheduled = false
    /// The channel's writability, kept here by the connection handler: routing reads it for every recipient,
    /// and this object is touched anyway while the channel's own state would be one more cache miss.
    var isWritable = true
    /// Most bytes of live direct deliveries held for the client (`holdLiveDeliveries`); 0 while it does not
    /// acknowledge them.
    private var holdLimit: Int32 = 0
    /// Stored deliveries written and not yet acknowledged: a `deliveryAck` beyond them names nothing this
    /// connection was sent, and is not taken to the database (where a flood of them would queue deletes for
    /// everyone's writes to wait behind).
    private var storedUnacknowledged: Int32 = 0
    /// Live direct deliveries awaiting the client's `deliveryAck`; made for the first, freed once none is held
    /// (at the next sweep), so that an idle connection carries none.
    private(set) var unacknowledged: UnacknowledgedDeliveries?

    init(noise: any OutboundQueue, flusher: TickFlusher) {
        self.noise = noise
        self.flusher = flusher
    }

    /// The connection's event loop, its flusher's (not stored again: 16 bytes per connection).
    var loop: any EventLoop { flusher.loop }

    /// Queues one delivery, its shared part then the recipient's wrap, from memory the caller keeps valid for the
    /// call (the fan-out loop's own view of the shared part and of the received `send` frame).
    func deliver(_ shared: UnsafeRawBufferPointer, _ wrap: UnsafeRawBufferPointer) {
        noise.enqueue(shared, wrap)
        flusher.flushSoon(self)
    }

    /// Queues an encoded frame; `stored` for a stored delivery, which the client is to acknowledge.
    func write(_ frame: ByteBuffer, stored: Bool = false) {
        if stored, storedUnacknowledged < .max { storedUnacknowledged += 1 }
        noise.enqueue(frame)
        flusher.flushSoon(self)
    }

    /// Whether a `deliveryAck` (not of a held live delivery) may answer a stored delivery written here; counts it.
    func takeStoredAcknowledgement() -> Bool {
        guard storedUnacknowledged > 0 else { return false }
        storedUnacknowledged -= 1
        return true
    }

    /// Encodes `frame` straight into the output buffer.
    func write(_ frame: Frame) {
        noise.enqueue { frame.encode(into: &$0) }
        flusher.flushSoon(self)
    }

    /// From now on holds each live direct delivery (up to `byteLimit` bytes of them) until the client acknowledges it.
    func holdLiveDeliveries(byteLimit: Int) {
        holdLimit = Int32(clamping: max(1, byteLimit))
    }

    /// Encodes the `deliver` frame of a direct message, `send` with its one wrap, straight into the output buffer;
    /// `observer` is handed a receipt (the request id and the `send` frame) with whether the write carrying it
    /// reached the socket. Held until acknowledged when the client acknowledges live deliveries; one it cannot
    /// hold (the client leaves too much unacknowledged) is not written, and the observer stores it.
    func deliver(_ send: SendView, observer: any WriteObserver) {
        if holdLimit > 0 {
            let held = unacknowledged ?? UnacknowledgedDeliveries(byteLimit: Int(holdLimit))
            unacknowledged = held
            guard held.hold(send) else {
                // The client leaves too much unacknowledged to hold more: the message is stored instead.
                observer.delivery(WriteReceipt(observer: observer, id: send.requestID, bytes: send.frame), wasWritten: false)
                return
            }
        }
        noise.enqueue { send.encodeDirectDelivery(stored: false, into: &$0) }
        noise.notify(WriteReceipt(observer: observer, id: send.requestID, bytes: send.frame))
        flusher.flushSoon(self)
    }

    /// Frees what the connection need not keep while it carries nothing (see `OutboundQueue.releaseIdleResources`),
    /// and the list of held deliveries once it is empty.
    func releaseIdleResources(immediately: Bool) {
        noise.releaseIdleResources(immediately: immediately)
        if unacknowledged?.isEmpty == true { unacknowledged = nil }
    }

    /// Sends everything queued (called by the flusher).
    func flush() {
        noise.flushNow(promise: nil)
    }
}
