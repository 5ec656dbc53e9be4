import ArgumentParser
import Foundation
import LanChatClient

extension LanChatKeys {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the safety number with a contact and, once you confirm it matches theirs, mark them verified."
        )

        @Argument(help: "The contact's user name.")
        var name: String

        @OptionGroup var options: HomeOptions

        @Flag(help: "Mark verified without asking (you already compared the numbers).")
        var yes = false

        func run() throws {
            let home = options.resolvedHome
            let myKey = try options.identityPublicKey()
            let me = try home.storedName()
            let store = try ClientStore(home: home)
            let key = try store.keyToVerify(name: name, me: me.value)
            let identityNumber = LanChatClient.Identity.safetyNumber(localName: me.value, localKey: myKey, remoteName: name, remoteKey: key)
            print("Safety number with \(name):")
            print("  \(identityNumber)")
            if !yes {
                print("Does \(name) see exactly the same number? [y/N] ", terminator: "")
                fflush(nil) // the prompt shows before the answer is read, also when piped
                guard readLine()?.lowercased().hasPrefix("y") == true else {
                    print(try store.contact(named: name)?.notConfirmedNotice ?? "Not verified.")
                    throw ExitCode(1)
                }
            }
            try store.markVerified(name: name, key: key)
            print("\(name) is verified ✓")
        }
    }
}
