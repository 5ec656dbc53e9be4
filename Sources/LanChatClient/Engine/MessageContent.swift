/// What the plaintext inside an envelope holds: one type byte, then the content. Only text (type 1, UTF-8) exists so far.
enum MessageContent {
    static let textType: UInt8 = 1

    static func encode(text: String) -> [UInt8] {
        [textType] + Array(text.utf8)
    }

    /// The text, or nil when the plaintext is not a text message in valid UTF-8.
    static func decodeText(_ plaintext: [UInt8]) -> String? {
        guard plaintext.first == textType else { return nil }
        return String(validating: plaintext.dropFirst(), as: UTF8.self)
    }
}
