import LanChatCrypto
import LanChatProtocol
import NIOCore

/// A registered connection: who it is and where to write.
final class ClientSession: Sendable {
    let name: String
    let key: PublicKey
    let channel: any Channel

    init(name: String, key: PublicKey, channel: any Channel) {
        self.name = name
        self.key = key
        self.channel = channel
    }

    var entry: DirectoryEntry { DirectoryEntry(name: name, key: key.rawRepresentation) }
}
