import LanChatCrypto
import LanChatProtocol
import NIOCore

/// A registered connection: who it is and where to write.
final class ClientSession: Sendable {
    let name: String
    let key: PublicKey
    let channel: any Channel
    /// The connection's event loop; `outbound` may only be used there.
    let loop: any EventLoop
    let outbound: LoopConfined<SessionOutbound>

    init(name: String, key: PublicKey, channel: any Channel, outbound: SessionOutbound) {
        self.name = name
        self.key = key
        self.channel = channel
        self.loop = outbound.loop
        self.outbound = LoopConfined(outbound, loop: outbound.loop)
    }

    var entry: DirectoryEntry { DirectoryEntry(name: name, key: key.rawRepresentation) }
}
