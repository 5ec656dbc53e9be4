import ArgumentParser
import LanChatClient
import LanChatCrypto

extension LanChatKeys {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show your name, public key and fingerprint.")

        @OptionGroup var options: HomeOptions

        func run() throws {
            let key = try options.identityPublicKey()
            let name = try options.resolvedHome.storedName()
            print("Name:        \(name)")
            print("Public key:  \(key.hex)")
            print("Base64:      \(key.base64)")
            print("Fingerprint: \(NumericFingerprint.grouped(NumericFingerprint.digits(for: key, stableID: name.value)))")
        }
    }
}
