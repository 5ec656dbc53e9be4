import ArgumentParser
import Foundation
import LanChatClient

extension LanChatKeys {
    struct Contacts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the people whose keys this client has pinned, with fingerprint, first-seen time and state.",
            discussion: "States: new (pinned, nothing exchanged yet), pinned (trusted on first use), verified (safety numbers compared), changed (the server presented a different key: blocked)."
        )

        @OptionGroup var options: HomeOptions

        func run() throws {
            let contacts = try ClientStore(existingHome: options.resolvedHome).contacts()
            guard !contacts.isEmpty else {
                print("No contacts yet: keys are pinned when you first see someone online.")
                return
            }
            let formatter = ISO8601DateFormatter()
            for contact in contacts {
                let firstSeen = formatter.string(from: Date(timeIntervalSince1970: Double(contact.firstSeen) / 1000))
                print("\(contact.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(contact.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(firstSeen)  \(contact.fingerprint)")
                if let pending = contact.pendingKey {
                    print("  !! presented a different key: \(Peer(name: contact.name, key: pending).fingerprint)")
                }
            }
        }
    }
}
