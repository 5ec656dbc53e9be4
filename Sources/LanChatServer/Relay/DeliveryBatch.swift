import LanChatProtocol
import NIOCore

/// Writes for sessions on other event loops than the caller's, collected while a read batch is processed and
/// handed over by `dispatch` in one task per loop, in the order they were added: a read batch costs each other
/// loop one task, not one per delivery, and a sender's messages keep their order. (Sessions on the caller's own
/// loop are written at once; their flush comes at the end of the tick.)
struct DeliveryBatch {
    private enum Item {
        case delivery(ClientSession, shared: ByteBuffer, wrap: ByteBuffer)
        case frame(ClientSession, ByteBuffer)
        case direct(ClientSession, Frame, whenWritten: @Sendable (_ written: Bool) -> Void)
    }

    private var remote: [(loop: any EventLoop, items: [Item])] = []

    /// Queues one delivery (shared part, then the recipient's wrap) for `session`, on another event loop.
    mutating func add(_ shared: ByteBuffer, _ wrap: ByteBuffer, to session: ClientSession) {
        append(.delivery(session, shared: shared, wrap: wrap), on: session.loop)
    }

    /// Queues a direct message for `session`, on another event loop; `whenWritten` runs on that loop once the
    /// write carrying it reached the socket, or failed.
    mutating func add(direct frame: Frame, to session: ClientSession, whenWritten: @escaping @Sendable (_ written: Bool) -> Void) {
        append(.direct(session, frame, whenWritten: whenWritten), on: session.loop)
    }

    /// Queues an encoded frame for `session`: written at once if it is on `loop` (the caller's), else handed over.
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
                    case let .direct(session, frame, whenWritten): session.outbound.value.write(frame, completion: whenWritten)
                    }
                }
            }
        }
        remote.removeAll(keepingCapacity: true)
    }
}
