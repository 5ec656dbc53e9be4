import Foundation
import LanChatClient

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

    private static let timeFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter
    }()
}

/// Reads standard input on its own thread, so waiting for the keyboard never blocks an event loop.
enum StandardInput {
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
