import NIOCore

/// Whether `bytes` are UTF-8. ASCII (every name the tests and benchmarks use) is checked without decoding.
func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    bytes.allSatisfy { $0 < 0x80 } || String(validating: bytes, as: UTF8.self) != nil
}

extension ByteBuffer {
    /// Writes `u8 length` and the UTF-8 bytes (at most 255).
    @discardableResult
    mutating func writeString8(_ string: String) -> Int {
        let count = string.utf8.count
        precondition(count <= 255, "string too long for a u8 length")
        return writeInteger(UInt8(count)) + writeString(string)
    }

    /// Writes `u16 length` and the UTF-8 bytes, cut at 65535 bytes (at a character boundary, so the cut stays valid UTF-8).
    @discardableResult
    mutating func writeString16(_ string: String) -> Int {
        let utf8 = string.utf8
        var end = utf8.index(utf8.startIndex, offsetBy: Int(UInt16.max), limitedBy: utf8.endIndex) ?? utf8.endIndex
        while end != utf8.endIndex, UTF8.isContinuation(utf8[end]) { utf8.formIndex(before: &end) }
        let bytes = utf8[..<end]
        return writeInteger(UInt16(bytes.count)) + writeBytes(bytes)
    }

    /// Writes `u16 length` and the bytes.
    @discardableResult
    mutating func writeBytes16(_ bytes: ByteBuffer) -> Int {
        precondition(bytes.readableBytes <= Int(UInt16.max))
        return writeInteger(UInt16(bytes.readableBytes)) + writeImmutableBuffer(bytes)
    }

    /// Writes `u32 length` and the bytes.
    @discardableResult
    mutating func writeBytes32(_ bytes: ByteBuffer) -> Int {
        writeInteger(UInt32(bytes.readableBytes)) + writeImmutableBuffer(bytes)
    }

    mutating func readWireInteger<T: FixedWidthInteger>(_ field: String, as: T.Type = T.self) throws(ProtocolError) -> T {
        guard let value = readInteger(as: T.self) else { throw ProtocolError.malformedFrame("truncated \(field)") }
        return value
    }

    /// Reads a flags byte whose only defined bit is bit 0; other bits must be zero.
    mutating func readFlags(_ field: String) throws(ProtocolError) -> Bool {
        try readFlags(field, defined: 1) == 1
    }

    /// Reads a flags byte whose defined bits are those of `defined`; other bits must be zero.
    mutating func readFlags(_ field: String, defined: UInt8) throws(ProtocolError) -> UInt8 {
        let flags: UInt8 = try readWireInteger(field)
        guard flags & ~defined == 0 else { throw ProtocolError.malformedFrame("unknown bits in \(field)") }
        return flags
    }

    mutating func readString8(_ field: String) throws(ProtocolError) -> String {
        try readUTF8(field, count: Int(readWireInteger(field, as: UInt8.self)))
    }

    mutating func readString16(_ field: String) throws(ProtocolError) -> String {
        try readUTF8(field, count: Int(readWireInteger(field, as: UInt16.self)))
    }

    mutating func readBytes16(_ field: String) throws(ProtocolError) -> ByteBuffer {
        try readWireSlice(field, count: Int(readWireInteger(field, as: UInt16.self)))
    }

    mutating func readBytes32(_ field: String) throws(ProtocolError) -> ByteBuffer {
        try readWireSlice(field, count: Int(readWireInteger(field, as: UInt32.self)))
    }

    mutating func readKey(_ field: String) throws(ProtocolError) -> [UInt8] {
        guard let key = readBytes(length: 32) else { throw ProtocolError.malformedFrame("truncated \(field)") }
        return key
    }

    mutating func readWireSlice(_ field: String, count: Int) throws(ProtocolError) -> ByteBuffer {
        guard let slice = readSlice(length: count) else { throw ProtocolError.malformedFrame("truncated \(field)") }
        return slice
    }

    /// Reads `count` bytes of UTF-8 straight from the buffer's storage (no intermediate array) as printable
    /// text: every string field is text a person may see or a log may record, so its control and bidirectional
    /// formatting characters become `?` (`PrintableText`). Printable ASCII is taken as it is, unscanned.
    private mutating func readUTF8(_ field: String, count: Int) throws(ProtocolError) -> String {
        guard readableBytes >= count else { throw ProtocolError.malformedFrame("truncated \(field)") }
        let string = withUnsafeReadableBytes { bytes -> String? in
            let utf8 = UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[..<count])
            if utf8.allSatisfy({ (0x20..<0x7F).contains($0) }) { return String(decoding: utf8, as: UTF8.self) }
            return String(validating: utf8, as: UTF8.self).map(PrintableText.line)
        }
        guard let string else { throw ProtocolError.malformedFrame("\(field) is not valid UTF-8") }
        moveReaderIndex(forwardBy: count)
        return string
    }
}
