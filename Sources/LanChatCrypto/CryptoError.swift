import COpenSSL

/// A failure of a cryptographic operation. No variant carries secret material.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An AEAD tag did not verify: the data was altered, or the key or associated data is wrong.
    case authenticationFailed
    /// A public key is not 32 bytes, or is a low-order point that gives an all-zero shared secret.
    case invalidPublicKey
    /// Key material has the wrong length.
    case invalidKeyLength(expected: Int, actual: Int)
    /// A Noise message is shorter than its pattern requires, or longer than 65535 bytes.
    case malformedNoiseMessage(String)
    /// A Noise handshake method was called out of turn.
    case noiseStateViolation(String)
    /// A Noise cipher state has used all its nonces; the session must end.
    case nonceExhausted
    /// OpenSSL reported an error in `operation`.
    case openSSL(operation: String, reason: String)

    public var description: String {
        switch self {
        case .authenticationFailed: "authentication failed: the data was altered or the key is wrong"
        case .invalidPublicKey: "invalid X25519 public key (wrong length or a low-order point)"
        case let .invalidKeyLength(expected, actual): "invalid key length: expected \(expected) bytes, got \(actual)"
        case let .malformedNoiseMessage(why): "malformed Noise message: \(why)"
        case let .noiseStateViolation(why): "Noise handshake misuse: \(why)"
        case .nonceExhausted: "the Noise cipher state has used all its nonces"
        case let .openSSL(operation, reason): "OpenSSL failed in \(operation): \(reason)"
        }
    }

    /// Drains OpenSSL's thread-local error queue into a typed error.
    static func openSSL(_ operation: String) -> CryptoError {
        .openSSL(operation: operation, reason: OpenSSLErrorQueue.drain())
    }
}

/// Reads and clears OpenSSL's per-thread error queue.
enum OpenSSLErrorQueue {
    static func drain() -> String {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.isEmpty ? "unknown error" : reasons.joined(separator: "; ")
    }

    static func clear() {
        ERR_clear_error()
    }
}
