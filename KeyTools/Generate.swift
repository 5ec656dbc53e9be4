import ArgumentParser
import LanChatClient
import LanChatProtocol

extension LanChatKeys {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a new identity key in the LanChat home.",
            discussion: "The private key is written as PKCS#8 PEM with mode 0600, encrypted when a passphrase file is given."
        )

        @Option(help: "Your user name (1-32 letters, digits, '_', '-', '.'); asked for when omitted.")
        var name: String?

        @OptionGroup var options: HomeOptions

        @Flag(help: "Replace an existing identity (its old key is lost).")
        var force = false

        func run() throws {
            let userName = try UserName(name ?? askName())
            let home = options.resolvedHome
            let identity = try home.createIdentity(name: userName, passphrase: options.passphrase(), overwrite: force)
            print("Created the identity of \(identity.name) in \(home.path)")
            print("Fingerprint: \(identity.fingerprint)")
        }

        private func askName() throws -> String {
            print("Enter username: ", terminator: "")
            guard let line = readLine(), !line.isEmpty else { throw ValidationError("a user name is needed: pass --name NAME") }
            return line
        }
    }
}
