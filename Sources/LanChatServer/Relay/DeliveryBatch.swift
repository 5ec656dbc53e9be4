import NIOCore

/// Routes writes from one event loop to sessions: a session on the same loop gets them queued at once (its
/// flush comes at the end of the tick); sessions on other loops get them in one task per loop, handed over by
/// `dispatch`, so a read batch costs each other loop one task, not one per delivery.
struct DeliveryBatch {
    private enum Item {
        case delivery(ClientSession, shared: ByteBuffer, wrap: ByteBuffer)
        case frame(ClientSession, ByteBuffer)
    }

    private var remote: [(loop: any EventLoop, items: [Item])] = []

    /// Queues one delivery (shared part, then the recipient's wrap) for `session`; `loop` is the caller's.
    mutating func add(_ shared: ByteBuffer, _ wrap: ByteBuffer, to session: ClientSession, from loop: any EventLoop) {
        if session.loop === loop {
            session.outbound.value.deliver(shared, wrap)
        } else {
            append(.delivery(session, shared: shared, wrap: wrap), on: session.loop)
        }
    }

    /// Queues an encoded frame for `session`; `loop` is the caller's.
    mutating func add(_ frame: ByteBuffer, to session: ClientSession, from loop: any EventLoop) {
        if session.loop === loop {
            session.outbound.value.write(frame)
        } else {
            append(.frame(session, frame), on: session.loop)
        }
    }

    private mutating func append(_ item: Item, on loop: any EventLoop) {
        if let index = remote.firstIndex(where: { $0.loop === loop }) {
            remote[index].items.append(item)
        } else {
            remote.append((loop, [item]))
        }
    }

    /// Hands what is queued for other event loops over to them, one task per loop.
    mutating func dispatch() {
        for (loop, items) in remote {
            loop.execute {
                for item in items {
                    switch item {
                    case let .delivery(session, shared, wrap): session.outbound.value.deliver(shared, wrap)
                    case let .frame(session, frame): session.outbound.value.write(frame)
                    }
                }
            }
        }
        remote.removeAll(keepingCapacity: true)
    }
}
