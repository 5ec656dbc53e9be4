import LanChatCrypto
import Testing

@Suite("Safety numbers (libsignal numeric fingerprint v1)")
struct FingerprintTests {
    @Test("reproduces libsignal's fingerprint_test_v1")
    func libsignalVector() throws {
        let vector = try Vectors.load("signal_numeric_fingerprint", as: FingerprintFile.self).vectors[0]
        let local = NumericFingerprint.digits(
            serializedKey: hex(vector.local_identity_key), stableID: Array(vector.local_stable_id_utf8.utf8), iterations: vector.iterations
        )
        let remote = NumericFingerprint.digits(
            serializedKey: hex(vector.remote_identity_key), stableID: Array(vector.remote_stable_id_utf8.utf8), iterations: vector.iterations
        )
        #expect(local == vector.local_30_digits)
        #expect(remote == vector.remote_30_digits)
        let localKey = try PublicKey(rawRepresentation: hex(vector.local_identity_key).dropFirst())
        let remoteKey = try PublicKey(rawRepresentation: hex(vector.remote_identity_key).dropFirst())
        let number = NumericFingerprint.safetyNumber(
            localKey: localKey, localID: vector.local_stable_id_utf8, remoteKey: remoteKey, remoteID: vector.remote_stable_id_utf8
        )
        #expect(number == vector.displayable_fingerprint)
        let reverse = NumericFingerprint.safetyNumber(
            localKey: remoteKey, localID: vector.remote_stable_id_utf8, remoteKey: localKey, remoteID: vector.local_stable_id_utf8
        )
        #expect(reverse == number, "both parties compute the same safety number")
    }

    @Test("shown as twelve groups of five digits")
    func grouping() throws {
        let alice = try PrivateKey().publicKey, bob = try PrivateKey().publicKey
        let number = NumericFingerprint.safetyNumber(localKey: alice, localID: "alice", remoteKey: bob, remoteID: "bob")
        let groups = NumericFingerprint.grouped(number).split(separator: " ")
        #expect(number.count == 60)
        #expect(groups.count == 12 && groups.allSatisfy { $0.count == 5 && $0.allSatisfy(\.isNumber) })
        #expect(NumericFingerprint.digits(for: alice, stableID: "alice") != NumericFingerprint.digits(for: alice, stableID: "alicE"))
    }
}
