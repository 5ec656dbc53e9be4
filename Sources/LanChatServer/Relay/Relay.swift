import LanChatCrypto
import LanChatProtocol
import NIOConcurrencyHelpers
import NIOCore

/// Who is online, and the routing of frames between their connections. Shared by every event loop.
final class Relay: Sendable {
    enum Registration {
        case registered(replaced: ClientSession?)
        case nameTaken
    }

    private let sessions = NIOLockedValueBox<[String: ClientSession]>([:])
    private let flushers = NIOLockedValueBox<[ObjectIdentifier: NIOLoopBound<TickFlusher>]>([:])

    /// The tick flusher of `loop` (call on that loop).
    func flusher(for loop: any EventLoop) -> TickFlusher {
        flushers.withLockedValue { flushers in
            if let existing = flushers[ObjectIdentifier(loop)] { return existing }
            let created = NIOLoopBound(TickFlusher(loop: loop), eventLoop: loop)
            flushers[ObjectIdentifier(loop)] = created
            return created
        }.value
    }

    /// Registers `session` under its name. A name held by another key is refused; the same key replaces its old session.
    func register(_ session: ClientSession) -> Registration {
        sessions.withLockedValue { sessions in
            if let existing = sessions[session.name] {
                guard existing.key == session.key else { return .nameTaken }
                sessions[session.name] = session
                return .registered(replaced: existing)
            }
            sessions[session.name] = session
            return .registered(replaced: nil)
        }
    }

    /// Removes `session` if it is still the one registered under its name; true when it was.
    func unregister(_ session: ClientSession) -> Bool {
        sessions.withLockedValue { sessions in
            guard sessions[session.name] === session else { return false }
            sessions[session.name] = nil
            return true
        }
    }

    func session(named name: String) -> ClientSession? {
        sessions.withLockedValue { $0[name] }
    }

    /// Looks up several names under one lock.
    func sessions(named names: some Sequence<String>) -> [ClientSession?] {
        sessions.withLockedValue { sessions in names.map { sessions[$0] } }
    }

    func everyone() -> [ClientSession] {
        sessions.withLockedValue { Array($0.values) }
    }

    var onlineCount: Int { sessions.withLockedValue { $0.count } }

    /// Writes each item's buffers to its session now, grouped per event loop, with one flush per session.
    func write(_ items: [(session: ClientSession, buffers: [ByteBuffer])]) {
        var batch = DeliveryBatch()
        for item in items { batch.add(item.buffers, to: item.session) }
        batch.dispatch(relay: self)
    }

    /// Writes one delivery (its shared part and wrap) to `session` on its event loop, flushed at the end of
    /// that loop's tick; the future completes once it was written to the socket.
    func writeDirect(_ shared: ByteBuffer, _ wrap: ByteBuffer, to session: ClientSession) -> EventLoopFuture<Void> {
        let channel = session.channel, loop = channel.eventLoop
        let write = { @Sendable () -> EventLoopFuture<Void> in
            channel.write(shared, promise: nil)
            let written = loop.makePromise(of: Void.self)
            channel.write(wrap, promise: written)
            self.flusher(for: loop).flushSoon(channel)
            return written.futureResult
        }
        return loop.inEventLoop ? write() : loop.flatSubmit(write)
    }

    /// Tells everyone but `except` about a presence change.
    func announce(_ event: Presence.Event, of session: ClientSession, allocator: ByteBufferAllocator) {
        let frame = Frame.presence(Presence(event: event, user: session.entry)).encoded(allocator: allocator)
        write(everyone().filter { $0 !== session }.map { ($0, [frame]) })
    }
}
