import Foundation
import LanChatClient
import LanChatProtocol

/// Line output that reaches pipes at once (scripts and tests read it line by line).
enum Console {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// `HH:mm:ss` of a timestamp in ms since 1970, in local time.
    static func time(_ milliseconds: UInt64) -> String {
        timeFormatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// A duration as seconds with one decimal, e.g. `1.5 s`.
    static func seconds(_ duration: Duration) -> String {
        let tenths = (duration.components.seconds * 10) + duration.components.attoseconds / 100_000_000_000_000_000
        return "\(tenths / 10).\(tenths % 10) s"
    }

    private static let timeFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter
    }()
}

/// Reads standard input on its own thread, so waiting for the keyboard never blocks an event loop.
enum StandardInput {
    /// The longest line a terminal in canonical mode passes on (Linux's `N_TTY` buffer less the line break);
    /// what is typed or pasted beyond it is dropped before LanChat sees it.
    static let terminalLineLimit = 4095

    /// Whether `line` came from a terminal and may have been cut at `terminalLineLimit`.
    static func mayBeCut(_ line: String) -> Bool {
        line.utf8.count >= terminalLineLimit && isatty(STDIN_FILENO) == 1
    }

    static func lines() -> AsyncStream<String> {
        AsyncStream { continuation in
            let thread = Thread {
                while let line = readLine(strippingNewline: true) { continuation.yield(line) }
                continuation.finish()
            }
            thread.name = "lanchat-stdin"
            thread.start()
        }
    }
}

/// A message's text as the terminal shows it: `PrintableText` line by line, tabs as four spaces, and every
/// line after the first indented, so no line of a message can pass for another message or notice.
enum MessageText {
    private static let continuation = "\n    "

    static func shown(_ text: String) -> String {
        text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .map { PrintableText.line($0.replacing("\t", with: "    ")) }
            .joined(separator: continuation)
    }
}
