import ArgumentParser
import LanChatClient
import LanChatCrypto
import LanChatProtocol

extension LanChatKeys {
    struct Fingerprint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the 30-digit fingerprint of any X25519 key file (public or private PEM, also one made by openssl)."
        )

        @Argument(help: "The key file.")
        var file: String

        @Option(help: "The user name the key belongs to (part of the fingerprint).")
        var name: String

        @Option(help: "A file whose first line is the passphrase, for an encrypted private key.")
        var passphraseFile: String?

        func run() throws {
            let userName = try UserName(name)
            let key = try publicKey(ofKeyFile: file, passphraseFile: passphraseFile)
            print(NumericFingerprint.grouped(NumericFingerprint.digits(for: key, stableID: userName.value)))
        }
    }
}
