/// Why a key file could not be read or written. Messages name the file and say what to do.
public enum KeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case unreadable(path: String, reason: String)
    case permissionsTooOpen(path: String, mode: UInt16)
    case notAKeyFile(path: String)
    case wrongKeyType(path: String, found: String)
    case passphraseRequired(path: String)
    case wrongPassphrase(path: String)
    case corrupt(path: String)
    case alreadyExists(path: String)
    case writeFailed(path: String, reason: String)
    case notAFile(path: String)
    case publicInsteadOfPrivate(path: String)
    case passphraseTooLong(bytes: Int)
    case wouldReplacePrivateKey(path: String)

    public var description: String {
        switch self {
        case let .notFound(path):
            "no key file at \(path)"
        case let .unreadable(path, reason):
            "cannot read \(path): \(reason)"
        case let .permissionsTooOpen(path, mode):
            "permissions \(String(mode, radix: 8, uppercase: false).leftPadded(to: 4)) for '\(path)' are too open: a private key must not be readable by others. Run: chmod 600 \(path)"
        case let .notAKeyFile(path):
            "\(path) is not a PEM key file (expected PRIVATE KEY, ENCRYPTED PRIVATE KEY or PUBLIC KEY)"
        case let .wrongKeyType(path, found):
            "\(path) holds a key of type \(found); LanChat needs an X25519 key (openssl genpkey -algorithm X25519)"
        case let .passphraseRequired(path):
            "\(path) is encrypted: give its passphrase (--passphrase-file FILE or LANCHAT_PASSPHRASE_FILE)"
        case let .wrongPassphrase(path):
            "wrong passphrase for \(path)"
        case let .corrupt(path):
            "\(path) is damaged or truncated: its PEM data does not decode to a key"
        case let .alreadyExists(path):
            "\(path) already exists; refusing to overwrite it (use --force to replace it)"
        case let .writeFailed(path, reason):
            "cannot write \(path): \(reason)"
        case let .notAFile(path):
            "\(path) is a directory or other special file, not a key file"
        case let .publicInsteadOfPrivate(path):
            "\(path) holds a public key; a private key is needed here"
        case let .wouldReplacePrivateKey(path):
            "\(path) holds a private key; refusing to replace it with a public key (choose another --out)"
        case let .passphraseTooLong(bytes):
            "the passphrase is \(bytes) bytes; OpenSSL reads at most \(KeyFile.maximumPassphraseBytes), so use a shorter one"
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
