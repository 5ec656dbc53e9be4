import Foundation
import LanChatCrypto

/// The server's own static Noise key, created on first start and kept in the data folder (`server.pem`, mode 0600).
public enum ServerKeyStore {
    /// Loads the key from `dataDirectory`, creating the folder and the key if missing.
    public static func loadOrCreate(in dataDirectory: String) throws -> PrivateKey {
        try ServerDataFolder.prepare(dataDirectory)
        let path = keyPath(in: dataDirectory)
        if FileManager.default.fileExists(atPath: path) {
            do {
                return try KeyFile.readPrivateKey(at: path)
            } catch KeyFileError.passphraseRequired {
                throw ServerStartError.encryptedKey(path: path)
            }
        }
        let key = try PrivateKey()
        try KeyFile.writePrivateKey(key, to: path)
        return key
    }

    public static func keyPath(in dataDirectory: String) -> String {
        dataDirectory + "/server.pem"
    }
}
