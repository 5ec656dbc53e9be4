import ArgumentParser
import Foundation
import LanChatClient
import LanChatCrypto

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show or export your saved conversations.",
        subcommands: [ShowHistory.self, ExportHistory.self],
        defaultSubcommand: ShowHistory.self
    )
}

/// Which saved messages to take.
struct HistoryFilter: ParsableArguments {
    @Option(help: "The LanChat home folder (default: $LANCHAT_HOME, else ~/.lanchat).")
    var home: String?

    @Option(name: .customLong("with"), help: "Only messages exchanged with this user.")
    var peer: String?

    @Option(help: "Only messages sent on or after this date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS in local time).")
    var since: String?

    func validate() throws {
        if let since, HistoryFilter.parseDate(since) == nil { throw ValidationError("--since takes a date like 2026-11-25 or 2026-11-25T14:30:00") }
    }

    func entries() throws -> [HistoryEntry] {
        let sinceMilliseconds = since.flatMap(Self.parseDate).map { UInt64(max(0, $0.timeIntervalSince1970 * 1000)) }
        return try ClientStore(existingHome: LanChatHome.resolve(home)).history(with: peer, since: sinceMilliseconds)
    }

    static func parseDate(_ text: String) -> Date? {
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}

struct ShowHistory: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print saved messages, oldest first (the default).")

    @OptionGroup var filter: HistoryFilter

    @Flag(help: "One JSON object per line.")
    var json = false

    func run() throws {
        let entries = try filter.entries()
        // On standard error, so a script reading the JSON lines gets none.
        if entries.isEmpty { Console.error(HistoryText.nothingSaved(with: filter.peer, since: filter.since)) }
        for entry in entries {
            Console.line(json ? HistoryText.json(entry) : HistoryText.line(for: entry))
        }
    }
}

struct ExportHistory: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Save messages to a file, as text or JSON.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var filter: HistoryFilter

    @Option(help: "text or json.")
    var format: Format = .text

    @Option(help: "The file to write (mode 0600).")
    var out: String

    @Flag(help: "Replace the file at --out if it exists.")
    var force = false

    func run() throws {
        let entries = try filter.entries()
        let data: Data
        switch format {
        case .text:
            data = Data(entries.map { HistoryText.line(for: $0) + "\n" }.joined().utf8)
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            data = try encoder.encode(entries)
        }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isFolder), isFolder.boolValue {
            throw CommandFailure("\(out) is a folder; give --out a file name")
        }
        // Created with mode 0600 and renamed into place: the file is never readable by others, not even briefly.
        try KeyFile.writeFile(Array(data), to: out, mode: 0o600, overwrite: force)
        Console.line("Exported \(entries.count) message(s) to \(out)")
    }
}

/// How saved messages are printed.
enum HistoryText {
    /// What an empty history says.
    static func nothingSaved(with peer: String?, since: String? = nil) -> String {
        "No saved messages\(peer.map { " with \($0)" } ?? "")\(since.map { " since \($0)" } ?? "")."
    }

    static func line(for entry: HistoryEntry) -> String {
        let date = Date(timeIntervalSince1970: Double(entry.sentAt) / 1000)
        let stamp = dateFormatter.string(from: date)
        let mark = entry.verified ? " ✓" : ""
        switch entry.direction {
        case .incoming:
            return "[\(stamp)] \(entry.sender)\(mark)\(entry.isPrivate ? " (private)" : ""): \(MessageText.shown(entry.text))"
        case .outgoing:
            return "[\(stamp)] me → \(entry.isPrivate ? entry.peer + mark : "everyone"): \(MessageText.shown(entry.text))"
        }
    }

    static func json(_ entry: HistoryEntry) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(entry)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private static let dateFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter
    }()
}
