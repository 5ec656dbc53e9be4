import ArgumentParser

/// `lanchat-keys`: create, show and compare LanChat identity keys.
@main
struct LanChatKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lanchat-keys",
        abstract: "Manage LanChat identity keys: create them, show fingerprints, compare safety numbers.",
        subcommands: [Generate.self, Show.self, Fingerprint.self, SafetyNumber.self, ExportPublic.self, Contacts.self, Verify.self, Trust.self]
    )
}
