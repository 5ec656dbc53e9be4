import LanChatCrypto
import LanChatProtocol
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Who is online, and the routing of frames between their connections. Shared by every event loop.
final class Relay: Sendable {
    enum Registration {
        case registered(replaced: ClientSession?)
        case nameTaken
    }

    /// The online sessions by name.
    private let directory = NIOLockedValueBox<[String: ClientSession]>([:])
    /// Counts the changes to `directory`; changed under its lock, read without it (every envelope reads it).
    private let changes = Atomic<UInt64>(0)
    private let loopResources = NIOLockedValueBox<[ObjectIdentifier: NIOLoopBound<LoopResources>]>([:])

    /// What `loop`'s connections share (call on that loop).
    func resources(for loop: any EventLoop, configuration: ServerConfiguration) -> LoopResources {
        loopResources.withLockedValue { resources in
            if let existing = resources[ObjectIdentifier(loop)] { return existing }
            let created = NIOLoopBound(LoopResources(loop: loop, configuration: configuration), eventLoop: loop)
            resources[ObjectIdentifier(loop)] = created
            return created
        }.value
    }

    /// Registers `session` under its name. A name held by another key is refused; the same key replaces its old session.
    func register(_ session: ClientSession) -> Registration {
        directory.withLockedValue { sessions in
            let existing = sessions[session.name]
            if let existing, existing.key != session.key { return .nameTaken }
            sessions[session.name] = session
            changes.add(1, ordering: .releasing)
            return .registered(replaced: existing)
        }
    }

    /// Checks a connection that only sends against the name's registered session, without taking its place: it
    /// stays out of the directory, so nothing is routed to it. A name held online by another key is refused.
    func admitSender(_ session: ClientSession) -> Registration {
        directory.withLockedValue { sessions in
            if let existing = sessions[session.name], existing.key != session.key { return .nameTaken }
            return .registered(replaced: nil)
        }
    }

    /// Removes `session` if it is still the one registered under its name; true when it was.
    func unregister(_ session: ClientSession) -> Bool {
        directory.withLockedValue { sessions in
            guard sessions[session.name] === session else { return false }
            sessions[session.name] = nil
            changes.add(1, ordering: .releasing)
            return true
        }
    }

    func session(named name: String) -> ClientSession? {
        directory.withLockedValue { $0[name] }
    }

    /// Looks up several names under one lock.
    func sessions(named names: some Sequence<String>) -> [ClientSession?] {
        resolve(names).sessions
    }

    /// Looks up several names under one lock, with the generation the answer belongs to.
    func resolve(_ names: some Sequence<String>) -> (sessions: [ClientSession?], generation: UInt64) {
        directory.withLockedValue { sessions in (names.map { sessions[$0] }, changes.load(ordering: .relaxed)) }
    }

    /// Changes whenever a session registers or leaves: a lookup made at the same generation is still true.
    var generation: UInt64 { changes.load(ordering: .acquiring) }

    func everyone() -> [ClientSession] {
        directory.withLockedValue { Array($0.values) }
    }

    var onlineCount: Int { directory.withLockedValue { $0.count } }

    /// Writes each item's frame to its session (called on `loop`), flushed at the end of each loop's tick.
    /// Hands stored deliveries (recipient, frame) to those of their recipients who are online and writable now
    /// (called on `loop`); returns how many were handed over.
    @discardableResult
    func pushStored(_ deliveries: [(recipient: String, frame: ByteBuffer)], from loop: any EventLoop) -> Int {
        let items = zip(deliveries, sessions(named: deliveries.lazy.map(\.recipient))).compactMap { delivery, session -> (session: ClientSession, frame: ByteBuffer)? in
            guard let session, session.channel.isWritable else { return nil }
            return (session, delivery.frame)
        }
        write(items, stored: true, from: loop)
        return items.count
    }

    /// Writes each frame to its session (`stored`: they are stored deliveries, to be acknowledged).
    func write(_ items: [(session: ClientSession, frame: ByteBuffer)], stored: Bool = false, from loop: any EventLoop) {
        var batch = DeliveryBatch()
        for item in items { batch.add(item.frame, stored: stored, to: item.session, from: loop) }
        batch.dispatch()
    }

    /// Tells everyone else who asked for presence about a change of `session` (called on `loop`).
    func announce(_ event: Presence.Event, of session: ClientSession, from loop: any EventLoop) {
        let frame = Frame.presence(Presence(event: event, user: session.entry)).encoded()
        write(everyone().filter { $0 !== session && $0.wantsPresence }.map { ($0, frame) }, from: loop)
    }
}
