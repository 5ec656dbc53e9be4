import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// PEM key files compatible with the `openssl` command: private keys as PKCS#8 (optionally encrypted
/// with AES-256-CBC under an scrypt-derived key), public keys as SubjectPublicKeyInfo.
public enum KeyFile {
    /// scrypt cost for encrypted private keys: N = 2^14, r = 8, p = 1 (OpenSSL's `pkcs8 -scrypt` default).
    static let scryptN: UInt64 = 1 << 14, scryptR: UInt64 = 8, scryptP: UInt64 = 1
    /// The longest passphrase a new key is encrypted with: OpenSSL's PEM callback takes 1024 bytes
    /// (`PEM_BUFSIZE`), and the `openssl` command reads one less.
    public static let maximumPassphraseBytes = 1023

    // MARK: Reading

    /// Loads an X25519 private key. Refuses files readable by group or others, like ssh.
    public static func readPrivateKey(at path: String, passphrase: [UInt8]? = nil) throws -> PrivateKey {
        let mode = try fileMode(path)
        guard mode & 0o077 == 0 else { throw KeyFileError.permissionsTooOpen(path: path, mode: mode) }
        let pem = try readFile(path)
        return try parsePrivateKey(pem: pem, path: path, passphrase: passphrase)
    }

    /// Loads a public key from a public key PEM, or derives it from a private key PEM.
    public static func readPublicKey(at path: String, passphrase: [UInt8]? = nil) throws -> PublicKey {
        let pem = try readFile(path)
        switch PEMLabel(pem) {
        case .publicKey:
            return try parsePublicKey(pem: pem, path: path)
        case .privateKey, .encryptedPrivateKey, .otherPrivateKey:
            return try parsePrivateKey(pem: pem, path: path, passphrase: passphrase).publicKey
        case .none:
            throw KeyFileError.notAKeyFile(path: path)
        }
    }

    /// Whether the file at `path` holds a private key PEM (encrypted or not), which no public key may replace.
    public static func holdsPrivateKey(at path: String) -> Bool {
        guard let pem = try? readFile(path) else { return false }
        switch PEMLabel(pem) {
        case .privateKey, .encryptedPrivateKey, .otherPrivateKey: return true
        case .publicKey, .none: return false
        }
    }

    /// Parses a private key PEM; `path` only names the source in errors.
    public static func parsePrivateKey(pem: [UInt8], path: String, passphrase: [UInt8]?) throws -> PrivateKey {
        let label = PEMLabel(pem)
        switch label {
        case .none: throw KeyFileError.notAKeyFile(path: path)
        case .publicKey: throw KeyFileError.publicInsteadOfPrivate(path: path)
        case .encryptedPrivateKey where passphrase == nil: throw KeyFileError.passphraseRequired(path: path)
        default: break
        }
        let box = PassphraseBox(passphrase ?? [])
        let pkey: OpaquePointer? = try withMemoryBIO(pem) { bio in
            withExtendedLifetime(box) {
                PEM_read_bio_PrivateKey(bio, nil, passphraseCallback, Unmanaged.passUnretained(box).toOpaque())
            }
        }
        guard let pkey else {
            OpenSSLErrorQueue.clear()
            let decryptionFailed = label == .encryptedPrivateKey && isWellFormedEncryptedKey(pem)
            throw decryptionFailed ? KeyFileError.wrongPassphrase(path: path) : KeyFileError.corrupt(path: path)
        }
        guard EVP_PKEY_is_a(pkey, "X25519") == 1 else {
            let found = String(cString: EVP_PKEY_get0_type_name(pkey))
            EVP_PKEY_free(pkey)
            throw KeyFileError.wrongKeyType(path: path, found: found)
        }
        return try PrivateKey(taking: pkey)
    }

    /// Parses a SubjectPublicKeyInfo PEM.
    public static func parsePublicKey(pem: [UInt8], path: String) throws -> PublicKey {
        guard PEMLabel(pem) == .publicKey else { throw KeyFileError.notAKeyFile(path: path) }
        let pkey: OpaquePointer? = try withMemoryBIO(pem) { PEM_read_bio_PUBKEY($0, nil, nil, nil) }
        guard let pkey else {
            OpenSSLErrorQueue.clear()
            throw KeyFileError.corrupt(path: path)
        }
        defer { EVP_PKEY_free(pkey) }
        guard EVP_PKEY_is_a(pkey, "X25519") == 1 else {
            throw KeyFileError.wrongKeyType(path: path, found: String(cString: EVP_PKEY_get0_type_name(pkey)))
        }
        var raw = [UInt8](repeating: 0, count: 32)
        var length = raw.count
        guard EVP_PKEY_get_raw_public_key(pkey, &raw, &length) == 1 else { throw KeyFileError.corrupt(path: path) }
        return try PublicKey(rawRepresentation: raw)
    }

    /// True when `pem` decodes to a complete encrypted PKCS#8 structure, so that failing to read the key means
    /// the passphrase is wrong rather than the file damaged.
    private static func isWellFormedEncryptedKey(_ pem: [UInt8]) -> Bool {
        guard let sealed = try? withMemoryBIO(pem, { PEM_read_bio_PKCS8($0, nil, nil, nil) }) else {
            OpenSSLErrorQueue.clear()
            return false
        }
        X509_SIG_free(sealed)
        return true
    }

    // MARK: Writing

    /// PKCS#8 PEM of `key`, encrypted with AES-256-CBC and scrypt when `passphrase` is given.
    public static func privateKeyPEM(_ key: PrivateKey, passphrase: [UInt8]? = nil) throws -> [UInt8] {
        if let passphrase, passphrase.count > maximumPassphraseBytes { throw KeyFileError.passphraseTooLong(bytes: passphrase.count) }
        return try withOutputBIO { bio in
            guard let passphrase, !passphrase.isEmpty else {
                return PEM_write_bio_PKCS8PrivateKey(bio, key.pkey, nil, nil, 0, nil, nil) == 1
            }
            guard let info = EVP_PKEY2PKCS8(key.pkey) else { return false }
            defer { PKCS8_PRIV_KEY_INFO_free(info) }
            guard let algorithm = PKCS5_pbe2_set_scrypt(OpenSSLAlgorithms.aes256CBC, nil, 0, nil, scryptN, scryptR, scryptP) else {
                return false
            }
            let sealed = passphrase.withUnsafeBufferPointer { pass in
                pass.withMemoryRebound(to: CChar.self) { PKCS8_set0_pbe($0.baseAddress, Int32($0.count), info, algorithm) }
            }
            guard let sealed else {
                X509_ALGOR_free(algorithm)
                return false
            }
            defer { X509_SIG_free(sealed) }
            return PEM_write_bio_PKCS8(bio, sealed) == 1
        }
    }

    /// SubjectPublicKeyInfo PEM of `key`.
    public static func publicKeyPEM(_ key: PublicKey) throws -> [UInt8] {
        let peer = try PeerKey(key)
        return try withOutputBIO { PEM_write_bio_PUBKEY($0, peer.pkey) == 1 }
    }

    /// Writes `key` to `path` with mode 0600 (atomically: a temporary file, then rename).
    public static func writePrivateKey(_ key: PrivateKey, to path: String, passphrase: [UInt8]? = nil, overwrite: Bool = false) throws {
        try writeFile(privateKeyPEM(key, passphrase: passphrase), to: path, mode: 0o600, overwrite: overwrite)
    }

    /// Writes the public key PEM to `path` with mode 0644.
    public static func writePublicKey(_ key: PublicKey, to path: String, overwrite: Bool = false) throws {
        try writeFile(publicKeyPEM(key), to: path, mode: 0o644, overwrite: overwrite)
    }

    // MARK: Files

    static func fileMode(_ path: String) throws -> UInt16 {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { throw KeyFileError.notFound(path: path) }
            throw KeyFileError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw KeyFileError.notAFile(path: path) }
        return UInt16(info.st_mode & 0o7777)
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw KeyFileError.notFound(path: path) }
            throw KeyFileError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 { throw KeyFileError.unreadable(path: path, reason: String(cString: strerror(errno))) }
            if count == 0 { break }
            contents.append(contentsOf: chunk[0..<count])
            guard contents.count <= 1 << 20 else { throw KeyFileError.notAKeyFile(path: path) }
        }
        return contents
    }

    /// Writes through a temporary file in the same folder, fsyncs, then renames into place.
    public static func writeFile(_ contents: [UInt8], to path: String, mode: mode_t, overwrite: Bool) throws {
        if !overwrite, access(path, F_OK) == 0 { throw KeyFileError.alreadyExists(path: path) }
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw KeyFileError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
        var failure: String?
        if fchmod(fd, mode) != 0 { failure = String(cString: strerror(errno)) }
        var offset = 0
        while failure == nil, offset < contents.count {
            let written = contents[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 { failure = String(cString: strerror(errno)) } else { offset += written }
        }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw KeyFileError.writeFailed(path: path, reason: failure)
        }
    }

    // MARK: OpenSSL plumbing

    private static func withMemoryBIO<R>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> R) throws -> R {
        try bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { throw CryptoError.openSSL("BIO_new_mem_buf") }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    private static func withOutputBIO(_ body: (OpaquePointer) throws -> Bool) throws -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.openSSL("BIO_new") }
        defer { BIO_free(bio) }
        guard try body(bio) else { throw CryptoError.openSSL("PEM write") }
        var data: UnsafeMutablePointer<CChar>?
        let count = lanchat_BIO_get_mem_data(bio, &data)
        guard let data, count > 0 else { throw CryptoError.openSSL("BIO_get_mem_data") }
        return UnsafeRawBufferPointer(start: data, count: count).map { $0 }
    }
}

/// The kind of PEM block a file starts with.
enum PEMLabel: Equatable {
    case privateKey, encryptedPrivateKey, otherPrivateKey, publicKey

    init?(_ pem: [UInt8]) {
        let text = String(decoding: pem.prefix(4096), as: UTF8.self)
        if text.contains("-----BEGIN PRIVATE KEY-----") { self = .privateKey }
        else if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") { self = .encryptedPrivateKey }
        else if text.contains("-----BEGIN PUBLIC KEY-----") { self = .publicKey }
        else if text.contains("-----BEGIN "), text.contains(" PRIVATE KEY-----") { self = .otherPrivateKey }
        else { return nil }
    }
}

/// Carries a passphrase to OpenSSL's C callback without capturing context.
private final class PassphraseBox {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

private let passphraseCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
    buffer, size, _, context in
    guard let buffer, let context else { return -1 }
    let box = Unmanaged<PassphraseBox>.fromOpaque(context).takeUnretainedValue()
    guard !box.bytes.isEmpty, box.bytes.count <= Int(size) else { return -1 }
    box.bytes.withUnsafeBytes { UnsafeMutableRawPointer(buffer).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    return Int32(box.bytes.count)
}
