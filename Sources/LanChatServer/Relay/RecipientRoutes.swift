import LanChatProtocol
import NIOCore

/// Where one recipient of an envelope is reached from the sender's event loop.
enum RouteTarget {
    /// Online on the sender's event loop: written straight into its outbound.
    case local(SessionOutbound)
    /// Online on another event loop: handed over by a `DeliveryBatch`.
    case remote(ClientSession)
    case offline

    /// Online, and its connection is not backed up.
    var isReachable: Bool {
        switch self {
        case let .local(outbound): outbound.isWritable
        case let .remote(session): session.channel.isWritable
        case .offline: false
        }
    }
}

/// The recipients of a sender's previous envelope, resolved to where they are reached. A client names the same
/// recipients in the same order message after message (a broadcast names everyone, a conversation one peer);
/// while nobody registers or leaves (`Relay.generation`), an envelope to the same names reuses the resolution:
/// no name hashing, no duplicate check, no array of sessions built per message. Used on the sender's event loop.
final class RecipientRoutes {
    private var names: [String] = []
    /// The relay's generation the targets were resolved at (nil before the first resolution).
    private(set) var generation: UInt64?
    /// One target per name, in the order of the envelope's wraps.
    private(set) var targets: [RouteTarget] = []
    /// For each target on the sender's loop its outbound, nil for the others: the same objects as in `targets`,
    /// which keeps them alive, held here without a reference count, so that the fan-out loop touches each
    /// recipient without retaining and releasing it (a tenth of the relay's time at 1,000 recipients).
    private(set) var localOutbounds: [Unmanaged<SessionOutbound>?] = []
    /// The targets on other event loops, grouped by loop: an envelope is handed to each other loop once, with
    /// its recipients there, and that loop makes their copies.
    private(set) var remoteGroups: [RemoteGroup] = []
    /// Whether any target is online (else an envelope needs no delivery encoded at all).
    private(set) var anyoneOnline = false

    /// Whether `wraps` name exactly the resolved recipients, in order, at the relay's current `generation`.
    func match(_ wraps: [Send.Wrap], generation: UInt64) -> Bool {
        guard generation == self.generation, wraps.count == names.count else { return false }
        for index in wraps.indices where wraps[index].recipient != names[index] { return false }
        return true
    }

    /// Resolves the recipients of `wraps` (which passed validation) for a sender on `loop`.
    func resolve(_ wraps: [Send.Wrap], relay: Relay, loop: any EventLoop) {
        let resolved = relay.resolve(wraps.lazy.map(\.recipient))
        names = wraps.map(\.recipient)
        targets = resolved.sessions.map { session in
            guard let session else { return .offline }
            return session.loop === loop ? .local(session.outbound.value) : .remote(session)
        }
        localOutbounds = targets.map { target in
            if case let .local(outbound) = target { Unmanaged.passUnretained(outbound) } else { nil }
        }
        remoteGroups = []
        for (index, target) in targets.enumerated() {
            guard case let .remote(session) = target else { continue }
            let recipient = RemoteRecipient(wrapIndex: index, session: session)
            if let group = remoteGroups.firstIndex(where: { $0.loop === session.loop }) {
                remoteGroups[group].recipients.append(recipient)
            } else {
                remoteGroups.append(RemoteGroup(loop: session.loop, recipients: [recipient]))
            }
        }
        anyoneOnline = targets.contains { if case .offline = $0 { false } else { true } }
        generation = resolved.generation
    }
}

/// The recipients of an envelope on one other event loop.
struct RemoteGroup {
    let loop: any EventLoop
    var recipients: [RemoteRecipient]
}

/// A recipient on another event loop, and which of the envelope's wraps is theirs.
struct RemoteRecipient: Sendable {
    let wrapIndex: Int
    let session: ClientSession
}
