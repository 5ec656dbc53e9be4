import ArgumentParser
import LanChatClient

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send one message and exit once the server has accepted it."
    )

    @OptionGroup var options: ClientOptions

    @Option(help: "Send privately to this user.")
    var to: String?

    @Flag(help: "Send to everyone online.")
    var all = false

    @Argument(help: "The message text.")
    var text: String

    func validate() throws {
        guard (to == nil) != !all else { throw ValidationError("give exactly one of --to NAME or --all") }
        guard !text.isEmpty else { throw ValidationError("the message is empty") }
    }

    func run() async throws {
        let client = try await options.connect(as: options.identity())
        do {
            if let to {
                let receipt = try await client.sendPrivate(text, to: to)
                Console.line("Sent to \(to) (message \(receipt.messageID))")
            } else {
                let receipt = try await client.broadcast(text)
                Console.line("Sent to \(receipt.delivered) user(s) (message \(receipt.messageID))")
                if !receipt.missed.isEmpty { Console.error("Not delivered to: \(receipt.missed.joined(separator: ", "))") }
            }
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }
}
