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
    /// The resolved names, each as its length byte and UTF-8 bytes, in the order of the wraps.
    private var names: [UInt8] = []
    /// The relay's generation the targets were resolved at (nil before the first resolution).
    private(set) var generation: UInt64?
    /// One target per name, in the order of the envelope's wraps.
    private(set) var targets: [RouteTarget] = []
    /// The targets on the sender's loop, held without a reference count (`targets` keeps them alive), so that the
    /// fan-out loop touches each recipient without retaining and releasing it (a tenth of the relay's time at 1,000
    /// recipients).
    private var localRecipients: [LocalRecipient] = []
    /// The targets on other event loops, grouped by loop: an envelope is handed to each other loop once, with
    /// its recipients there, and that loop makes their copies.
    private(set) var remoteGroups: [RemoteGroup] = []
    /// The wrap indices of the recipients who are offline.
    private(set) var offline: [Int] = []

    /// Whether any target is online (else an envelope needs no delivery encoded at all).
    var anyoneOnline: Bool { !localRecipients.isEmpty || !remoteGroups.isEmpty }

    /// Whether `send` names exactly the resolved recipients, in order, at the relay's current `generation`:
    /// compared byte for byte in the frame, without making a string per name.
    func match(_ send: SendView, generation: UInt64) -> Bool {
        guard generation == self.generation, send.recipients.count == targets.count else { return false }
        return send.withUnsafeBytes { frame in
            names.withUnsafeBytes { names in
                var offset = 0
                for recipient in send.recipients {
                    let name = UnsafeRawBufferPointer(rebasing: frame[recipient.name])
                    guard Int(names[offset]) == name.count, sameBytes(UnsafeRawBufferPointer(rebasing: names[offset + 1..<offset + 1 + name.count]), name) else {
                        return false
                    }
                    offset += 1 + name.count
                }
                return true
            }
        }
    }

    /// Resolves the recipients of `send` (which passed validation), named `names`, for a sender on `loop`.
    func resolve(_ send: SendView, names recipientNames: [String], relay: Relay, loop: any EventLoop) {
        let resolved = relay.resolve(recipientNames)
        names = send.withUnsafeBytes { frame in
            send.recipients.reduce(into: [UInt8]()) { names, recipient in
                names.append(UInt8(recipient.name.count))
                names.append(contentsOf: frame[recipient.name])
            }
        }
        targets = resolved.sessions.map { session in
            guard let session else { return .offline }
            return session.loop === loop ? .local(session.outbound.value) : .remote(session)
        }
        localRecipients = []
        remoteGroups = []
        offline = []
        for (index, target) in targets.enumerated() {
            switch target {
            case let .local(outbound):
                localRecipients.append(LocalRecipient(wrapIndex: index, outbound: Unmanaged.passUnretained(outbound)))
            case let .remote(session):
                let recipient = RemoteRecipient(wrapIndex: index, session: session)
                if let group = remoteGroups.firstIndex(where: { $0.loop === session.loop }) {
                    remoteGroups[group].recipients.append(recipient)
                } else {
                    remoteGroups.append(RemoteGroup(loop: session.loop, recipients: [recipient]))
                }
            case .offline:
                offline.append(index)
            }
        }
        generation = resolved.generation
    }

    /// Copies a delivery, `shared` then the recipient's wrap from `frame` (the bytes of `send`), into the output of
    /// every recipient on this loop whose connection is not backed up; adds the wrap indices of the others to
    /// `unreachable`. Returns how many were reached.
    func deliverLocally(_ shared: UnsafeRawBufferPointer, wrapsOf send: SendView, in frame: UnsafeRawBufferPointer, unreachable: inout [Int]) -> Int {
        var reached = 0
        withExtendedLifetime(targets) {
            for local in localRecipients {
                local.outbound._withUnsafeGuaranteedRef { outbound in
                    if outbound.isWritable {
                        outbound.deliver(shared, UnsafeRawBufferPointer(rebasing: frame[send.recipients[local.wrapIndex].wrap]))
                        reached += 1
                    } else {
                        unreachable.append(local.wrapIndex)
                    }
                }
            }
        }
        return reached
    }
}

/// A recipient on the sender's event loop, which of the envelope's wraps is theirs, and their outbound (unretained).
private struct LocalRecipient {
    let wrapIndex: Int
    let outbound: Unmanaged<SessionOutbound>
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
