import ArgumentParser
import LanChatClient

extension LanChatKeys {
    struct Trust: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept a contact's changed key (after checking it with them); a verified contact must be verified again instead."
        )

        @Argument(help: "The contact's user name.")
        var name: String

        @OptionGroup var options: HomeOptions

        func run() throws {
            let contact = try ClientStore(existingHome: options.resolvedHome).trust(name: name)
            print("Accepted \(contact.name)'s new key: \(contact.fingerprint)")
            print("Compare safety numbers with 'lanchat-keys verify \(contact.name)' to verify it.")
        }
    }
}
