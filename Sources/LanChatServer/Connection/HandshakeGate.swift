import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Caps the connections from one IP address whose Noise handshake has not finished. Each may wait for
/// `handshakeTimeout`, so without a cap one host that opens connections and never finishes them would hold
/// the server's descriptors and keep everyone else out. Finished handshakes do not count: a host may have any
/// number of registered clients.
final class HandshakeGate: Sendable {
    private struct Address {
        var unfinished = 0
        /// Whether the operator was told this address hit the cap (once until its count falls back to zero).
        var warned = false
    }

    private let limit: Int
    private let logger: Logger
    private let addresses = NIOLockedValueBox<[String: Address]>([:])

    init(limit: Int, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    /// Counts a new connection from `peer`; false, counting nothing, when its address is at the cap.
    func admit(_ peer: SocketAddress?) -> Bool {
        guard let ip = peer?.ipAddress else { return true }
        let warnNow: Bool? = addresses.withLockedValue { addresses in
            var address = addresses[ip, default: Address()]
            defer { addresses[ip] = address }
            guard address.unfinished >= limit else {
                address.unfinished += 1
                return nil
            }
            defer { address.warned = true }
            return !address.warned
        }
        if warnNow == true {
            logger.warning("\(ip) has \(limit) connections with unfinished handshakes: refusing its new ones until some finish (--max-handshakes-per-address)")
        }
        return warnNow == nil
    }

    /// Ends the count of a connection that `admit` let in: its handshake finished, or it closed before that.
    func finished(_ peer: SocketAddress?) {
        guard let ip = peer?.ipAddress else { return }
        addresses.withLockedValue { addresses in
            guard var address = addresses[ip] else { return }
            address.unfinished -= 1
            addresses[ip] = address.unfinished > 0 ? address : nil
        }
    }

    /// Connections from `ip` with unfinished handshakes.
    func unfinished(from ip: String) -> Int {
        addresses.withLockedValue { $0[ip]?.unfinished ?? 0 }
    }

    /// Thrown from the connection initializer to refuse a connection (the listener closes it).
    struct Refused: Error {}
}
