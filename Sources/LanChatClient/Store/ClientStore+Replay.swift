import Foundation
import GRDB
import LanChatCrypto

/// The time window in which an envelope's timestamp is accepted.
public enum MessageWindow {
    /// How far a sender's clock may run ahead of ours.
    public static let maxFuture: UInt64 = 10 * 60 * 1000
    /// The oldest message accepted (it may have waited on the server for an offline recipient).
    public static let maxAge: UInt64 = 30 * 24 * 60 * 60 * 1000

    /// Whether `timestamp` lies in the window around `now`.
    public static func accepts(_ timestamp: UInt64, now: UInt64 = EnvelopeHeader.currentTimestamp()) -> Bool {
        timestamp <= now + maxFuture && timestamp + maxAge >= now
    }
}

extension ClientStore {
    /// Records an accepted message id of a sender; false when it was already accepted (a replay).
    /// Ids older than the window are forgotten, since the window alone rejects such messages.
    public func recordAccepted(messageID: [UInt8], senderKey: PublicKey, timestamp: UInt64) throws -> Bool {
        try queue.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO seenMessage (senderKey, messageID, timestamp) VALUES (?, ?, ?)",
                           arguments: [Data(senderKey.rawRepresentation), Data(messageID), Int64(timestamp)])
            let inserted = db.changesCount > 0
            let now = EnvelopeHeader.currentTimestamp()
            if now > MessageWindow.maxAge {
                try db.execute(sql: "DELETE FROM seenMessage WHERE timestamp < ?", arguments: [Int64(now - MessageWindow.maxAge - MessageWindow.maxFuture)])
            }
            return inserted
        }
    }
}
