/// How a server's static key is shown to people: `SHA256:` and the unpadded base64 of the SHA-256 of the
/// raw public key, the form ssh uses for host keys.
public enum ServerFingerprint {
    public static func of(_ key: PublicKey) -> String {
        "SHA256:" + Base64.encode(SHA256.hash(key.rawRepresentation)).prefix { $0 != "=" }
    }
}
