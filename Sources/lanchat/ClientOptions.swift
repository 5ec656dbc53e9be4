import ArgumentParser
import Foundation
import LanChatClient

/// Options every client subcommand takes.
struct ClientOptions: ParsableArguments {
    @Option(help: "The server as HOST:PORT (default: $LANCHAT_SERVER, else 127.0.0.1:1234).")
    var server: String?

    @Option(help: "Your user name; creates your identity on first use.")
    var name: String?

    @Option(help: "The LanChat home folder (default: $LANCHAT_HOME, else ~/.lanchat).")
    var home: String?

    @Option(help: "A file whose first line is your identity key's passphrase (default: $LANCHAT_PASSPHRASE_FILE).")
    var passphraseFile: String?

    var serverAddress: ServerAddress {
        get throws {
            try ServerAddress.argument(server ?? ProcessInfo.processInfo.environment["LANCHAT_SERVER"] ?? "127.0.0.1:1234")
        }
    }

    /// A bad server address is a usage error (exit 64), found before any identity is made or file touched.
    func validate() throws {
        _ = try serverAddress
    }

    var resolvedHome: LanChatHome { LanChatHome.resolve(home) }

    /// The identity, created for `--name` (or `askedName`) when the home has none yet.
    func identity(askedName: (() -> String?)? = nil) throws -> Identity {
        let home = resolvedHome
        var wanted = name
        if wanted == nil, !home.hasIdentity, let askedName { wanted = askedName() }
        let isNew = !home.hasIdentity
        let identity = try home.openIdentity(name: wanted, passphrase: {
            try Passphrase.fromFile(passphraseFile) ?? Passphrase.prompt("Passphrase for \(home.privateKeyPath): ")
        }, newKeyPassphrase: { try Passphrase.fromFile(passphraseFile) })
        if isNew { Console.error("Created the identity \(identity.name) in \(home.path); fingerprint \(identity.fingerprint)") }
        return identity
    }

    /// Connects as `identity`, with the home's store of pinned keys; `sendsOnly` leaves a chat or listener of the
    /// same user connected.
    func connect(as identity: Identity, sendsOnly: Bool = false) async throws -> ChatClient {
        try await ChatClient.connect(to: serverAddress, as: identity, store: ClientStore(home: resolvedHome), sendsOnly: sendsOnly)
    }
}

extension ServerAddress {
    /// `text` as a server address, or the usage error (exit 64) that says why it is not one.
    static func argument(_ text: String) throws -> ServerAddress {
        do {
            return try ServerAddress(parsing: text)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
