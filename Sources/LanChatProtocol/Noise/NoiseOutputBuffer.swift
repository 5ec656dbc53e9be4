import LanChatCrypto
import NIOCore

/// Outbound plaintext laid out as the Noise transport messages that will carry it: each message is a 2-byte
/// length, at most `ProtocolLimits.maxNoisePlaintext` bytes of plaintext and room for its 16-byte tag.
/// Appending copies bytes in; `seal` encrypts every message in place and hands over the wire bytes, so a
/// flush costs one AES-GCM pass per 64 KiB whatever the number of writes.
struct NoiseOutputBuffer {
    private var buffer: ByteBuffer?
    /// Where the length prefix of each message after the first is (the first is at 0); the last message is the
    /// one being filled. Empty, and so not allocated, while everything fits in one message.
    private var laterMessageStarts: [Int] = []
    /// The writer index at which the message being filled is full.
    private var openMessageEnd = 0

    /// Bytes the last sealed buffer held: the next one starts that large (within bounds), so a connection that
    /// receives a lot seldom grows its buffer and an idle one does not hold a large one.
    private var lastSealedCount = 0
    /// The last sealed buffer, if its capacity is at most `spareLimit`, whose storage the next `start` takes back
    /// (within twice the size it wants): a connection that keeps receiving a message at a time allocates nothing per
    /// flush. It allocates anew only while the channel still holds that write, not yet sent in full. Larger buffers
    /// carry enough messages that their allocation does not count, and are not kept past their write.
    private var spare: ByteBuffer?
    private static let spareLimit = 4096
    private static let capacityBounds = 256...(256 * 1024)

    /// Appends a copy of `bytes`.
    mutating func append(_ bytes: ByteBuffer, allocator: ByteBufferAllocator) {
        bytes.withUnsafeReadableBytes { append($0, allocator: allocator) }
    }

    /// Appends a copy of `bytes`, cut into further messages where the one being filled is full.
    mutating func append(_ bytes: UnsafeRawBufferPointer, allocator: ByteBufferAllocator) {
        if buffer == nil { start(capacity: bytes.count, allocator: allocator) }
        var rest = bytes
        while rest.count > room {
            let head = room
            write(UnsafeRawBufferPointer(rebasing: rest[..<head]))
            rest = UnsafeRawBufferPointer(rebasing: rest[head...])
            startMessage()
        }
        write(rest)
    }

    /// Appends a copy of `first`, then of `second` (a delivery's shared part and its wrap): one raw copy of each
    /// when both fit in the message being filled, the common case.
    mutating func append(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, allocator: ByteBufferAllocator) {
        if buffer == nil { start(capacity: first.count + second.count, allocator: allocator) }
        let count = first.count + second.count
        guard count <= room else {
            append(first, allocator: allocator)
            append(second, allocator: allocator)
            return
        }
        buffer!.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { out in
            out.copyMemory(from: first)
            UnsafeMutableRawBufferPointer(rebasing: out[first.count...]).copyMemory(from: second)
            return count
        }
    }

    /// Copies `bytes`, which fit in the message being filled, to the end of the buffer.
    private mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        buffer!.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count) { out in
            out.copyMemory(from: bytes)
            return bytes.count
        }
    }

    /// Lets `encode` write straight into the buffer. If it wrote past the end of the message being filled, the
    /// overflow is taken out once and appended again, which cuts it into further messages.
    mutating func append(allocator: ByteBufferAllocator, encoding encode: (inout ByteBuffer) -> Void) {
        if buffer == nil { start(capacity: 64, allocator: allocator) }
        encode(&buffer!)
        guard room < 0 else { return }
        let cut = openMessageEnd
        var overflow = allocator.buffer(capacity: buffer!.writerIndex - cut)
        overflow.writeImmutableBuffer(buffer!.getSlice(at: cut, length: buffer!.writerIndex - cut)!)
        buffer!.moveWriterIndex(to: cut)
        startMessage()
        append(overflow, allocator: allocator)
    }

    /// Encrypts every message in place with `cipher` and returns the wire bytes (nil if nothing was appended);
    /// the buffer is empty afterwards.
    mutating func seal(with cipher: inout NoiseCipherState) throws -> ByteBuffer? {
        guard var out = buffer else { return nil }
        buffer = nil
        defer { laterMessageStarts.removeAll(keepingCapacity: true) }
        let openStart = laterMessageStarts.last ?? 0
        if out.writerIndex == openStart + 2 {
            // The message being filled is empty: drop its length prefix.
            out.moveWriterIndex(to: openStart)
            if !laterMessageStarts.isEmpty { laterMessageStarts.removeLast() }
        } else {
            out.writeRepeatingByte(0, count: AESGCMKey.tagCount)
        }
        guard out.readableBytes > 0 else { return nil }
        for index in 0...laterMessageStarts.count {
            let start = index == 0 ? 0 : laterMessageStarts[index - 1]
            let end = index < laterMessageStarts.count ? laterMessageStarts[index] : out.writerIndex
            let plaintextCount = end - start - 2 - AESGCMKey.tagCount
            var sealer = try cipher.streamingSealer()
            try out.withUnsafeMutableReadableBytes { bytes in
                let plaintext = UnsafeMutableRawBufferPointer(rebasing: bytes[(start + 2)..<(start + 2 + plaintextCount)])
                _ = try sealer.update(UnsafeRawBufferPointer(plaintext), into: plaintext)
                try sealer.finish(tagInto: UnsafeMutableRawBufferPointer(rebasing: bytes[(start + 2 + plaintextCount)..<end]))
            }
            out.setInteger(UInt16(plaintextCount + AESGCMKey.tagCount), at: start)
        }
        lastSealedCount = out.readableBytes
        spare = out.capacity <= Self.spareLimit ? out : nil
        return out
    }

    /// Frees the storage of the last sealed buffer, which an idle connection need not keep.
    mutating func releaseSpare() {
        spare = nil
    }

    /// Plaintext bytes that still fit in the message being filled (negative if an encoder overran it).
    private var room: Int { openMessageEnd - buffer!.writerIndex }

    /// Takes back the spare buffer, or allocates one, and opens its first message.
    private mutating func start(capacity: Int, allocator: ByteBufferAllocator) {
        let expected = min(max(lastSealedCount, Self.capacityBounds.lowerBound), Self.capacityBounds.upperBound)
        let wanted = max(expected, capacity + 2 + AESGCMKey.tagCount)
        if var reused = spare.take(), (wanted...(2 * wanted)).contains(reused.capacity) {
            reused.clear() // copies nothing; allocates only if the channel still holds the storage
            buffer = reused
        } else {
            buffer = allocator.buffer(capacity: wanted)
        }
        openMessage()
    }

    /// Closes the message being filled (leaving room for its tag) and starts the next one.
    private mutating func startMessage() {
        buffer!.writeRepeatingByte(0, count: AESGCMKey.tagCount)
        laterMessageStarts.append(buffer!.writerIndex)
        openMessage()
    }

    /// Writes the length placeholder of a new message at the end of the buffer.
    private mutating func openMessage() {
        buffer!.writeInteger(UInt16(0))
        openMessageEnd = buffer!.writerIndex + ProtocolLimits.maxNoisePlaintext
    }
}
