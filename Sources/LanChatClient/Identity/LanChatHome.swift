import Foundation
import LanChatCrypto
import LanChatProtocol

/// The folder where a user's identity and client state live (`--home`, else `$LANCHAT_HOME`, else `~/.lanchat`).
///
/// Layout: `identity.pem` (PKCS#8 private key, mode 0600), `identity.pub.pem` (public key), `name` (the user name).
public struct LanChatHome: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The home named by `explicit`, else `$LANCHAT_HOME`, else `~/.lanchat`.
    public static func resolve(_ explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> LanChatHome {
        if let explicit, !explicit.isEmpty { return LanChatHome(path: explicit) }
        if let fromEnvironment = environment["LANCHAT_HOME"], !fromEnvironment.isEmpty { return LanChatHome(path: fromEnvironment) }
        return LanChatHome(path: FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".lanchat").path)
    }

    public var privateKeyPath: String { path + "/identity.pem" }
    public var publicKeyPath: String { path + "/identity.pub.pem" }
    public var namePath: String { path + "/name" }

    /// Whether an identity key exists here.
    public var hasIdentity: Bool { FileManager.default.fileExists(atPath: privateKeyPath) }

    /// Creates a new identity; refuses to replace an existing one unless `overwrite` is set. Everything is
    /// encoded and every file's place checked first, and the private key is written last, so a failure
    /// leaves an existing key in place.
    @discardableResult
    public func createIdentity(name: UserName, passphrase: [UInt8]?, overwrite: Bool = false) throws -> Identity {
        if hasIdentity, !overwrite { throw HomeError.identityExists(path: privateKeyPath) }
        try ensureFolder()
        let key = try PrivateKey()
        let privatePEM = try KeyFile.privateKeyPEM(key, passphrase: passphrase)
        for file in [privateKeyPath, publicKeyPath, namePath] {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &isFolder), isFolder.boolValue {
                throw HomeError.cannotCreate(path: file, reason: "a folder is in the way")
            }
        }
        try KeyFile.writePublicKey(key.publicKey, to: publicKeyPath, overwrite: true)
        try KeyFile.writeFile(Array((name.value + "\n").utf8), to: namePath, mode: 0o644, overwrite: true)
        try KeyFile.writeFile(privatePEM, to: privateKeyPath, mode: 0o600, overwrite: true)
        return Identity(name: name, key: key)
    }

    /// Loads the identity kept here.
    public func loadIdentity(passphrase: [UInt8]?) throws -> Identity {
        guard hasIdentity else { throw whyNoIdentity(.noIdentity(home: path)) }
        let key = try KeyFile.readPrivateKey(at: privateKeyPath, passphrase: passphrase)
        return Identity(name: try storedName(), key: key)
    }

    /// The public key of the identity kept here, the one clients present: derived from `identity.pem`, or,
    /// when that file is passphrase-protected, read from the copy `identity.pub.pem` written beside it.
    public func publicKey() throws -> PublicKey {
        guard hasIdentity else { throw whyNoIdentity(.noIdentity(home: path)) }
        if identityIsEncrypted { return try KeyFile.readPublicKey(at: publicKeyPath) }
        return try KeyFile.readPrivateKey(at: privateKeyPath, passphrase: nil).publicKey
    }

    /// Whether `identity.pub.pem` is missing, unreadable or holds another key than `key` (say, after
    /// `identity.pem` was replaced by hand).
    public func publicCopyDiffers(from key: PublicKey) -> Bool {
        (try? KeyFile.readPublicKey(at: publicKeyPath)) != key
    }

    /// The user name stored beside the key.
    public func storedName() throws -> UserName {
        guard let data = FileManager.default.contents(atPath: namePath) else { throw HomeError.noName(path: namePath) }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            return try UserName(text)
        } catch {
            throw HomeError.badName(path: namePath, reason: "\(error)")
        }
    }

    /// The error for a home without an identity: `missing`, unless the folder may not be looked into
    /// (`HomeError.cannotSearch`), which would otherwise pass for an empty home.
    public func whyNoIdentity(_ missing: HomeError) -> HomeError {
        access(path, X_OK) != 0 && errno == EACCES ? .cannotSearch(path: path) : missing
    }

    /// Whether the identity key file is passphrase-protected.
    public var identityIsEncrypted: Bool {
        guard let data = FileManager.default.contents(atPath: privateKeyPath) else { return false }
        return String(decoding: data.prefix(64), as: UTF8.self).contains("ENCRYPTED")
    }

    /// Creates the home folder with mode 0700 if it is missing.
    public func ensureFolder() throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw HomeError.cannotCreate(path: path, reason: error.localizedDescription)
        }
    }
}

/// Problems with the LanChat home folder.
public enum HomeError: Error, Equatable, CustomStringConvertible {
    case noIdentity(home: String)
    case nothingKept(home: String)
    case identityExists(path: String)
    case noName(path: String)
    case badName(path: String, reason: String)
    case cannotCreate(path: String, reason: String)
    case cannotSearch(path: String)
    case unusableStore(path: String, reason: String, advice: String)
    case nameMismatch(home: String, stored: String, requested: String)

    public var description: String {
        switch self {
        case let .noIdentity(home): "no identity in \(home): create one with 'lanchat-keys generate --name NAME' (or pass --name)"
        case let .nothingKept(home): "there is no LanChat identity in \(home), so nothing is kept there; check --home (or $LANCHAT_HOME)"
        case let .identityExists(path): "an identity already exists at \(path); use --force to replace it (the old key is lost)"
        case let .noName(path): "the user name file \(path) is missing; write the identity's user name into it (or start afresh with 'lanchat-keys generate --name NAME --force', which replaces the key)"
        case let .badName(path, reason):
            "the user name file \(path) does not hold a valid name (\(reason)); write the identity's user name into it (or start afresh with 'lanchat-keys generate --name NAME --force', which replaces the key)"
        case let .cannotCreate(path, reason): "cannot create \(path): \(reason)"
        case let .cannotSearch(path): "permission denied: you may not look into \(path); check its owner and mode (LanChat makes it 0700)"
        case let .unusableStore(path, reason, advice): "cannot open the client database \(path): \(reason); \(advice)"
        case let .nameMismatch(home, stored, requested):
            "the identity in \(home) is '\(stored)', not '\(requested)'; use --home DIR for a second identity"
        }
    }
}

extension LanChatHome {
    /// The identity to use: the one kept here (which must match `name` when given), or a new one made for `name`.
    /// `passphrase` is asked for only when the key file needs one; `newKeyPassphrase` only when a key is made
    /// (nil from it: the new key is not encrypted).
    public func openIdentity(name: String?, passphrase: () throws -> [UInt8]?, newKeyPassphrase: () throws -> [UInt8]?) throws -> Identity {
        if hasIdentity {
            let identity = try loadIdentity(passphrase: identityIsEncrypted ? passphrase() : nil)
            if let name, name != identity.name.value {
                throw HomeError.nameMismatch(home: path, stored: identity.name.value, requested: name)
            }
            return identity
        }
        guard let name else { throw whyNoIdentity(.noIdentity(home: path)) }
        return try createIdentity(name: UserName(name), passphrase: newKeyPassphrase())
    }
}
