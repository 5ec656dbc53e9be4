import Foundation
import LanChatCrypto
import Testing

/// Runs the real `lanchat-keys` binary built beside the test bundle, each test in its own temporary folder.
@Suite("lanchat-keys command")
struct KeyToolsCommandTests {
    static let opensslInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")

    // MARK: 1. generate

    @Test("generate creates the identity files, prints the fingerprint and refuses to overwrite without --force")
    func generateCreatesIdentityAndRefusesOverwrite() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let home = box.path("alice-home")

        let first = try box.keys(["generate", "--name", "alice", "--home", home])
        try first.expectSuccess()
        let fingerprint = try #require(first.line(after: "Fingerprint: "), "generate printed no fingerprint:\n\(first.stdout)")
        #expect(isGroupedDigits(fingerprint, groups: 6), "not 6 groups of 5 digits: '\(fingerprint)'")

        #expect(try box.mode(of: home + "/identity.pem") == 0o600)
        #expect(FileManager.default.fileExists(atPath: home + "/identity.pub.pem"))
        #expect(try box.text(home + "/name").trimmingCharacters(in: .whitespacesAndNewlines) == "alice")
        #expect(try box.text(home + "/identity.pem").hasPrefix("-----BEGIN PRIVATE KEY-----"))
        // --home wins over $LANCHAT_HOME: nothing was written there.
        #expect(!FileManager.default.fileExists(atPath: box.environmentHome))

        let keyBefore = try box.bytes(home + "/identity.pem")
        let publicBefore = try box.bytes(home + "/identity.pub.pem")

        let again = try box.keys(["generate", "--name", "alice", "--home", home])
        try again.expectCleanFailure()
        #expect(again.stderr.contains("--force"), "stderr: \(again.stderr)")
        #expect(again.stderr.contains("already exists"), "stderr: \(again.stderr)")
        #expect(again.stdout.isEmpty)
        #expect(try box.bytes(home + "/identity.pem") == keyBefore)
        #expect(try box.bytes(home + "/identity.pub.pem") == publicBefore)

        let forced = try box.keys(["generate", "--name", "alice", "--home", home, "--force"])
        try forced.expectSuccess()
        #expect(try box.bytes(home + "/identity.pem") != keyBefore)
        #expect(try box.bytes(home + "/identity.pub.pem") != publicBefore)
        #expect(try box.mode(of: home + "/identity.pem") == 0o600)
        let newFingerprint = try #require(forced.line(after: "Fingerprint: "))
        #expect(newFingerprint != fingerprint)
        #expect(try inProcessFingerprint(home + "/identity.pub.pem", name: "alice") == newFingerprint)
    }

    // MARK: 2. generate --passphrase-file

    @Test("generate --passphrase-file writes an encrypted PKCS#8 key that openssl opens",
          .enabled(if: opensslInstalled, "openssl command not installed"))
    func generateWithPassphraseWritesEncryptedKey() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let home = box.path("home")
        let passphraseFile = try box.write("correct horse battery staple\n", to: "pass.txt")

        let generated = try box.keys(["generate", "--name", "alice", "--home", home, "--passphrase-file", passphraseFile])
        try generated.expectSuccess()
        let fingerprint = try #require(generated.line(after: "Fingerprint: "))

        let pem = try box.text(home + "/identity.pem")
        #expect(pem.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"), "got: \(pem.prefix(40))")
        #expect(pem.contains("-----END ENCRYPTED PRIVATE KEY-----"))
        #expect(try box.mode(of: home + "/identity.pem") == 0o600)

        let accepted = try box.run("/usr/bin/openssl", ["pkey", "-in", home + "/identity.pem", "-passin", "file:" + passphraseFile, "-noout"])
        #expect(accepted.status == 0, "openssl refused the key: \(accepted.stderr)")
        let wrong = try box.write("not it\n", to: "wrong.txt")
        let refused = try box.run("/usr/bin/openssl", ["pkey", "-in", home + "/identity.pem", "-passin", "file:" + wrong, "-noout"])
        #expect(refused.status != 0, "openssl opened the key with the wrong passphrase")

        // With the passphrase, the tool reads its own encrypted key.
        let viaPrivate = try box.keys(["fingerprint", home + "/identity.pem", "--name", "alice", "--passphrase-file", passphraseFile])
        try viaPrivate.expectSuccess()
        #expect(viaPrivate.trimmedStdout == fingerprint)
    }

    // MARK: 3. show

    @Test("show prints the name, the key in hex and base64, and generate's fingerprint ($LANCHAT_HOME)")
    func showPrintsIdentity() throws {
        let box = try Sandbox()
        defer { box.remove() }
        // No --home: both commands use $LANCHAT_HOME.
        let generated = try box.keys(["generate", "--name", "carol"])
        try generated.expectSuccess()
        #expect(FileManager.default.fileExists(atPath: box.environmentHome + "/identity.pem"))
        let generatedFingerprint = try #require(generated.line(after: "Fingerprint: "))

        let shown = try box.keys(["show"])
        try shown.expectSuccess()
        #expect(shown.line(after: "Name:") == "carol")
        let hex = try #require(shown.line(after: "Public key:"))
        let base64 = try #require(shown.line(after: "Base64:"))
        let fingerprint = try #require(shown.line(after: "Fingerprint:"))

        #expect(hex.count == 64 && hex.allSatisfy { $0.isHexDigit }, "not 64 hex digits: '\(hex)'")
        let key = try KeyFile.readPublicKey(at: box.environmentHome + "/identity.pub.pem")
        #expect(hex.lowercased() == key.rawRepresentation.map { String(format: "%02x", $0) }.joined())
        #expect(Data(base64Encoded: base64).map(Array.init) == key.rawRepresentation)
        #expect(fingerprint == generatedFingerprint)
        #expect(fingerprint == NumericFingerprint.grouped(NumericFingerprint.digits(for: key, stableID: "carol")))

        // --home shows the same identity.
        let explicit = try box.keys(["show", "--home", box.environmentHome])
        try explicit.expectSuccess()
        #expect(explicit.stdout == shown.stdout)
    }

    // MARK: 4. fingerprint

    @Test("fingerprint of the public and the private PEM of one key agree, and depend on the name")
    func fingerprintOfPublicAndPrivatePEMAgree() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let home = box.path("home")
        let generated = try box.keys(["generate", "--name", "dave", "--home", home])
        try generated.expectSuccess()
        let expected = try #require(generated.line(after: "Fingerprint: "))

        let fromPublic = try box.keys(["fingerprint", home + "/identity.pub.pem", "--name", "dave"])
        let fromPrivate = try box.keys(["fingerprint", home + "/identity.pem", "--name", "dave"])
        try fromPublic.expectSuccess()
        try fromPrivate.expectSuccess()
        #expect(fromPublic.trimmedStdout == expected)
        #expect(fromPrivate.trimmedStdout == expected)

        let otherName = try box.keys(["fingerprint", home + "/identity.pub.pem", "--name", "mallory"])
        try otherName.expectSuccess()
        #expect(isGroupedDigits(otherName.trimmedStdout, groups: 6))
        #expect(otherName.trimmedStdout != expected)
    }

    @Test("fingerprint reads a key made by openssl genpkey; private, openssl public and tool public agree",
          .enabled(if: opensslInstalled, "openssl command not installed"))
    func fingerprintOfOpenSSLKey() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let privatePath = box.path("openssl.pem"), publicPath = box.path("openssl.pub.pem")
        let made = try box.run("/usr/bin/openssl", ["genpkey", "-algorithm", "X25519", "-out", privatePath])
        #expect(made.status == 0, "openssl genpkey: \(made.stderr)")
        #expect(chmod(privatePath, 0o600) == 0)
        let derived = try box.run("/usr/bin/openssl", ["pkey", "-in", privatePath, "-pubout", "-out", publicPath])
        #expect(derived.status == 0, "openssl pkey -pubout: \(derived.stderr)")

        let fromOpenSSLPrivate = try box.keys(["fingerprint", privatePath, "--name", "erin"])
        let fromOpenSSLPublic = try box.keys(["fingerprint", publicPath, "--name", "erin"])
        try fromOpenSSLPrivate.expectSuccess()
        try fromOpenSSLPublic.expectSuccess()
        #expect(isGroupedDigits(fromOpenSSLPrivate.trimmedStdout, groups: 6))
        #expect(fromOpenSSLPrivate.trimmedStdout == fromOpenSSLPublic.trimmedStdout)
        #expect(fromOpenSSLPublic.trimmedStdout == (try inProcessFingerprint(publicPath, name: "erin")))

        // The same key exported by the tool itself gives the same fingerprint as well.
        let home = box.path("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: privatePath, toPath: home + "/identity.pem")
        try box.write("erin\n", to: "home/name")
        try FileManager.default.copyItem(atPath: publicPath, toPath: home + "/identity.pub.pem")
        let exported = try box.keys(["export-public", "--home", home, "--out", box.path("tool.pub.pem")])
        try exported.expectSuccess()
        let fromToolPublic = try box.keys(["fingerprint", box.path("tool.pub.pem"), "--name", "erin"])
        try fromToolPublic.expectSuccess()
        #expect(fromToolPublic.trimmedStdout == fromOpenSSLPrivate.trimmedStdout)
    }

    // MARK: 5. safety-number

    @Test("safety-number is the same 60 digits (12 groups of 5) from both sides")
    func safetyNumberIsSymmetric() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let alice = box.path("alice"), bob = box.path("bob")
        let aliceGenerated = try box.keys(["generate", "--name", "alice", "--home", alice])
        let bobGenerated = try box.keys(["generate", "--name", "bob", "--home", bob])
        try aliceGenerated.expectSuccess()
        try bobGenerated.expectSuccess()

        let fromAlice = try box.keys([
            "safety-number", "--mine", alice + "/identity.pem", "--my-name", "alice",
            "--theirs", bob + "/identity.pub.pem", "--their-name", "bob",
        ])
        let fromBob = try box.keys([
            "safety-number", "--mine", bob + "/identity.pem", "--my-name", "bob",
            "--theirs", alice + "/identity.pub.pem", "--their-name", "alice",
        ])
        try fromAlice.expectSuccess()
        try fromBob.expectSuccess()
        let number = fromAlice.trimmedStdout
        #expect(isGroupedDigits(number, groups: 12), "not 12 groups of 5 digits: '\(number)'")
        #expect(number.filter(\.isNumber).count == 60)
        #expect(fromBob.trimmedStdout == number)

        // It is both fingerprints, the smaller first.
        let halves = [
            try #require(aliceGenerated.line(after: "Fingerprint: ")),
            try #require(bobGenerated.line(after: "Fingerprint: ")),
        ].map { $0.filter(\.isNumber) }.sorted()
        #expect(number.filter(\.isNumber) == halves.joined())

        // The wrong name for a key changes the number.
        let swapped = try box.keys([
            "safety-number", "--mine", alice + "/identity.pem", "--my-name", "bob",
            "--theirs", bob + "/identity.pub.pem", "--their-name", "alice",
        ])
        try swapped.expectSuccess()
        #expect(swapped.trimmedStdout != number)
    }

    // MARK: 6. export-public

    @Test("export-public prints the public PEM and --out writes the same PEM to a file")
    func exportPublicPrintsAndWritesPEM() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let home = box.path("home")
        try box.keys(["generate", "--name", "frank", "--home", home]).expectSuccess()

        let printed = try box.keys(["export-public", "--home", home])
        try printed.expectSuccess()
        #expect(printed.stdout.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
        #expect(printed.stdout.hasSuffix("-----END PUBLIC KEY-----\n"))
        #expect(!printed.stdout.contains("PRIVATE"))
        #expect(printed.stdout == (try box.text(home + "/identity.pub.pem")))

        let out = box.path("exported.pem")
        let written = try box.keys(["export-public", "--home", home, "--out", out])
        try written.expectSuccess()
        #expect(written.stdout.isEmpty)
        #expect(try box.text(out) == printed.stdout)
        #expect(try KeyFile.readPublicKey(at: out) == KeyFile.readPublicKey(at: home + "/identity.pub.pem"))

        // An existing file is replaced only with --force, and a private key never.
        let precious = try box.write("keep me\n", to: "precious.txt")
        try box.keys(["export-public", "--home", home, "--out", precious]).expectCleanFailure()
        #expect(try box.text(precious) == "keep me\n")
        let privateKey = try box.bytes(home + "/identity.pem")
        let overPrivate = try box.keys(["export-public", "--home", home, "--out", home + "/identity.pem", "--force"])
        try overPrivate.expectCleanFailure()
        #expect(overPrivate.stderr.contains("holds a private key; refusing to replace it"), "stderr: \(overPrivate.stderr)")
        #expect(try box.bytes(home + "/identity.pem") == privateKey)
        try box.keys(["export-public", "--home", home, "--out", precious, "--force"]).expectSuccess()
        #expect(try box.text(precious) == printed.stdout)
    }

    @Test("a generate --force that cannot write leaves the old key, and a passphrase OpenSSL could not read back is refused")
    func failedGenerateKeepsKey() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let home = box.path("home")
        try box.keys(["generate", "--name", "gina", "--home", home]).expectSuccess()
        let key = try box.bytes(home + "/identity.pem")
        try FileManager.default.removeItem(atPath: home + "/name")
        try FileManager.default.createDirectory(atPath: home + "/name", withIntermediateDirectories: false)
        let blocked = try box.keys(["generate", "--name", "gina", "--home", home, "--force"])
        try blocked.expectCleanFailure()
        #expect(blocked.stderr.contains("\(home)/name: a folder is in the way"), "stderr: \(blocked.stderr)")
        #expect(try box.bytes(home + "/identity.pem") == key)

        let long = try box.write(String(repeating: "p", count: 1100) + "\n", to: "long.txt")
        let refused = try box.keys(["generate", "--name", "hal", "--home", box.path("hal"), "--passphrase-file", long])
        try refused.expectCleanFailure()
        #expect(refused.stderr.contains("the passphrase is 1100 bytes; OpenSSL reads at most 1023"), "stderr: \(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.path("hal") + "/identity.pem"))
    }

    @Test("openssl accepts the public key export-public prints",
          .enabled(if: opensslInstalled, "openssl command not installed"))
    func exportedPublicKeyOpensInOpenSSL() throws {
        let box = try Sandbox()
        defer { box.remove() }
        try box.keys(["generate", "--name", "grace"]).expectSuccess()
        let printed = try box.keys(["export-public"])
        try printed.expectSuccess()
        let saved = try box.write(printed.stdout, to: "printed.pem")

        let accepted = try box.run("/usr/bin/openssl", ["pkey", "-pubin", "-in", saved, "-noout"])
        #expect(accepted.status == 0, "openssl refused the public key: \(accepted.stderr)")
        let text = try box.run("/usr/bin/openssl", ["pkey", "-pubin", "-in", saved, "-noout", "-text"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("X25519"), "openssl -text: \(text.stdout)")
    }

    // MARK: 7. errors and help

    @Test("generate with an invalid name fails with a message about the allowed characters")
    func badNameIsRejected() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let home = box.path("home")
        let result = try box.keys(["generate", "--name", "bad name", "--home", home])
        try result.expectCleanFailure()
        #expect(result.stderr.contains("bad name"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("the ASCII letters a-z and A-Z, digits"), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: home + "/identity.pem"))
    }

    @Test("a damaged user name file beside the key fails with a message naming the file")
    func damagedNameFile() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let home = box.path("home")
        try box.keys(["generate", "--name", "alice", "--home", home]).expectSuccess()
        try Data("not a name\u{1B}[2J\n".utf8).write(to: URL(fileURLWithPath: home + "/name"))
        let result = try box.keys(["show", "--home", home])
        try result.expectCleanFailure()
        #expect(result.stderr.contains("the user name file \(home)/name does not hold a valid name"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("\u{1B}"), "stderr: \(result.stderr)")
    }

    @Test("show, export-public and verify use the key in identity.pem, the one clients present, and warn when identity.pub.pem disagrees",
          .enabled(if: opensslInstalled, "openssl command not installed"))
    func replacedIdentityKey() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let home = box.path("home")
        try box.keys(["generate", "--name", "carol", "--home", home]).expectSuccess()
        let staleCopy = try box.bytes(home + "/identity.pub.pem")
        // The user puts a key made by openssl in place of the identity.
        try FileManager.default.removeItem(atPath: home + "/identity.pem")
        #expect(try box.run("/usr/bin/openssl", ["genpkey", "-algorithm", "X25519", "-out", home + "/identity.pem"]).status == 0)
        #expect(chmod(home + "/identity.pem", 0o600) == 0)
        let inUse = try KeyFile.readPrivateKey(at: home + "/identity.pem", passphrase: nil).publicKey
        let expected = NumericFingerprint.grouped(NumericFingerprint.digits(for: inUse, stableID: "carol"))

        let shown = try box.keys(["show", "--home", home])
        try shown.expectSuccess()
        #expect(shown.line(after: "Fingerprint:") == expected)
        #expect(shown.stderr.contains("warning: \(home)/identity.pub.pem does not hold the key of \(home)/identity.pem"), "stderr: \(shown.stderr)")

        let exported = try box.keys(["export-public", "--home", home])
        try exported.expectSuccess()
        #expect(exported.stdout == String(decoding: try KeyFile.publicKeyPEM(inUse), as: UTF8.self))

        // The warning's own advice mends the copy; then nothing is said.
        let unforced = try box.keys(["export-public", "--home", home, "--out", home + "/identity.pub.pem"])
        #expect(unforced.status != 0 && unforced.stderr.contains("already exists"), "stderr: \(unforced.stderr)")
        #expect(try box.bytes(home + "/identity.pub.pem") == staleCopy)
        try box.keys(["export-public", "--home", home, "--out", home + "/identity.pub.pem", "--force"]).expectSuccess()
        #expect(try box.bytes(home + "/identity.pub.pem") != staleCopy)
        let mended = try box.keys(["show", "--home", home])
        try mended.expectSuccess()
        #expect(mended.line(after: "Fingerprint:") == expected)
        #expect(mended.stderr.isEmpty, "stderr: \(mended.stderr)")

        // A damaged identity.pem is reported, not hidden behind its old public copy.
        try Data("-----BEGIN PRIVATE KEY-----\ngarbage\n".utf8).write(to: URL(fileURLWithPath: home + "/identity.pem"))
        try box.keys(["show", "--home", home]).expectCleanFailure()
    }

    @Test("show on an empty home fails and says how to create an identity")
    func showWithoutIdentityFails() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let empty = box.path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let result = try box.keys(["show", "--home", empty])
        try result.expectCleanFailure()
        #expect(result.stderr.contains("no identity"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("lanchat-keys generate --name"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(empty))

        // Same through $LANCHAT_HOME, which does not exist at all.
        let viaEnvironment = try box.keys(["show"])
        try viaEnvironment.expectCleanFailure()
        #expect(viaEnvironment.stderr.contains("no identity in \(box.environmentHome)"), "stderr: \(viaEnvironment.stderr)")
    }

    @Test("fingerprint of a missing file fails naming the file")
    func fingerprintOfMissingFileFails() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let missing = box.path("nowhere.pem")
        let result = try box.keys(["fingerprint", missing, "--name", "alice"])
        try result.expectCleanFailure()
        #expect(result.stderr.contains("no key file"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(missing))
    }

    @Test("a group-readable private key is refused with the chmod to run")
    func groupReadablePrivateKeyIsRefused() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let alice = box.path("alice"), bob = box.path("bob")
        try box.keys(["generate", "--name", "alice", "--home", alice]).expectSuccess()
        try box.keys(["generate", "--name", "bob", "--home", bob]).expectSuccess()
        #expect(chmod(alice + "/identity.pem", 0o644) == 0)

        let result = try box.keys([
            "safety-number", "--mine", alice + "/identity.pem", "--my-name", "alice",
            "--theirs", bob + "/identity.pub.pem", "--their-name", "bob",
        ])
        try result.expectCleanFailure()
        #expect(result.stdout.isEmpty, "printed a safety number anyway: \(result.stdout)")
        #expect(result.stderr.contains("too open"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("chmod 600 \(alice)/identity.pem"), "stderr: \(result.stderr)")

        let fingerprint = try box.keys(["fingerprint", alice + "/identity.pem", "--name", "alice"])
        try fingerprint.expectCleanFailure()
        #expect(fingerprint.stderr.contains("chmod 600"), "stderr: \(fingerprint.stderr)")

        // The public key stays usable, and the private key again once fixed.
        try box.keys(["fingerprint", alice + "/identity.pub.pem", "--name", "alice"]).expectSuccess()
        #expect(chmod(alice + "/identity.pem", 0o600) == 0)
        try box.keys([
            "safety-number", "--mine", alice + "/identity.pem", "--my-name", "alice",
            "--theirs", bob + "/identity.pub.pem", "--their-name", "bob",
        ]).expectSuccess()
    }

    @Test("an encrypted key without its passphrase fails and names --passphrase-file")
    func encryptedKeyWithoutPassphraseFails() throws {
        let box = try Sandbox()
        defer { box.remove() }
        let home = box.path("home"), bob = box.path("bob")
        let passphraseFile = try box.write("s3cret\n", to: "pass.txt")
        try box.keys(["generate", "--name", "alice", "--home", home, "--passphrase-file", passphraseFile]).expectSuccess()
        try box.keys(["generate", "--name", "bob", "--home", bob]).expectSuccess()

        let fingerprint = try box.keys(["fingerprint", home + "/identity.pem", "--name", "alice"])
        try fingerprint.expectCleanFailure()
        #expect(fingerprint.stderr.contains("encrypted"), "stderr: \(fingerprint.stderr)")
        #expect(fingerprint.stderr.contains("--passphrase-file"), "stderr: \(fingerprint.stderr)")

        let safety = try box.keys([
            "safety-number", "--mine", home + "/identity.pem", "--my-name", "alice",
            "--theirs", bob + "/identity.pub.pem", "--their-name", "bob",
        ])
        try safety.expectCleanFailure()
        #expect(safety.stderr.contains("--passphrase-file"), "stderr: \(safety.stderr)")

        let wrong = try box.write("wrong\n", to: "wrong.txt")
        let wrongPassphrase = try box.keys(["fingerprint", home + "/identity.pem", "--name", "alice", "--passphrase-file", wrong])
        try wrongPassphrase.expectCleanFailure()
        #expect(wrongPassphrase.stderr.contains("wrong passphrase"), "stderr: \(wrongPassphrase.stderr)")
    }

    @Test("--help exits 0 for the command and every subcommand",
          arguments: [[], ["generate"], ["show"], ["fingerprint"], ["safety-number"], ["export-public"]])
    func helpExitsZero(subcommand: [String]) throws {
        let box = try Sandbox()
        defer { box.remove() }
        let result = try box.keys(subcommand + ["--help"])
        try result.expectSuccess()
        #expect(result.stdout.contains("USAGE: lanchat-keys \(subcommand.joined(separator: " "))"), "stdout: \(result.stdout)")
        #expect(result.stderr.isEmpty, "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.environmentHome))
    }
}

// MARK: - Helpers

/// "ddddd ddddd ...", exactly `groups` groups of five ASCII digits.
private func isGroupedDigits(_ text: String, groups: Int) -> Bool {
    let parts = text.split(separator: " ", omittingEmptySubsequences: false)
    return parts.count == groups && parts.allSatisfy { $0.count == 5 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
}

private func inProcessFingerprint(_ publicKeyPath: String, name: String) throws -> String {
    NumericFingerprint.grouped(NumericFingerprint.digits(for: try KeyFile.readPublicKey(at: publicKeyPath), stableID: name))
}

/// The result of one child process.
private struct Outcome {
    let command: String
    let status: Int32
    let exitedNormally: Bool
    let stdout: String
    let stderr: String

    var trimmedStdout: String { stdout.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// The rest of the first stdout line starting with `prefix`, trimmed.
    func line(after prefix: String) -> String? {
        stdout.split(separator: "\n").first { $0.hasPrefix(prefix) }
            .map { $0.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) }
    }

    func expectSuccess(sourceLocation: SourceLocation = #_sourceLocation) throws {
        try #require(exitedNormally && status == 0,
                     "\(command) failed (status \(status)):\nstdout: \(stdout)\nstderr: \(stderr)", sourceLocation: sourceLocation)
    }

    /// Non-zero exit (not a crash), one "Error: ..." line on stderr, no stack trace.
    func expectCleanFailure(sourceLocation: SourceLocation = #_sourceLocation) throws {
        try #require(exitedNormally, "\(command) was killed by signal \(status); stderr: \(stderr)", sourceLocation: sourceLocation)
        #expect(status != 0, "\(command) succeeded; stdout: \(stdout)", sourceLocation: sourceLocation)
        let lines = stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n")
        #expect(lines.count == 1, "expected one line on stderr, got:\n\(stderr)", sourceLocation: sourceLocation)
        #expect(lines.first?.hasPrefix("Error: ") == true, "stderr: \(stderr)", sourceLocation: sourceLocation)
        for trace in ["Fatal error", "Stack dump", "Backtrace", "Thread 0", "Crashed", ".swift:"] {
            #expect(!stderr.contains(trace), "stack trace or crash on stderr:\n\(stderr)", sourceLocation: sourceLocation)
        }
    }
}

private struct BinaryNotFound: Error, CustomStringConvertible {
    let searched: [String]
    var description: String {
        "lanchat-keys was not found next to the test bundle (looked in: \(searched.joined(separator: ", "))); "
            + "build it with 'swift build --build-tests'"
    }
}

/// A temporary folder for one test, with `LANCHAT_HOME` pointing inside it.
private struct Sandbox {
    let root: String

    init() throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("lanchat-keys-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/.io", withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    func path(_ name: String) -> String { root + "/" + name }

    /// The child's `$LANCHAT_HOME` (not created in advance).
    var environmentHome: String { path("env-home") }

    @discardableResult
    func write(_ text: String, to name: String) throws -> String {
        let file = path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    func bytes(_ file: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: file)) }
    func text(_ file: String) throws -> String { String(decoding: try bytes(file), as: UTF8.self) }

    func mode(of file: String) throws -> Int {
        var info = stat()
        guard stat(file, &info) == 0 else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: file]) }
        return Int(info.st_mode & 0o777)
    }

    /// Runs `lanchat-keys` with `LANCHAT_HOME` (and `HOME`) inside this sandbox and no other `LANCHAT_*` variables.
    func keys(_ arguments: [String]) throws -> Outcome {
        try run(try Self.binary().path, arguments)
    }

    func run(_ executable: String, _ arguments: [String]) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LANCHAT_") }
        environment["LANCHAT_HOME"] = environmentHome
        environment["HOME"] = root
        process.environment = environment
        // Output goes to files, so a full pipe can never block the child.
        let id = UUID().uuidString
        let outPath = path(".io/\(id).out"), errPath = path(".io/\(id).err")
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        return Outcome(
            command: ([URL(fileURLWithPath: executable).lastPathComponent] + arguments).joined(separator: " "),
            status: process.terminationStatus,
            exitedNormally: process.terminationReason == .exit,
            stdout: try text(outPath),
            stderr: try text(errPath)
        )
    }

    /// `lanchat-keys` in the build folder holding the test bundle.
    static func binary() throws -> URL {
        var folders: [URL] = []
        let bundle = Bundle.main.bundleURL
        folders.append(bundle.hasDirectoryPath ? bundle : bundle.deletingLastPathComponent())
        folders.append(bundle.deletingLastPathComponent())
        if let executable = Bundle.main.executableURL { folders.append(executable.deletingLastPathComponent()) }
        if let first = CommandLine.arguments.first {
            folders.append(URL(fileURLWithPath: first).resolvingSymlinksInPath().deletingLastPathComponent())
        }
        for folder in folders {
            let candidate = folder.appendingPathComponent("lanchat-keys")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw BinaryNotFound(searched: folders.map(\.path))
    }
}
