import Foundation
import GRDB
import LanChatCrypto

extension ClientStore {
    /// What seeing a name with a key meant.
    public enum KeyObservation: Equatable, Sendable {
        /// Never seen before: pinned now (trust on first use).
        case pinnedNow(Contact)
        /// The pinned key.
        case known(Contact)
        /// A key other than the pinned one; the contact is now blocked (or already was, for this key).
        case changed(Contact, newKey: PublicKey, firstWarning: Bool)
    }

    /// Records that the server presents `key` for `name`.
    @discardableResult
    public func observe(name: String, key: PublicKey) throws -> KeyObservation {
        try queue.write { db in
            guard let contact = try Self.contact(named: name, in: db) else {
                try db.execute(sql: "INSERT INTO contact (name, key, firstSeen, state) VALUES (?, ?, ?, ?)",
                               arguments: [name, Data(key.rawRepresentation), Int64(EnvelopeHeader.currentTimestamp()), Contact.State.new.rawValue])
                return .pinnedNow(try Self.contact(named: name, in: db)!)
            }
            if contact.key == key { return .known(contact) }
            if contact.state == .changed, contact.pendingKey == key { return .changed(contact, newKey: key, firstWarning: false) }
            try db.execute(sql: "UPDATE contact SET state = ?, pendingKey = ?, verifiedBeforeChange = ? WHERE name = ?",
                           arguments: [Contact.State.changed.rawValue, Data(key.rawRepresentation),
                                       contact.state == .verified || contact.verifiedBeforeChange, name])
            return .changed(try Self.contact(named: name, in: db)!, newKey: key, firstWarning: true)
        }
    }

    /// Marks a `new` contact as used (`pinned`) once a message was exchanged with it.
    public func markUsed(name: String) throws {
        try queue.write { db in
            try db.execute(sql: "UPDATE contact SET state = ? WHERE name = ? AND state = ?",
                           arguments: [Contact.State.pinned.rawValue, name, Contact.State.new.rawValue])
        }
    }

    public func contact(named name: String) throws -> Contact? {
        try queue.read { db in try Self.contact(named: name, in: db) }
    }

    /// Every contact, by name.
    public func contacts() throws -> [Contact] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM contact ORDER BY name").map(Self.contact(from:))
        }
    }

    /// Accepts the changed key of `name` as its new pinned key. A contact that was verified must be verified again instead.
    @discardableResult
    public func trust(name: String) throws -> Contact {
        try queue.write { db in
            guard let contact = try Self.contact(named: name, in: db) else { throw TrustError.unknownContact(name) }
            guard contact.state == .changed, let pending = contact.pendingKey else { throw TrustError.nothingToTrust(name) }
            guard !contact.verifiedBeforeChange else { throw TrustError.mustVerify(name) }
            try db.execute(sql: "UPDATE contact SET key = ?, pendingKey = NULL, state = ? WHERE name = ?",
                           arguments: [Data(pending.rawRepresentation), Contact.State.pinned.rawValue, name])
            return try Self.contact(named: name, in: db)!
        }
    }

    /// The key a verification of `name` is about: the changed key while one is pending, else the pinned key.
    /// `me` is this client's own name: there is no safety number with oneself.
    public func keyToVerify(name: String, me: String) throws -> PublicKey {
        guard name != me else { throw TrustError.yourself(name) }
        guard let contact = try contact(named: name) else { throw TrustError.unknownContact(name) }
        return contact.pendingKey ?? contact.key
    }

    /// Marks verified the key a verification of `name` is about (`keyToVerify`), for the client named `me`.
    @discardableResult
    public func markVerified(name: String, me: String) throws -> Contact {
        try markVerified(name: name, key: keyToVerify(name: name, me: me))
    }

    /// Marks `key` as the verified key of `name` (after the user compared safety numbers).
    @discardableResult
    public func markVerified(name: String, key: PublicKey) throws -> Contact {
        try queue.write { db in
            guard try Self.contact(named: name, in: db) != nil else { throw TrustError.unknownContact(name) }
            try db.execute(sql: "UPDATE contact SET key = ?, pendingKey = NULL, state = ?, verifiedBeforeChange = 0 WHERE name = ?",
                           arguments: [Data(key.rawRepresentation), Contact.State.verified.rawValue, name])
            return try Self.contact(named: name, in: db)!
        }
    }

    private static func contact(named name: String, in db: Database) throws -> Contact? {
        try Row.fetchOne(db, sql: "SELECT * FROM contact WHERE name = ?", arguments: [name]).map(contact(from:))
    }

    private static func contact(from row: Row) throws -> Contact {
        Contact(
            name: row["name"],
            key: try PublicKey(rawRepresentation: row["key"] as Data),
            firstSeen: UInt64(row["firstSeen"] as Int64),
            state: Contact.State(rawValue: row["state"]) ?? .changed,
            pendingKey: try (row["pendingKey"] as Data?).map { try PublicKey(rawRepresentation: $0) },
            verifiedBeforeChange: row["verifiedBeforeChange"]
        )
    }
}

/// Why a trust decision could not be made.
public enum TrustError: Error, Equatable, CustomStringConvertible {
    case unknownContact(String)
    case nothingToTrust(String)
    case mustVerify(String)
    case yourself(String)

    public var description: String {
        switch self {
        case let .unknownContact(name): "no contact named '\(name)' yet: their key is learned when you see them online"
        case let .nothingToTrust(name): "\(name)'s key has not changed; there is nothing to accept"
        case let .mustVerify(name): "\(name) was verified before the key changed: compare safety numbers again (/verify \(name) in chat, or 'lanchat-keys verify \(name)')"
        case let .yourself(name): "\(name) is you: a safety number is compared with someone else"
        }
    }
}
