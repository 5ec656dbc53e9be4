import NIOCore

/// An object that may only be used on one event loop, like `NIOLoopBound`, but checked only in debug builds:
/// it sits on the per-delivery path, where the relay has just compared event loops anyway.
struct LoopConfined<Value: AnyObject>: @unchecked Sendable {
    let loop: any EventLoop
    private let confined: Value

    init(_ value: Value, loop: any EventLoop) {
        self.confined = value
        self.loop = loop
    }

    /// The object; call on `loop`.
    var value: Value {
        assert(loop.inEventLoop, "used off its event loop")
        return confined
    }
}
