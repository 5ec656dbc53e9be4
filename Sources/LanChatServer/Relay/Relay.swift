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

    /// Writes each item's frame to its session (called on `loop`), flushed at the end of each loop's tick.
    func write(_ items: [(session: ClientSession, frame: ByteBuffer)], from loop: any EventLoop) {
        var batch = DeliveryBatch()
        for item in items { batch.add(item.frame, to: item.session, from: loop) }
        batch.dispatch()
    }

    /// Tells everyone else who asked for presence about a change of `session` (called on `loop`).
    func announce(_ event: Presence.Event, of session: ClientSession, from loop: any EventLoop) {
        let frame = Frame.presence(Presence(event: event, user: session.entry)).encoded()
        write(everyone().filter { $0 !== session && $0.wantsPresence }.map { ($0, frame) }, from: loop)
    }
}
