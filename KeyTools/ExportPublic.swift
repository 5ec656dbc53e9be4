import ArgumentParser
import LanChatClient
import LanChatCrypto

extension LanChatKeys {
    struct ExportPublic: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print or save your public key as PEM.")

        @OptionGroup var options: HomeOptions

        @Option(help: "Write the PEM to this file instead of standard output.")
        var out: String?

        @Flag(help: "Replace the file at --out if it exists (never a private key).")
        var force = false

        func run() throws {
            let key = try options.identityPublicKey()
            if let out {
                if KeyFile.holdsPrivateKey(at: out) { throw KeyFileError.wouldReplacePrivateKey(path: out) }
                try KeyFile.writePublicKey(key, to: out, overwrite: force)
            } else {
                print(String(decoding: try KeyFile.publicKeyPEM(key), as: UTF8.self), terminator: "")
            }
        }
    }
}
