/// The handshake patterns LanChat uses, with the `25519_AESGCM_SHA256` cipher suite.
public enum NoisePattern: String, Sendable {
    /// Interactive, both static keys transmitted: `-> e; <- e, ee, s, es; -> s, se`. Used by every connection.
    case XX
    /// One-way, both static keys known in advance: `-> s; <- s; ...; -> e, es, ss`. Used to wrap content keys.
    case K

    /// The full Noise protocol name.
    public var protocolName: String { "Noise_\(rawValue)_25519_AESGCM_SHA256" }

    enum Token { case e, s, ee, es, se, ss }

    /// Static keys known before the handshake (initiator's, then responder's).
    var preMessages: (initiator: [Token], responder: [Token]) {
        switch self {
        case .XX: ([], [])
        case .K: ([.s], [.s])
        }
    }

    /// Message patterns, alternating initiator → responder, responder → initiator.
    var messages: [[Token]] {
        switch self {
        case .XX: [[.e], [.e, .ee, .s, .es], [.s, .se]]
        case .K: [[.e, .es, .ss]]
        }
    }
}
