import ArgumentParser
import LanChatClient
import LanChatCrypto
import LanChatProtocol

extension LanChatKeys {
    struct SafetyNumber: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the 60-digit safety number of two keys; both people see the same number."
        )

        @Option(help: "Your key file (public or private PEM).")
        var mine: String

        @Option(help: "Your user name.")
        var myName: String

        @Option(help: "Their public key file.")
        var theirs: String

        @Option(help: "Their user name.")
        var theirName: String

        @Option(help: "A file whose first line is the passphrase, for an encrypted private key.")
        var passphraseFile: String?

        func run() throws {
            let me = try UserName(myName), them = try UserName(theirName)
            let myKey = try publicKey(ofKeyFile: mine, passphraseFile: passphraseFile)
            let theirKey = try publicKey(ofKeyFile: theirs, passphraseFile: passphraseFile)
            let number = NumericFingerprint.safetyNumber(localKey: myKey, localID: me.value, remoteKey: theirKey, remoteID: them.value)
            print(NumericFingerprint.grouped(number))
        }
    }
}
