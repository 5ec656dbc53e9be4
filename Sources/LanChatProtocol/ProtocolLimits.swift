/// Sizes and versions both ends of a LanChat connection agree on.
public enum ProtocolLimits {
    /// The application protocol version carried in `hello` and `welcome`.
    public static let protocolVersion: UInt16 = 1
    /// The Noise prologue of every connection.
    public static let noisePrologue = Array("LanChat/1".utf8)
    /// The largest Noise message, length prefix excluded (Noise spec §3).
    public static let maxNoiseMessage = 65535
    /// The largest plaintext one Noise transport message carries (65535 minus the 16-byte tag).
    public static let maxNoisePlaintext = maxNoiseMessage - 16
    /// Default limit on one application frame (type byte and body) a server accepts, in bytes.
    public static let defaultMaxFrameLength = 1 << 20
    /// Limit on one frame a client accepts from its server (a `welcome` or `userList` of many users is large).
    public static let maxServerFrameLength = 16 << 20
    /// Bytes a `send` frame needs besides the header and body: request id, flags, length fields and count.
    public static let sendOverhead = 4 + 1 + 4 + 1 + 2 + 4 + 2
    /// Bytes each recipient adds to a `send` frame besides its name: name length, wrap length and the wrap.
    public static let sendBytesPerRecipient = 1 + 2 + wrapLength
    /// Longest envelope header accepted on the wire.
    public static let maxHeaderLength = 1024
    /// Length of every recipient wrap (a Noise K message carrying a 32-byte key).
    public static let wrapLength = 80
    /// Most recipients one `send` may name.
    public static let maxRecipients = 4096
}
