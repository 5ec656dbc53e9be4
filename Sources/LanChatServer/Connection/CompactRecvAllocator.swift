import NIOCore

/// Sizes a connection's read buffers as NIO's `AdaptiveRecvByteBufferAllocator` does (powers of two from a minimum
/// to a maximum, doubled after a read that filled the buffer, halved after two reads in a row that used at most
/// half of it), in four bytes. A channel keeps its allocator in an existential, which holds three words inline:
/// NIO's adaptive one (four `Int`s and a `Bool`) lives in a box that every connection copies on its first read.
struct CompactRecvAllocator: RecvByteBufferAllocator {
    private let minimumShift: UInt8
    private let maximumShift: UInt8
    private var shift: UInt8
    /// Whether the last read used at most half of the buffer and did not shrink it: the next such read does.
    private var decreaseNow = false

    /// Sizes are rounded to powers of two as NIO's allocator rounds them: `minimum` and `initial` down, `maximum` up.
    init(minimum: Int, initial: Int, maximum: Int) {
        precondition(0 < minimum && minimum <= initial && initial <= maximum && maximum <= 1 << 30, "read buffer sizes out of order")
        minimumShift = Self.log2(roundingDown: minimum)
        shift = Self.log2(roundingDown: initial)
        maximumShift = Self.log2(roundingDown: maximum) + (maximum.nonzeroBitCount == 1 ? 0 : 1)
    }

    private static func log2(roundingDown value: Int) -> UInt8 {
        UInt8(Int.bitWidth - 1 - value.leadingZeroBitCount)
    }

    private var size: Int { 1 << Int(shift) }

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: size)
    }

    func nextBufferSize() -> Int? { size }

    mutating func record(actualReadBytes: Int) -> Bool {
        if actualReadBytes <= size >> 1 && shift > minimumShift {
            if decreaseNow { shift -= 1 }
            decreaseNow.toggle()
            return false
        }
        decreaseNow = false
        guard actualReadBytes >= size, shift < maximumShift else { return false }
        shift += 1
        return true
    }
}
