import ArgumentParser
import Foundation
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

    @Flag(help: "With --all, also reach registered users who are offline (the server keeps it for them).")
    var includeOffline = false

    @Argument(help: "The message text, or - to read it from standard input (one final line break dropped).")
    var text: String

    func validate() throws {
        guard (to == nil) != !all else { throw ValidationError("give exactly one of --to NAME or --all") }
        guard !text.allSatisfy(\.isWhitespace) else { throw ValidationError("the message is empty") }
        guard all || !includeOffline else { throw ValidationError("--include-offline goes with --all") }
    }

    /// The text given, or for `-` what standard input holds.
    private func messageText() throws -> String {
        guard text == "-" else { return text }
        var data = FileHandle.standardInput.readDataToEndOfFile()
        if data.last == UInt8(ascii: "\n") { data.removeLast() }
        guard let read = String(data: data, encoding: .utf8) else { throw CommandFailure("standard input is not UTF-8 text") }
        guard !read.allSatisfy(\.isWhitespace) else { throw CommandFailure("the message on standard input is empty") }
        return read
    }

    func run() async throws {
        let text = try messageText()
        // Beside a `chat` or `listen` of the same home (a bot answering from its own listener), not in its place.
        let client = try await options.connect(as: options.identity(), sendsOnly: true)
        do {
            if let to {
                let receipt = try await client.sendPrivate(text, to: to)
                Console.line(receipt.stored > 0
                    ? "\(to) is offline: the server keeps it until they connect (message \(receipt.messageID))"
                    : "Sent to \(to) (message \(receipt.messageID))")
            } else {
                let receipt = try await client.broadcast(text, includeOffline: includeOffline)
                Console.line("Sent to \(receipt.delivered) user(s) online\(receipt.stored > 0 ? ", kept for \(receipt.stored) offline" : "") (message \(receipt.messageID))")
                if !receipt.skipped.isEmpty { Console.error("Not sent to \(receipt.skipped.joined(separator: ", ")): their key changed (lanchat-keys contacts)") }
                if !receipt.missed.isEmpty { Console.error("Not delivered to: \(receipt.missed.joined(separator: ", "))") }
            }
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }
}
