import Foundation
import GRDB
import LanChatCrypto

extension ClientStore {
    /// Saves a message; saving the same id and direction again changes nothing. True when it was new.
    @discardableResult
    public func record(_ entry: HistoryEntry) throws -> Bool {
        try queue.write { db in try Self.insert(entry, in: db) }
    }

    /// Inserts `entry` unless its id and direction are saved already; true when it was new.
    private static func insert(_ entry: HistoryEntry, in db: Database) throws -> Bool {
        try db.execute(sql: """
            INSERT OR IGNORE INTO message (id, direction, peer, sender, isPrivate, text, sentAt, recordedAt, verified)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [entry.id, entry.direction.rawValue, entry.peer, entry.sender, entry.isPrivate, entry.text,
                             Int64(entry.sentAt), Int64(entry.recordedAt), entry.verified])
        return db.changesCount > 0
    }

    /// Saved messages, oldest first: all of them, or those exchanged with `peer` (their messages, and
    /// private ones to them), sent at or after `since` (ms since 1970).
    public func history(with peer: String? = nil, since: UInt64? = nil) throws -> [HistoryEntry] {
        try queue.read { db in
            var conditions: [String] = [], arguments: [any DatabaseValueConvertible] = []
            if let peer {
                conditions.append("(peer = ? OR (direction = 'in' AND sender = ?))")
                arguments += [peer, peer]
            }
            if let since {
                conditions.append("sentAt >= ?")
                arguments.append(Int64(since))
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try Row.fetchAll(db, sql: "SELECT * FROM message \(filter) ORDER BY sentAt, recordedAt", arguments: StatementArguments(arguments)).map { row in
                HistoryEntry(
                    id: row["id"], direction: HistoryEntry.Direction(rawValue: row["direction"]) ?? .incoming,
                    peer: row["peer"], sender: row["sender"], isPrivate: row["isPrivate"], text: row["text"],
                    sentAt: UInt64(row["sentAt"] as Int64), recordedAt: UInt64(row["recordedAt"] as Int64), verified: row["verified"]
                )
            }
        }
    }

    // MARK: Outbox

    /// Queues a message to send once the server is reachable.
    public func enqueue(text: String, to recipient: String?, includeOffline: Bool) throws {
        try queue.write { db in
            try db.execute(sql: "INSERT INTO outbox (recipient, includeOffline, text, createdAt) VALUES (?, ?, ?, ?)",
                           arguments: [recipient, includeOffline, text, Int64(EnvelopeHeader.currentTimestamp())])
        }
    }

    /// The queued messages, oldest first.
    public func outbox() throws -> [OutboxEntry] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outbox ORDER BY seq").map {
                OutboxEntry(sequence: $0["seq"], recipient: $0["recipient"], includeOffline: $0["includeOffline"], text: $0["text"])
            }
        }
    }

    /// Removes a queued message once the server accepted it (or refused it for good).
    public func removeFromOutbox(_ sequence: Int64) throws {
        try queue.write { db in try db.execute(sql: "DELETE FROM outbox WHERE seq = ?", arguments: [sequence]) }
    }
}

extension ClientStore {
    /// Saves an incoming message in one transaction: its id as accepted from its sender (false, and nothing
    /// saved, when it was accepted before: a replay or a repeated delivery), the history entry, and the
    /// contact as used.
    public func acceptIncoming(_ message: ReceivedMessage, messageID: [UInt8]) throws -> Bool {
        try queue.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO seenMessage (senderKey, messageID, timestamp) VALUES (?, ?, ?)",
                           arguments: [Data(message.sender.key.rawRepresentation), Data(messageID), Int64(message.sentAt)])
            guard db.changesCount > 0 else { return false }
            let now = EnvelopeHeader.currentTimestamp()
            _ = try Self.insert(HistoryEntry(
                id: message.id, direction: .incoming, peer: message.sender.name, sender: message.sender.name,
                isPrivate: message.isPrivate, text: message.text, sentAt: message.sentAt, recordedAt: now, verified: message.sender.isVerified
            ), in: db)
            try db.execute(sql: "UPDATE contact SET state = 'pinned' WHERE name = ? AND state = 'new'", arguments: [message.sender.name])
            if now > MessageWindow.maxAge + MessageWindow.maxFuture {
                try db.execute(sql: "DELETE FROM seenMessage WHERE timestamp < ?", arguments: [Int64(now - MessageWindow.maxAge - MessageWindow.maxFuture)])
            }
            return true
        }
    }
}
