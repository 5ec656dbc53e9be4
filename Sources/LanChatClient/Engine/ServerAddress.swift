import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `HOST:PORT` of a relay server.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    public static let defaultPort = 1234

    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `HOST` (port 1234), `[IPv6]:PORT` or a bare IPv6 address, ignoring spaces around it.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var host = Substring(trimmed), portText: Substring?
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]") else { throw ClientError.invalidAddress(text) }
            host = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
            let rest = trimmed[trimmed.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":") else { throw ClientError.invalidAddress(text) }
            portText = rest.isEmpty ? nil : rest.dropFirst()
        } else if trimmed.filter({ $0 == ":" }).count == 1, let colon = trimmed.firstIndex(of: ":") {
            host = trimmed[..<colon]
            portText = trimmed[trimmed.index(after: colon)...]
        }
        var port = Self.defaultPort
        if let portText {
            guard let parsed = Int(portText) else { throw ClientError.invalidAddress(text) }
            port = parsed
        }
        guard !host.isEmpty, (1...65535).contains(port), Self.isHostName(host) || Self.isIPv6(host) else {
            throw ClientError.invalidAddress(text)
        }
        self.init(host: String(host), port: port)
    }

    /// A host name or IPv4 address: ASCII letters, digits, `-`, `.` and `_` (found in some LAN names).
    private static func isHostName(_ host: Substring) -> Bool {
        host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }
    }

    private static func isIPv6(_ host: Substring) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, String(host), &address) == 1
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

