import Foundation
import GRDB
import LanChatCrypto

/// The server's SQLite database (GRDB, WAL mode, `server.sqlite` in the data folder): which key owns
/// which user name. Commits are fsynced (`synchronous = FULL`) so nothing acknowledged is lost to a crash.
public final class ServerDatabase: Sendable {
    /// The outcome of claiming a name for a key.
    public enum NameClaim: Equatable, Sendable {
        /// The name was free and is now bound to the key.
        case bound
        /// The name was already bound to this key.
        case alreadyBound
        /// The name belongs to another key.
        case belongsToAnotherKey(PublicKey)
    }

    private let pool: DatabasePool

    /// Opens (creating if needed) the database in `dataDirectory`.
    public init(dataDirectory: String) throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: Self.path(in: dataDirectory), configuration: configuration)
        try Self.migrator.migrate(pool)
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
        return migrator
    }

    // MARK: Users

    /// Binds `name` to `key` if the name is free; otherwise reports who owns it.
    public func claim(name: String, key: PublicKey) async throws -> NameClaim {
        try await pool.write { db in
            if let owner = try Data.fetchOne(db, sql: "SELECT key FROM user WHERE name = ?", arguments: [name]) {
                let ownerKey = try PublicKey(rawRepresentation: owner)
                return ownerKey == key ? .alreadyBound : .belongsToAnotherKey(ownerKey)
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
}
