import Foundation
import LanChatCrypto
import Testing

@Suite("Key files and openssl interoperability")
struct KeyFileTests {
    let folder: TemporaryFolder
    let passphrase = Array("SECRET".utf8)

    init() throws {
        folder = try TemporaryFolder()
    }

    // MARK: openssl interoperability

    @Test("a key from openssl genpkey loads, with the public key openssl prints", .opensslInstalled)
    func opensslKeyLoads() throws {
        let keyPath = folder.path("openssl.pem")
        let publicPath = folder.path("openssl.pub.pem")
        try openssl("genpkey", "-algorithm", "X25519", "-out", keyPath)
        try setMode(0o600, of: keyPath)
        try openssl("pkey", "-in", keyPath, "-pubout", "-out", publicPath)

        let key = try KeyFile.readPrivateKey(at: keyPath)
        #expect(try KeyFile.readPublicKey(at: publicPath) == key.publicKey)
        #expect(try KeyFile.readPublicKey(at: keyPath) == key.publicKey)
    }

    @Test("openssl reads the private keys we write, plain (mode 0600) and scrypt-encrypted", .opensslInstalled)
    func opensslReadsOurKeys() throws {
        let key = try PrivateKey()
        let plainPath = folder.path("plain.pem")
        try KeyFile.writePrivateKey(key, to: plainPath)
        #expect(try mode(of: plainPath) == 0o600)
        try openssl("pkey", "-in", plainPath, "-noout")

        let encryptedPath = folder.path("encrypted.pem")
        try KeyFile.writePrivateKey(key, to: encryptedPath, passphrase: passphrase)
        #expect(try mode(of: encryptedPath) == 0o600)
        #expect(try String(contentsOfFile: encryptedPath, encoding: .utf8).hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        try openssl("pkey", "-in", encryptedPath, "-passin", "pass:SECRET", "-noout")
        #expect(try runOpenSSL("pkey", "-in", encryptedPath, "-passin", "pass:WRONG", "-noout").status != 0)
        #expect(try String(decoding: openssl("asn1parse", "-in", encryptedPath), as: UTF8.self).contains("scrypt"))

        let publicPath = folder.path("encrypted.pub.pem")
        try openssl("pkey", "-in", encryptedPath, "-passin", "pass:SECRET", "-pubout", "-out", publicPath)
        #expect(try KeyFile.readPublicKey(at: publicPath) == key.publicKey)
    }

    @Test("openssl pkeyutl -derive gives the same X25519 shared secret", .opensslInstalled)
    func sharedSecretMatchesOpenSSL() throws {
        let alice = try PrivateKey()
        let bob = try PrivateKey()
        let alicePath = folder.path("alice.pem")
        let bobPublicPath = folder.path("bob.pub.pem")
        try KeyFile.writePrivateKey(alice, to: alicePath)
        try KeyFile.writePublicKey(bob.publicKey, to: bobPublicPath)

        let derived = try openssl("pkeyutl", "-derive", "-inkey", alicePath, "-peerkey", bobPublicPath)
        #expect(derived.count == 32)
        #expect(derived == (try alice.sharedSecret(with: bob.publicKey).bytes))
        #expect(derived == (try bob.sharedSecret(with: alice.publicKey).bytes))
    }

    // MARK: Errors

    @Test("a private key readable by group or others is refused")
    func permissionsTooOpen() throws {
        let path = folder.path("open.pem")
        try KeyFile.writePrivateKey(PrivateKey(), to: path)
        try setMode(0o644, of: path)
        expectError(.permissionsTooOpen(path: path, mode: 0o644), naming: path) { try KeyFile.readPrivateKey(at: path) }
    }

    @Test("a missing file is not found")
    func missingFile() {
        let path = folder.path("missing.pem")
        expectError(.notFound(path: path), naming: path) { try KeyFile.readPrivateKey(at: path) }
        expectError(.notFound(path: path), naming: path) { try KeyFile.readPublicKey(at: path) }
    }

    @Test("a PEM cut in the middle of its base64 is corrupt, also when encrypted and given the right passphrase")
    func truncatedPEM() throws {
        let key = try PrivateKey()
        for (name, pem, passphrase) in try [
            ("plain.pem", KeyFile.privateKeyPEM(key), nil),
            ("encrypted.pem", KeyFile.privateKeyPEM(key, passphrase: passphrase), passphrase),
        ] {
            let lines = String(decoding: pem, as: UTF8.self).split(separator: "\n")
            let cut = lines[0] + "\n" + lines[1].prefix(lines[1].count / 2)
            let path = folder.path(name)
            try KeyFile.writeFile(Array(cut.utf8), to: path, mode: 0o600, overwrite: false)
            expectError(.corrupt(path: path), naming: path) { try KeyFile.readPrivateKey(at: path, passphrase: passphrase) }
        }
    }

    @Test("a file without a PEM key block is not a key file")
    func garbage() throws {
        let path = folder.path("garbage.pem")
        try KeyFile.writeFile(Array("just some notes, no key here\n".utf8), to: path, mode: 0o600, overwrite: false)
        expectError(.notAKeyFile(path: path), naming: path) { try KeyFile.readPrivateKey(at: path) }
        expectError(.notAKeyFile(path: path), naming: path) { try KeyFile.readPublicKey(at: path) }
    }

    @Test("a public key where a private one is needed, and a folder where a key file is, are named as such")
    func publicKeyOrFolderInstead() throws {
        let key = try PrivateKey()
        let path = folder.path("public.pem")
        try KeyFile.writeFile(try KeyFile.publicKeyPEM(key.publicKey), to: path, mode: 0o600, overwrite: false)
        expectError(.publicInsteadOfPrivate(path: path), naming: path) { try KeyFile.readPrivateKey(at: path) }
        #expect(try KeyFile.readPublicKey(at: path) == key.publicKey)
        #expect(!KeyFile.holdsPrivateKey(at: path))

        let directory = folder.path("key-folder.pem")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        expectError(.notAFile(path: directory), naming: directory) { try KeyFile.readPrivateKey(at: directory) }
    }

    @Test("a new key is not encrypted with a passphrase longer than OpenSSL reads back")
    func overlongPassphrase() throws {
        let key = try PrivateKey()
        let longest = [UInt8](repeating: UInt8(ascii: "p"), count: KeyFile.maximumPassphraseBytes)
        let pem = try KeyFile.privateKeyPEM(key, passphrase: longest)
        #expect(try KeyFile.parsePrivateKey(pem: pem, path: "longest", passphrase: longest).publicKey == key.publicKey)
        #expect(throws: KeyFileError.passphraseTooLong(bytes: KeyFile.maximumPassphraseBytes + 1)) {
            try KeyFile.privateKeyPEM(key, passphrase: longest + [UInt8(ascii: "p")])
        }
    }

    @Test(
        "an RSA or Ed25519 key is the wrong key type, and the message names the type found",
        .opensslInstalled,
        arguments: [("RSA", ["-pkeyopt", "rsa_keygen_bits:1024"]), ("ED25519", [])]
    )
    func wrongKeyType(algorithm: String, options: [String]) throws {
        let path = folder.path("\(algorithm).pem")
        try openssl(["genpkey", "-algorithm", algorithm, "-out", path] + options)
        try setMode(0o600, of: path)
        let error = expectError(.wrongKeyType(path: path, found: algorithm), naming: path) { try KeyFile.readPrivateKey(at: path) }
        #expect(error?.description.contains("holds a key of type \(algorithm);") == true, "\(String(describing: error))")
        expectError(.wrongKeyType(path: path, found: algorithm), naming: path) { try KeyFile.readPublicKey(at: path) }
    }

    @Test("an encrypted key needs its passphrase, and the right one")
    func passphraseErrors() throws {
        let path = folder.path("encrypted.pem")
        try KeyFile.writePrivateKey(PrivateKey(), to: path, passphrase: passphrase)
        expectError(.passphraseRequired(path: path), naming: path) { try KeyFile.readPrivateKey(at: path) }
        expectError(.wrongPassphrase(path: path), naming: path) {
            try KeyFile.readPrivateKey(at: path, passphrase: Array("WRONG".utf8))
        }
    }

    @Test("writing over an existing key needs overwrite: true, which replaces it")
    func overwrite() throws {
        let path = folder.path("key.pem")
        let first = try PrivateKey()
        let second = try PrivateKey()
        try KeyFile.writePrivateKey(first, to: path)
        expectError(.alreadyExists(path: path), naming: path) { try KeyFile.writePrivateKey(second, to: path) }
        #expect(try KeyFile.readPrivateKey(at: path).publicKey == first.publicKey)

        try KeyFile.writePrivateKey(second, to: path, overwrite: true)
        #expect(try KeyFile.readPrivateKey(at: path).publicKey == second.publicKey)
        #expect(try mode(of: path) == 0o600)
    }

    // MARK: Round trip

    @Test("private keys (plain and encrypted) and public keys read back as the same key")
    func roundTrip() throws {
        let key = try PrivateKey()
        let plainPath = folder.path("plain.pem")
        let encryptedPath = folder.path("encrypted.pem")
        let publicPath = folder.path("public.pem")
        try KeyFile.writePrivateKey(key, to: plainPath)
        try KeyFile.writePrivateKey(key, to: encryptedPath, passphrase: passphrase)
        try KeyFile.writePublicKey(key.publicKey, to: publicPath)

        #expect(try KeyFile.readPrivateKey(at: plainPath).publicKey == key.publicKey)
        #expect(try KeyFile.readPrivateKey(at: encryptedPath, passphrase: passphrase).publicKey == key.publicKey)
        #expect(try KeyFile.readPublicKey(at: publicPath) == key.publicKey)
        #expect(try KeyFile.readPublicKey(at: encryptedPath, passphrase: passphrase) == key.publicKey)
        #expect(try KeyFile.readPrivateKey(at: plainPath).rawSecret() == key.rawSecret())
    }

    // MARK: Helpers

    /// Expects `body` to throw exactly `expected`, with a description that names `path`; returns the error.
    @discardableResult
    private func expectError<R>(
        _ expected: KeyFileError, naming path: String,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws -> R
    ) -> KeyFileError? {
        let error = #expect(throws: KeyFileError.self, sourceLocation: sourceLocation) { try body() }
        guard let error else { return nil }
        #expect(error == expected, sourceLocation: sourceLocation)
        #expect(error.description.contains(path), "\(error.description)", sourceLocation: sourceLocation)
        return error
    }

    private func setMode(_ mode: Int, of path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    private func mode(of path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips a test, visibly, where the `openssl` command is missing.
    static var opensslInstalled: Self {
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "openssl command not installed")
    }
}

/// A fresh folder under the system temporary directory, removed with everything in it when released.
final class TemporaryFolder: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("LanChatCryptoTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// Runs `/usr/bin/openssl` with `arguments`; returns its exit status, standard output and standard error.
func runOpenSSL(_ arguments: [String]) throws -> (status: Int32, output: [UInt8], errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = arguments
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, Array(outputData), String(decoding: errorData, as: UTF8.self))
}

func runOpenSSL(_ arguments: String...) throws -> (status: Int32, output: [UInt8], errors: String) {
    try runOpenSSL(arguments)
}

/// Runs `/usr/bin/openssl`, requires it to succeed, and returns its standard output.
@discardableResult
func openssl(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    let result = try runOpenSSL(arguments)
    try #require(result.status == 0, "openssl \(arguments.joined(separator: " ")): \(result.errors)", sourceLocation: sourceLocation)
    return result.output
}

@discardableResult
func openssl(_ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    try openssl(arguments, sourceLocation: sourceLocation)
}
