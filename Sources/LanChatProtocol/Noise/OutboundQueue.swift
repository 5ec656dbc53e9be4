import NIOCore

/// Where a handler can queue outbound plaintext for its peer without a pipeline write, on the channel's event
/// loop: `NoiseChannelHandler` in a real pipeline (which encrypts at `flushNow`).
public protocol OutboundQueue: AnyObject {
    /// Queues a copy of `bytes`.
    func enqueue(_ bytes: ByteBuffer)
    /// Queues a copy of `first`, then of `second` (memory the caller keeps valid for the call).
    func enqueue(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer)
    /// Lets `encode` write the bytes straight into the queue.
    func enqueue(encoding encode: (inout ByteBuffer) -> Void)
    /// Sends everything queued; `promise` completes once it was written to the socket, or fails.
    func flushNow(promise: EventLoopPromise<Void>?)
    /// Hands `receipt` back to its observer with whether the write carrying everything queued so far reached the socket.
    func notify(_ receipt: consuming WriteReceipt)
    /// Frees what the connection need not keep while it carries nothing (the Noise handler: its cipher contexts
    /// and the storage of its last write, made again for the next message): at once with `immediately`, else
    /// only if unused since the previous call, which is meant to be made periodically.
    func releaseIdleResources(immediately: Bool)
}

extension NoiseChannelHandler: OutboundQueue {
    public func releaseIdleResources(immediately: Bool) {
        if immediately {
            releaseIdleMemory()
        } else {
            releaseIdleMemoryIfUnused()
        }
    }
}
