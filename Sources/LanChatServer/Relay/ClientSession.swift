import LanChatCrypto
import LanChatProtocol
import NIOCore

/// A registered connection: who it is and where to write.
final class ClientSession: Sendable {
    let name: String
    let key: PublicKey
    let channel: any Channel
    /// Whether the client asked for presence frames (`Hello.wantsPresence`).
    let wantsPresence: Bool
    /// The connection's write side, which may only be used on its event loop (`loop`).
    let outbound: LoopConfined<SessionOutbound>

    init(name: String, key: PublicKey, channel: any Channel, wantsPresence: Bool, outbound: SessionOutbound) {
        self.name = name
        self.wantsPresence = wantsPresence
        self.key = key
        self.channel = channel
        self.outbound = LoopConfined(outbound)
    }

    /// The connection's event loop.
    var loop: any EventLoop { outbound.loop }

    var entry: DirectoryEntry { DirectoryEntry(name: name, key: key.rawRepresentation) }
}
