/// A violation of the wire protocol by the peer.
public enum ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case frameTooLarge(length: Int, limit: Int)
    case malformedFrame(String)
    case unknownFrameType(UInt8)
    case handshakeFailed(String)
    case noiseMessageTooLarge(Int)

    public var description: String {
        switch self {
        case let .frameTooLarge(length, limit): "frame of \(length) bytes exceeds the limit of \(limit) bytes"
        case let .malformedFrame(why): "malformed frame: \(why)"
        case let .unknownFrameType(type): "unknown frame type 0x\(String(type, radix: 16))"
        case let .handshakeFailed(why): "Noise handshake failed: \(why)"
        case let .noiseMessageTooLarge(length): "Noise message of \(length) bytes exceeds 65535"
        }
    }

    /// The error code the server reports for this violation.
    public var code: ErrorCode {
        switch self {
        case .frameTooLarge: .frameTooLarge
        default: .malformedFrame
        }
    }
}
