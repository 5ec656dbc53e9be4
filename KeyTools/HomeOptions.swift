import ArgumentParser
import LanChatClient

/// Where the identity lives and how to unlock it.
struct HomeOptions: ParsableArguments {
    @Option(help: "The LanChat home folder (default: $LANCHAT_HOME, else ~/.lanchat).")
    var home: String?

    @Option(help: "A file whose first line is the identity key's passphrase (default: $LANCHAT_PASSPHRASE_FILE).")
    var passphraseFile: String?

    var resolvedHome: LanChatHome { LanChatHome.resolve(home) }

    func passphrase() throws -> [UInt8]? { try Passphrase.fromFile(passphraseFile) }
}
