import LanChatProtocol
import NIOCore

/// Writes for sessions on other event loops than the caller's, collected while a read batch is processed and
/// handed over by `dispatch` in one task per loop, in the order they were added: a read batch costs each other
/// loop one task, not one per delivery, and a sender's messages keep their order. (Sessions on the caller's own
/// loop are written at once; their flush comes at the end of the tick.)
struct DeliveryBatch {
    private enum Item {
        case envelope(shared: ByteBuffer, send: SendView, recipients: [RemoteRecipient])
        case frame(ClientSession, ByteBuffer, stored: Bool)
        case direct(ClientSession, SendView, sender: SenderOnAnotherLoop)
    }

    private var remote: [(loop: any EventLoop, items: [Item])] = []

    /// Queues one envelope for `recipients`, on the other event loop `loop`: each gets the shared part, then its
    /// own of the wraps in `send`. That loop makes the copies; this one hands over a few references.
    mutating func add(envelope shared: ByteBuffer, send: SendView, to recipients: [RemoteRecipient], on loop: any EventLoop) {
        append(.envelope(shared: shared, send: send, recipients: recipients), on: loop)
    }

    /// Queues the direct message `send` for `session`, on another event loop; `sender` is told on its own loop,
    /// with the request id and the `send` frame, whether the write carrying it reached the socket.
    mutating func add(direct send: SendView, to session: ClientSession, sender: SenderOnAnotherLoop) {
        append(.direct(session, send, sender: sender), on: session.loop)
    }

    /// Queues an encoded frame for `session` (`stored`: a stored delivery): written at once if it is on `loop`
    /// (the caller's), else handed over.
    mutating func add(_ frame: ByteBuffer, stored: Bool, to session: ClientSession, from loop: any EventLoop) {
        if session.loop === loop {
            session.outbound.value.write(frame, stored: stored)
        } else {
            append(.frame(session, frame, stored: stored), on: session.loop)
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
                    case let .envelope(shared, send, recipients): Self.deliver(shared, send, to: recipients)
                    case let .frame(session, frame, stored): session.outbound.value.write(frame, stored: stored)
                    case let .direct(session, send, sender):
                        session.outbound.value.deliver(send, observer: sender)
                    }
                }
            }
        }
        remote.removeAll(keepingCapacity: true)
    }

    /// Copies an envelope into the outputs of `recipients` (on the calling loop).
    private static func deliver(_ shared: ByteBuffer, _ send: SendView, to recipients: [RemoteRecipient]) {
        shared.withUnsafeReadableBytes { shared in
            send.withUnsafeBytes { frame in
                for recipient in recipients {
                    let wrap = send.recipients[recipient.wrapIndex].wrap
                    recipient.session.outbound.value.deliver(shared, UnsafeRawBufferPointer(rebasing: frame[wrap]))
                }
            }
        }
    }
}

/// Hands a receipt answered on a recipient's event loop to the sender's handler, on the sender's loop.
final class SenderOnAnotherLoop: WriteObserver, Sendable {
    private let sender: NIOLoopBound<any WriteObserver>

    /// Call on the sender's loop.
    init(_ sender: any WriteObserver, loop: any EventLoop) {
        self.sender = NIOLoopBound(sender, eventLoop: loop)
    }

    func delivery(_ receipt: WriteReceipt, wasWritten written: Bool) {
        let sender = sender, id = receipt.id, bytes = receipt.bytes
        sender.eventLoop.execute {
            sender.value.delivery(WriteReceipt(observer: sender.value, id: id, bytes: bytes), wasWritten: written)
        }
    }
}
