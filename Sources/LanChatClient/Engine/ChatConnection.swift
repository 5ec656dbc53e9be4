import LanChatCrypto
import NIOCore
import NIOPosix

/// A chat that survives the server going away: it reconnects on its own with exponential backoff, keeps
/// outgoing messages in the store's outbox while the server is unreachable, and sends them, oldest first,
/// once it is back. Interfaces (the `chat` command, a GUI) sit on top of it.
public actor ChatConnection {
    /// What an interface shows about the connection and the chat.
    public enum Event: Sendable, Equatable {
        case connected(server: String)
        case chat(ChatEvent)
        /// The server is unreachable or went away; the next attempt is in `after`.
        case reconnecting(after: Duration, reason: String)
        /// A message typed while offline was sent now.
        case sentFromOutbox(text: String, to: String?)
        /// A message from the outbox was refused for good and removed from it.
        case outboxRefused(text: String, reason: String)
        /// Reconnecting cannot help (the server's key changed, the name belongs to someone else, the same user
        /// connected again elsewhere): it stopped.
        case stopped(reason: String)
    }

    /// What happened to a message handed to `send`.
    public enum SendOutcome: Sendable, Equatable {
        case sent(SendReceipt)
        /// Kept in the outbox until the server is reachable.
        case queued
    }

    /// Delays between attempts: doubling from `initial` up to `maximum`, with ±20 % jitter.
    public struct Backoff: Sendable {
        public var initial: Duration
        public var maximum: Duration

        public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
            self.initial = initial
            self.maximum = maximum
        }

        func delay(attempt: Int) -> Duration {
            let base = min(initial * (1 << min(attempt, 16)), maximum)
            return base * Double.random(in: 0.8...1.2)
        }
    }

    public nonisolated let events: AsyncStream<Event>
    private nonisolated let sink: AsyncStream<Event>.Continuation
    private let address: ServerAddress
    private let identity: Identity
    private let store: ClientStore
    private let backoff: Backoff
    private let group: any EventLoopGroup
    private var runner: Task<Void, Never>?
    /// The live connection, when there is one.
    public private(set) var client: ChatClient?

    public init(
        to address: ServerAddress,
        as identity: Identity,
        store: ClientStore,
        backoff: Backoff = Backoff(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.address = address
        self.identity = identity
        self.store = store
        self.backoff = backoff
        self.group = group
        (events, sink) = AsyncStream.makeStream(of: Event.self)
    }

    /// Starts connecting in the background; events report progress.
    public func start() {
        guard runner == nil else { return }
        runner = Task { await self.run() }
    }

    /// Sends now when connected, else keeps the message in the outbox.
    public func send(_ text: String, to recipient: String?, includeOffline: Bool = false) async throws -> SendOutcome {
        if let client {
            do {
                return .sent(try await Self.deliver(text, to: recipient, includeOffline: includeOffline, via: client))
            } catch ClientError.disconnected {
                // The connection dropped under us: keep the message for the next one.
            }
        }
        // Online, `sendPrivate` checks the recipient; a message the server would refuse is not queued either.
        if let recipient { try ChatClient.requireSomeoneElse(recipient, than: identity) }
        try store.enqueue(text: text, to: recipient, includeOffline: includeOffline)
        return .queued
    }

    /// Accepts the changed key of `name` (see `ChatClient.trust`); messages that came under it are shown now.
    @discardableResult
    public func trust(_ name: String) throws -> Contact {
        try client?.trust(name) ?? store.trust(name: name)
    }

    /// Marks `name`'s key verified (see `ChatClient.markVerified`); messages that came under it are shown now.
    @discardableResult
    public func markVerified(_ name: String) throws -> Contact {
        try client?.markVerified(name) ?? store.markVerified(name: name, me: identity.name.value)
    }

    /// Stops reconnecting and closes the connection.
    public func close() async {
        runner?.cancel()
        runner = nil
        await client?.close()
        client = nil
        sink.finish()
    }

    // MARK: Internals

    private func run() async {
        var attempt = 0
        while !Task.isCancelled {
            let reason: String
            do {
                let client = try await ChatClient.connect(to: address, as: identity, store: store, group: group)
                self.client = client
                attempt = 0
                sink.yield(.connected(server: client.serverName))
                await flushOutbox(via: client)
                for await event in client.events {
                    switch event {
                    case .notice where client.replaced != nil, .disconnected where client.replaced != nil:
                        continue // said once, as the reason this chat stops
                    default:
                        sink.yield(.chat(event))
                    }
                }
                self.client = nil
                // Reconnecting would replace the newer connection in turn, and the two would take turns forever.
                if let replaced = client.replaced { throw replaced }
                reason = "the connection to \(address) was lost"
            } catch let error as ClientError where error.isPermanent {
                sink.yield(.stopped(reason: "\(error)"))
                sink.finish()
                return
            } catch {
                reason = "\(error)"
            }
            guard !Task.isCancelled else { return }
            let delay = backoff.delay(attempt: attempt)
            attempt += 1
            sink.yield(.reconnecting(after: delay, reason: reason))
            try? await Task.sleep(for: delay)
        }
    }

    private func flushOutbox(via client: ChatClient) async {
        guard let pending = try? store.outbox() else { return }
        for entry in pending {
            do {
                _ = try await Self.deliver(entry.text, to: entry.recipient, includeOffline: entry.includeOffline, via: client)
                try? store.removeFromOutbox(entry.sequence)
                sink.yield(.sentFromOutbox(text: entry.text, to: entry.recipient))
            } catch ClientError.disconnected {
                return
            } catch {
                try? store.removeFromOutbox(entry.sequence)
                sink.yield(.outboxRefused(text: entry.text, reason: "\(error)"))
            }
        }
    }

    private static func deliver(_ text: String, to recipient: String?, includeOffline: Bool, via client: ChatClient) async throws -> SendReceipt {
        if let recipient { try await client.sendPrivate(text, to: recipient) } else { try await client.broadcast(text, includeOffline: includeOffline) }
    }
}

extension ClientError {
    /// True for failures that another connection attempt cannot fix.
    var isPermanent: Bool {
        switch self {
        case .serverKeyChanged, .replaced: true
        case let .refused(frame): [.nameTaken, .invalidName, .unsupportedVersion].contains(frame.code)
        default: false
        }
    }
}
