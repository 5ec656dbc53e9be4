import ArgumentParser
import LanChatClient
import LanChatCrypto

extension LanChatKeys {
    struct ExportPublic: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print or save your public key as PEM.")

        @OptionGroup var options: HomeOptions

        @Option(help: "Write the PEM to this file instead of standard output.")
        var out: String?

        func run() throws {
            let key = try options.identityPublicKey()
            if let out {
                try KeyFile.writePublicKey(key, to: out, overwrite: true)
            } else {
                print(String(decoding: try KeyFile.publicKeyPEM(key), as: UTF8.self), terminator: "")
            }
        }
    }
}
