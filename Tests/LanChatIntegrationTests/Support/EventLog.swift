import Foundation
import LanChatClient
import NIOConcurrencyHelpers

/// Collects a client's events in the background so a test can wait for the one it expects.
final class EventLog: Sendable {
    private let events = NIOLockedValueBox<[ChatEvent]>([])
    private let task: Task<Void, Never>

    init(_ client: ChatClient) {
        let events = self.events
        task = Task {
            for await event in client.events { events.withLockedValue { $0.append(event) } }
        }
    }

    deinit { task.cancel() }

    var all: [ChatEvent] { events.withLockedValue { $0 } }

    var messages: [ReceivedMessage] {
        all.compactMap { if case let .message(message) = $0 { message } else { nil } }
    }

    var rejections: [String] {
        all.compactMap { if case let .rejected(reason) = $0 { reason } else { nil } }
    }

    /// Waits until `predicate` holds for the events so far; throws after `timeout` seconds.
    @discardableResult
    func wait<T>(timeout: Double = 10, for description: String, _ predicate: ([ChatEvent]) -> T?) async throws -> T {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let found = predicate(all) { return found }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw WaitTimeout(description: description, events: all)
    }

    /// Waits for a message with `text`.
    @discardableResult
    func waitForMessage(_ text: String, timeout: Double = 10) async throws -> ReceivedMessage {
        try await wait(timeout: timeout, for: "message '\(text)'") { _ in messages.first { $0.text == text } }
    }
}

struct WaitTimeout: Error, CustomStringConvertible {
    let description: String

    init(description: String, events: [ChatEvent]) {
        self.description = "timed out waiting for \(description); events so far: \(events)"
    }
}
