import ArgumentParser

/// `lanchat`: the relay server and the end-to-end encrypted chat client.
@main
struct LanChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lanchat",
        abstract: "End-to-end encrypted chat for a local network.",
        discussion: "Run one 'lanchat server' on the LAN; everyone else runs 'lanchat chat'. The server only relays ciphertext.",
        subcommands: [ServerCommand.self, ChatCommand.self, SendCommand.self, ListenCommand.self, HistoryCommand.self, TrustServerCommand.self]
    )
}
