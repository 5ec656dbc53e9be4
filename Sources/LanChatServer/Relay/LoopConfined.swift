import NIOCore

/// An object that belongs to one event loop and knows which.
protocol LoopBound: AnyObject {
    var loop: any EventLoop { get }
}

/// An object that may only be used on its event loop, like `NIOLoopBound`, but checked only in debug builds:
/// it sits on the per-delivery path, where the relay has just compared event loops anyway. It stores nothing
/// but the object (the loop is the object's own), which matters for thousands of idle sessions.
struct LoopConfined<Value: LoopBound>: @unchecked Sendable {
    private let confined: Value

    init(_ value: Value) {
        self.confined = value
    }

    /// The object's event loop; may be read on any thread (it never changes).
    var loop: any EventLoop { confined.loop }

    /// The object; call on `loop`.
    var value: Value {
        assert(loop.inEventLoop, "used off its event loop")
        return confined
    }
}
