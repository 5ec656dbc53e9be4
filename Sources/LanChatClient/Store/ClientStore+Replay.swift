import Foundation
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
