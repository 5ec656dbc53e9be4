/// `HOST:PORT` of a relay server.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    public static let defaultPort = 1234

    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `HOST` (port 1234) or `[IPv6]:PORT`.
    public init(parsing text: String) throws {
        var host = Substring(text), port = ServerAddress.defaultPort
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let parsed = Int(rest.dropFirst()) else { throw ClientError.invalidAddress(text) }
                port = parsed
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            guard let parsed = Int(text[text.index(after: colon)...]) else { throw ClientError.invalidAddress(text) }
            port = parsed
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw ClientError.invalidAddress(text) }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
