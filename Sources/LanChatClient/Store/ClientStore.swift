import Foundation
import GRDB
import LanChatCrypto

/// The client's local SQLite database (GRDB) in the LanChat home, `client.sqlite`, mode 0600:
/// pinned server keys, contacts with their pinned keys and verification state, accepted message ids,
/// the conversation history and the outbox of messages waiting for the server.
public final class ClientStore: Sendable {
    let queue: DatabaseQueue
    /// The LanChat home this store lives in (nil in memory), for the commands a warning suggests.
    public let homePath: String?

    /// Opens (creating if needed) the store of `home`.
    public convenience init(home: LanChatHome) throws {
        try home.ensureFolder()
        let path = home.path + "/client.sqlite"
        do {
            try self.init(queue: DatabaseQueue(path: path, configuration: Self.configuration), homePath: home.path)
        } catch let error as DatabaseError {
            throw HomeError.unusableStore(path: path, reason: error.message ?? "\(error.resultCode)", advice: Self.advice(for: error))
        }
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        }
    }

    /// Opens the store of a home that holds an identity, for commands that only read or change what is kept
    /// there (history, contacts, trust): a mistyped `--home` is reported, not created.
    public convenience init(existingHome home: LanChatHome) throws {
        guard home.hasIdentity else { throw home.whyNoIdentity(.nothingKept(home: home.path)) }
        try self.init(home: home)
    }

    /// A store that lives only in memory, for tests and one-off probes.
    public static func inMemory() throws -> ClientStore {
        try ClientStore(queue: DatabaseQueue(configuration: configuration), homePath: nil)
    }

    private init(queue: DatabaseQueue, homePath: String?) throws {
        self.queue = queue
        self.homePath = homePath
        try Self.migrator.migrate(queue)
    }

    /// What a user can do about a client database that does not open.
    private static func advice(for error: DatabaseError) -> String {
        switch error.resultCode.primaryResultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            "it is damaged. Restore it from a backup, or move it aside to start afresh (the pinned keys, verifications and saved chats in it are then lost)"
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
            "check that you may read and write it and its folder"
        default:
            "check the file and its folder"
        }
    }

    private static var configuration: Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        return configuration
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: trust") { db in
            try db.execute(sql: """
                CREATE TABLE knownServer (
                    address TEXT PRIMARY KEY NOT NULL,
                    key BLOB NOT NULL,
                    firstSeen INTEGER NOT NULL
                );
                CREATE TABLE contact (
                    name TEXT PRIMARY KEY NOT NULL,
                    key BLOB NOT NULL,
                    firstSeen INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    pendingKey BLOB,
                    verifiedBeforeChange INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE seenMessage (
                    senderKey BLOB NOT NULL,
                    messageID BLOB NOT NULL,
                    timestamp INTEGER NOT NULL,
                    PRIMARY KEY (senderKey, messageID)
                );
                """)
        }
        migrator.registerMigration("v2: history and outbox") { db in
            try db.execute(sql: """
                CREATE TABLE message (
                    id TEXT NOT NULL,
                    direction TEXT NOT NULL,
                    peer TEXT NOT NULL,
                    sender TEXT NOT NULL,
                    isPrivate INTEGER NOT NULL,
                    text TEXT NOT NULL,
                    sentAt INTEGER NOT NULL,
                    recordedAt INTEGER NOT NULL,
                    verified INTEGER NOT NULL,
                    PRIMARY KEY (id, direction)
                );
                CREATE INDEX messageByTime ON message (sentAt);
                CREATE TABLE outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    recipient TEXT,
                    includeOffline INTEGER NOT NULL,
                    text TEXT NOT NULL,
                    createdAt INTEGER NOT NULL
                );
                """)
        }
        return migrator
    }
}
