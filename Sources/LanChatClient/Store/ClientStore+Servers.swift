import Foundation
import GRDB
import LanChatCrypto

extension ClientStore {
    /// What the store says about a server's key at an address.
    public enum ServerKeyCheck: Equatable, Sendable {
        /// First connection to this address: the key is now pinned.
        case pinnedNow
        /// The key matches the pinned one.
        case matches
        /// The address is pinned to a different key.
        case changed(pinned: PublicKey)
    }

    /// Pins `key` for `address` on first use, or compares it with the pinned key.
    public func checkServer(address: String, key: PublicKey) throws -> ServerKeyCheck {
        try queue.write { db in
            if let pinned = try Data.fetchOne(db, sql: "SELECT key FROM knownServer WHERE address = ?", arguments: [address]) {
                let pinnedKey = try PublicKey(rawRepresentation: pinned)
                return pinnedKey == key ? .matches : .changed(pinned: pinnedKey)
            }
            try db.execute(sql: "INSERT INTO knownServer (address, key, firstSeen) VALUES (?, ?, ?)",
                           arguments: [address, Data(key.rawRepresentation), Int64(EnvelopeHeader.currentTimestamp())])
            return .pinnedNow
        }
    }

    /// Replaces the pinned key of `address`; returns the key it replaced, if any.
    @discardableResult
    public func trustServer(address: String, key: PublicKey) throws -> PublicKey? {
        try queue.write { db in
            let previous = try Data.fetchOne(db, sql: "SELECT key FROM knownServer WHERE address = ?", arguments: [address])
            try db.execute(sql: "INSERT OR REPLACE INTO knownServer (address, key, firstSeen) VALUES (?, ?, ?)",
                           arguments: [address, Data(key.rawRepresentation), Int64(EnvelopeHeader.currentTimestamp())])
            return try previous.map { try PublicKey(rawRepresentation: $0) }
        }
    }

    /// The key pinned for `address`.
    public func pinnedServerKey(address: String) throws -> PublicKey? {
        try queue.read { db in
            try Data.fetchOne(db, sql: "SELECT key FROM knownServer WHERE address = ?", arguments: [address]).map { try PublicKey(rawRepresentation: $0) }
        }
    }
}
