import Foundation
import LanChatCrypto

/// Loads the published test vectors copied from `shared/vectors` into this target's resources.
enum Vectors {
    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors") else {
            throw VectorError.missing(name)
        }
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    enum VectorError: Error { case missing(String) }
}

func hex(_ text: String) -> [UInt8] {
    guard let bytes = Hex.decode(text) else { fatalError("bad hex in vector: \(text)") }
    return bytes
}

struct X25519File: Decodable {
    struct Vector: Decodable {
        let type: String
        let name: String
        let scalar: String?
        let u_in: String?
        let u_out: String?
        let alice_private: String?
        let alice_public: String?
        let bob_private: String?
        let bob_public: String?
        let shared_secret: String?
    }
    let vectors: [Vector]
}

struct HKDFFile: Decodable {
    struct Vector: Decodable {
        let name: String
        let ikm: String
        let salt: String
        let info: String
        let length: Int
        let okm: String
    }
    let vectors: [Vector]
}

struct GCMFile: Decodable {
    struct Vector: Decodable {
        let name: String
        let key: String
        let iv: String
        let plaintext: String
        let aad: String
        let ciphertext: String
        let tag: String
    }
    let vectors: [Vector]
}

struct NoiseFile: Decodable {
    struct Message: Decodable {
        let payload: String
        let ciphertext: String
    }
    struct Vector: Decodable {
        let protocol_name: String
        let init_prologue: String
        let init_static: String
        let init_ephemeral: String
        let init_remote_static: String?
        let resp_prologue: String
        let resp_static: String
        let resp_ephemeral: String?
        let resp_remote_static: String?
        let handshake_hash: String?
        let messages: [Message]
    }
    let vectors: [Vector]
}

struct FingerprintFile: Decodable {
    struct Vector: Decodable {
        let iterations: Int
        let local_stable_id_utf8: String
        let local_identity_key: String
        let remote_stable_id_utf8: String
        let remote_identity_key: String
        let displayable_fingerprint: String
        let local_30_digits: String
        let remote_30_digits: String
    }
    let vectors: [Vector]
}
