import ArgumentParser
import LanChatClient
import LanChatCrypto

extension LanChatKeys {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show your name, public key and fingerprint.")

        @OptionGroup var options: HomeOptions

        func run() throws {
            let home = options.resolvedHome
            guard home.hasIdentity else { throw HomeError.noIdentity(home: home.path) }
            let name = try home.storedName()
            let key = try KeyFile.readPublicKey(at: home.publicKeyPath)
            print("Name:        \(name)")
            print("Public key:  \(key.hex)")
            print("Base64:      \(key.base64)")
            print("Fingerprint: \(NumericFingerprint.grouped(NumericFingerprint.digits(for: key, stableID: name.value)))")
        }
    }
}
