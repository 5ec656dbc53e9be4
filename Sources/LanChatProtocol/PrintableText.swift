/// Text from another party, made safe to show. Control characters (C0, DEL, C1: escape sequences, carriage
/// returns, bells, line breaks) and the bidirectional formatting characters that reorder a line can recolour
/// or clear a terminal, overwrite what it shows, or make a line pass for another sender's; each is replaced by
/// `?`. Everything else, any script and emoji, is kept as it is. The replacement is one byte, so the text is
/// never longer in UTF-8 than what it came from: a name read from a `str8` field still fits one when echoed.
public enum PrintableText {
    /// What an unsafe character becomes.
    public static let replacement: Unicode.Scalar = "?"

    /// Whether `scalar` can be shown without moving the cursor, changing the terminal or reordering its line.
    public static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: false // C0 controls, DEL, C1 controls
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: false // bidirectional formatting
        default: true
        }
    }

    /// `text` with each character that is not printable replaced by `?`.
    public static func line<S: StringProtocol>(_ text: S) -> String {
        guard !text.unicodeScalars.allSatisfy(isPrintable) else { return String(text) }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { scalars.append(isPrintable(scalar) ? scalar : replacement) }
        return String(scalars)
    }
}
