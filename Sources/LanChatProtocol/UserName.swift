/// A LanChat user name: 1–32 characters, each an ASCII letter, digit, `_`, `-` or `.`.
public struct UserName: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// Longest allowed name.
    public static let maxLength = 32

    public let value: String

    /// Validates `value`; throws `UserNameError` with the rule it broke.
    public init(_ value: String) throws {
        guard !value.isEmpty else { throw UserNameError.empty }
        guard value.utf8.count <= Self.maxLength else { throw UserNameError.tooLong(value) }
        guard value.utf8.allSatisfy(Self.isAllowed) else { throw UserNameError.invalidCharacters(value) }
        self.value = value
    }

    public var description: String { value }

    public static func < (lhs: UserName, rhs: UserName) -> Bool { lhs.value < rhs.value }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
            true
        default:
            false
        }
    }
}

/// Why a string is not a valid user name.
public enum UserNameError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(String)
    case invalidCharacters(String)

    public var description: String {
        switch self {
        case .empty: "a user name cannot be empty"
        case let .tooLong(name): "the user name '\(PrintableText.line(name))' is longer than \(UserName.maxLength) characters"
        case let .invalidCharacters(name): "the user name '\(PrintableText.line(name))' may only contain the ASCII letters a-z and A-Z, digits, '_', '-' and '.'"
        }
    }
}
