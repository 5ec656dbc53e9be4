import Foundation
import GRDB
import LanChatCrypto

/// The server's SQLite database (GRDB, WAL mode, `server.sqlite` in the data folder): which key owns
/// which user name, and the deliveries waiting for offline recipients. Commits are fsynced
/// (`synchronous = FULL`) so nothing acknowledged is lost to a crash.
public final class ServerDatabase: Sendable {
    /// The outcome of claiming a name for a key.
    public enum NameClaim: Equatable, Sendable {
        /// The name was free and is now bound to the key.
        case bound
        /// The name was already bound to this key.
        case alreadyBound
        /// The name belongs to another key.
        case belongsToAnotherKey(PublicKey)
        /// The name differs only in letter case from `existing`, which is registered (to any key), so
        /// one could pass for the other.
        case resembles(existing: String)
    }

    private let pool: DatabasePool

    /// Opens (creating if needed) the database in `dataDirectory`.
    public init(dataDirectory: String) throws {
        try ServerDataFolder.prepare(dataDirectory)
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(10)
        let path = Self.path(in: dataDirectory)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch let error as DatabaseError {
            throw ServerStartError.database(path: path, reason: error.message ?? "\(error.resultCode)")
        }
    }

    public static func path(in dataDirectory: String) -> String { dataDirectory + "/server.sqlite" }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: users") { db in
            try db.execute(sql: """
                CREATE TABLE user (
                    name TEXT PRIMARY KEY NOT NULL,
                    key BLOB NOT NULL,
                    registeredAt INTEGER NOT NULL
                )
                """)
        }
        migrator.registerMigration("v2: queued deliveries") { db in
            try db.execute(sql: """
                CREATE TABLE queued (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    recipient TEXT NOT NULL,
                    messageID BLOB NOT NULL,
                    sender TEXT NOT NULL,
                    delivery BLOB NOT NULL,
                    storedAt INTEGER NOT NULL,
                    UNIQUE (recipient, messageID)
                );
                CREATE INDEX queuedByRecipient ON queued (recipient, id);
                CREATE INDEX queuedByAge ON queued (storedAt);
                """)
        }
        migrator.registerMigration("v3: names by letter case") { db in
            try db.execute(sql: "CREATE INDEX userByFoldedName ON user (name COLLATE NOCASE)")
        }
        return migrator
    }

    // MARK: Users

    /// Binds `name` to `key` if the name is free and no registered name differs from it only in letter
    /// case; otherwise reports who owns it or which name it resembles.
    public func claim(name: String, key: PublicKey) async throws -> NameClaim {
        try await pool.write { db in
            if let owner = try Data.fetchOne(db, sql: "SELECT key FROM user WHERE name = ?", arguments: [name]) {
                let ownerKey = try PublicKey(rawRepresentation: owner)
                return ownerKey == key ? .alreadyBound : .belongsToAnotherKey(ownerKey)
            }
            if let existing = try String.fetchOne(db, sql: "SELECT name FROM user WHERE name = ? COLLATE NOCASE LIMIT 1", arguments: [name]) {
                return .resembles(existing: existing)
            }
            try db.execute(
                sql: "INSERT INTO user (name, key, registeredAt) VALUES (?, ?, ?)",
                arguments: [name, Data(key.rawRepresentation), Int64(EnvelopeHeader.currentTimestamp())]
            )
            return .bound
        }
    }

    /// The key bound to `name`, if any.
    public func key(of name: String) async throws -> PublicKey? {
        try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT key FROM user WHERE name = ?", arguments: [name]).map { try PublicKey(rawRepresentation: $0) }
        }
    }

    /// Every registered user and key, by name.
    public func registeredUsers() async throws -> [(name: String, key: PublicKey)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name, key FROM user ORDER BY name").map { row in
                (row["name"], try PublicKey(rawRepresentation: row["key"] as Data))
            }
        }
    }

    /// Frees `name` so another key may register it; false when it was not bound.
    public func releaseName(_ name: String) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM user WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    // MARK: Queued deliveries

    /// A delivery to keep for a recipient who is offline.
    public struct PendingDelivery: Sendable {
        public let recipient: String
        public let messageID: [UInt8]
        public let sender: String
        /// The complete `deliver` frame, exactly as it will be sent.
        public let delivery: [UInt8]

        public init(recipient: String, messageID: [UInt8], sender: String, delivery: [UInt8]) {
            self.recipient = recipient
            self.messageID = messageID
            self.sender = sender
            self.delivery = delivery
        }
    }

    /// What happened to each recipient of `store`.
    public struct StoreOutcome: Equatable, Sendable {
        public var stored: [String] = []
        public var unknown: [String] = []
        public var full: [String] = []
    }

    /// Stores deliveries in one fsynced transaction, for registered recipients whose queue has room.
    public func store(_ deliveries: [PendingDelivery], maxQueued: Int) async throws -> StoreOutcome {
        try await pool.write { db in
            var outcome = StoreOutcome()
            let now = Int64(EnvelopeHeader.currentTimestamp())
            for item in deliveries {
                guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM user WHERE name = ?)", arguments: [item.recipient]) == true else {
                    outcome.unknown.append(item.recipient)
                    continue
                }
                let queued = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM queued WHERE recipient = ?", arguments: [item.recipient]) ?? 0
                guard queued < maxQueued else {
                    outcome.full.append(item.recipient)
                    continue
                }
                try db.execute(
                    sql: "INSERT OR IGNORE INTO queued (recipient, messageID, sender, delivery, storedAt) VALUES (?, ?, ?, ?, ?)",
                    arguments: [item.recipient, Data(item.messageID), item.sender, Data(item.delivery), now]
                )
                outcome.stored.append(item.recipient)
            }
            return outcome
        }
    }

    /// The deliveries waiting for `recipient`, oldest first.
    public func queued(for recipient: String, limit: Int = 10_000) async throws -> [[UInt8]] {
        try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT delivery FROM queued WHERE recipient = ? ORDER BY id LIMIT ?", arguments: [recipient, limit]).map { Array($0) }
        }
    }

    /// Deletes deliveries their recipients have acknowledged, in one transaction.
    public func acknowledge(_ acknowledgements: [(recipient: String, messageID: [UInt8])]) async throws {
        try await pool.write { db in
            for acknowledgement in acknowledgements {
                try db.execute(sql: "DELETE FROM queued WHERE recipient = ? AND messageID = ?", arguments: [acknowledgement.recipient, Data(acknowledgement.messageID)])
            }
        }
    }

    /// Number of deliveries waiting for `recipient`.
    public func queuedCount(for recipient: String) async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM queued WHERE recipient = ?", arguments: [recipient]) ?? 0 }
    }

    /// Deliveries that expired, per recipient and sender, for the server log.
    public struct Expired: Equatable, Sendable {
        public let recipient: String
        public let sender: String
        public let count: Int
    }

    /// Deletes deliveries stored before `cutoff` (ms since 1970) and says what they were.
    public func expire(storedBefore cutoff: UInt64) async throws -> [Expired] {
        try await pool.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT recipient, sender, COUNT(*) AS count FROM queued WHERE storedAt < ?
                GROUP BY recipient, sender ORDER BY recipient, sender
                """, arguments: [Int64(cutoff)])
            try db.execute(sql: "DELETE FROM queued WHERE storedAt < ?", arguments: [Int64(cutoff)])
            return rows.map { Expired(recipient: $0["recipient"], sender: $0["sender"], count: $0["count"]) }
        }
    }
}
