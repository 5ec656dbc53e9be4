import COpenSSL

/// HKDF with SHA-256 (RFC 5869), extract-then-expand, through OpenSSL's `EVP_KDF`.
public enum HKDFSHA256 {
    /// Derives `outputCount` bytes from `inputKeyMaterial`, `salt` and `info` into wiped-on-release storage.
    public static func deriveSecret(
        inputKeyMaterial: UnsafeRawBufferPointer,
        salt: UnsafeRawBufferPointer,
        info: UnsafeRawBufferPointer,
        outputCount: Int
    ) throws -> SecretBytes {
        try SecretBytes(count: outputCount) { out in
            // OpenSSL refuses NULL octet strings even with length 0; point empty inputs at a dummy byte.
            var dummy: UInt8 = 0
            let ok = withUnsafeMutablePointer(to: &dummy) { dummyPointer -> Int32 in
                let empty = UnsafePointer(dummyPointer)
                return lanchat_hkdf_sha256(
                    OpenSSLAlgorithms.hkdf,
                    inputKeyMaterial.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? empty, inputKeyMaterial.count,
                    salt.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? empty, salt.count,
                    info.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? empty, info.count,
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), outputCount
                )
            }
            guard ok == 1 else { throw CryptoError.openSSL("HKDF") }
        }
    }

    /// Derives `outputCount` bytes; for keys prefer `deriveSecret`.
    public static func derive(inputKeyMaterial: [UInt8], salt: [UInt8], info: [UInt8], outputCount: Int) throws -> [UInt8] {
        try inputKeyMaterial.withUnsafeBytes { ikm in
            try salt.withUnsafeBytes { s in
                try info.withUnsafeBytes { i in
                    try deriveSecret(inputKeyMaterial: ikm, salt: s, info: i, outputCount: outputCount).bytes
                }
            }
        }
    }
}
