import ArgumentParser
import Foundation
import LanChatClient
import LanChatCrypto

struct TrustServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust-server",
        abstract: "Accept the key a server now presents (after its operator confirmed the fingerprint).",
        discussion: "Clients pin a server's key on first connection, like ssh; a different key later is refused until you run this."
    )

    @Argument(help: "The server as HOST:PORT (default: --server, else $LANCHAT_SERVER, else 127.0.0.1:1234).")
    var address: String?

    @OptionGroup var options: ClientOptions

    @Flag(help: "Do not ask for confirmation.")
    var yes = false

    func validate() throws {
        if address != nil, options.server != nil { throw ValidationError("give the server once: as the argument or with --server") }
        _ = try serverAddress
    }

    private var serverAddress: ServerAddress {
        get throws { try address.map(ServerAddress.argument) ?? options.serverAddress }
    }

    func run() async throws {
        let address = try serverAddress
        let identity = try options.identity()
        let store = try ClientStore(home: options.resolvedHome)
        let presented = try await ChatClient.fetchServerKey(of: address, as: identity)
        let pinned = try store.pinnedServerKey(address: address.description)
        if pinned == presented {
            Console.line("\(address) already presents its pinned key \(ServerFingerprint.of(presented)).")
            return
        }
        Console.line("The server at \(address) presents the key \(ServerFingerprint.of(presented)).")
        if let pinned { Console.line("The pinned key was \(ServerFingerprint.of(pinned)).") }
        if !yes {
            print("Trust the new key? Only answer yes if the operator confirmed this fingerprint. [y/N] ", terminator: "")
            fflush(nil) // the prompt shows before the answer is read, also when piped
            guard readLine()?.lowercased().hasPrefix("y") == true else { throw CommandFailure("not trusted; nothing changed") }
        }
        try store.trustServer(address: address.description, key: presented)
        Console.line("Now trusting \(ServerFingerprint.of(presented)) for \(address).")
    }
}

/// A failure with a message for the user and a non-zero exit.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
