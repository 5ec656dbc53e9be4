import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Caps the connections from one IP address that are not registered yet (in the Noise handshake, or before
/// `welcome`). Without a cap one host that opens connections and never registers them would hold the
/// server's descriptors and keep everyone else out. Registered connections do not count: a host may have any
/// number of clients.
final class PendingConnectionLimit: Sendable {
    private struct Address {
        var pending = 0
        /// Whether the operator was told this address hit the cap (once until its count falls back to zero).
        var warned = false
    }

    private let limit: Int
    private let logger: Logger
    private let addresses = NIOLockedValueBox<[String: Address]>([:])

    init(limit: Int, logger: Logger) {
        self.limit = max(1, limit)
        self.logger = logger
    }

    /// Counts a new connection from `peer`; false, counting nothing, when its address is at the cap.
    func admit(_ peer: SocketAddress?) -> Bool {
        guard let ip = peer?.ipAddress else { return true }
        let (admitted, warn) = addresses.withLockedValue { addresses in
            var address = addresses[ip, default: Address()]
            defer { addresses[ip] = address }
            if address.pending < limit {
                address.pending += 1
                return (true, false)
            }
            defer { address.warned = true }
            return (false, !address.warned)
        }
        if warn {
            logger.warning("\(ip) has \(limit) connections that are not registered yet: refusing its new ones until some register or close (--max-pending-per-address)")
        }
        return admitted
    }

    /// Ends the count of a connection that `admit` let in: it registered, or it closed before that.
    func finished(_ peer: SocketAddress?) {
        guard let ip = peer?.ipAddress else { return }
        addresses.withLockedValue { addresses in
            guard var address = addresses[ip] else { return }
            address.pending -= 1
            addresses[ip] = address.pending > 0 ? address : nil
        }
    }

    /// Connections from `ip` that are not registered yet.
    func pending(from ip: String) -> Int {
        addresses.withLockedValue { $0[ip]?.pending ?? 0 }
    }

    /// Thrown from the connection initializer to refuse a connection (the listener closes it).
    struct Refused: Error {}
}
