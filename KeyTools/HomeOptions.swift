import ArgumentParser
import Foundation
import LanChatClient
import LanChatCrypto

/// Where the identity lives and how to unlock it.
struct HomeOptions: ParsableArguments {
    @Option(help: "The LanChat home folder (default: $LANCHAT_HOME, else ~/.lanchat).")
    var home: String?

    @Option(help: "A file whose first line is the identity key's passphrase (default: $LANCHAT_PASSPHRASE_FILE).")
    var passphraseFile: String?

    var resolvedHome: LanChatHome { LanChatHome.resolve(home) }

    func passphrase() throws -> [UInt8]? { try Passphrase.fromFile(passphraseFile) }

    /// The public key of the home's identity (`LanChatHome.publicKey`), with a warning on standard error
    /// when `identity.pub.pem` disagrees with it.
    func identityPublicKey() throws -> PublicKey {
        let home = resolvedHome
        let key = try home.publicKey()
        if home.publicCopyDiffers(from: key) {
            FileHandle.standardError.write(Data("""
                warning: \(home.publicKeyPath) does not hold the key of \(home.privateKeyPath), which LanChat uses; \
                this shows the key in use. Replace the copy with: lanchat-keys export-public --home \(home.path) --out \(home.publicKeyPath) --force

                """.utf8))
        }
        return key
    }
}

/// The public key of a key file given on the command line. A private key file is read with
/// `KeyFile.readPrivateKey`, so it is refused when group or others can read it, as everywhere else; the
/// passphrase (from `passphraseFile`, else `$LANCHAT_PASSPHRASE_FILE`) is read only for an encrypted key.
func publicKey(ofKeyFile path: String, passphraseFile: String?) throws -> PublicKey {
    let head = FileManager.default.contents(atPath: path).map { String(decoding: $0.prefix(4096), as: UTF8.self) } ?? ""
    let passphrase = head.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") ? try Passphrase.fromFile(passphraseFile) : nil
    if head.contains("-----BEGIN "), head.contains(" PRIVATE KEY-----") {
        return try KeyFile.readPrivateKey(at: path, passphrase: passphrase).publicKey
    }
    return try KeyFile.readPublicKey(at: path, passphrase: passphrase)
}
