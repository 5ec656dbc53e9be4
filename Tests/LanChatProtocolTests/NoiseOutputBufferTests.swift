import Glibc
import LanChatCrypto
@testable import LanChatProtocol
@_spi(CustomByteBufferAllocator) import NIOCore
import Testing

/// Storage allocations (and growths) of buffers made by `countingAllocator`, which only this suite uses.
nonisolated(unsafe) private var storageAllocations = 0

private let countingAllocator = ByteBufferAllocator(
    allocate: { size in
        storageAllocations += 1
        return malloc(size)
    },
    reallocate: { pointer, _, newSize in
        storageAllocations += 1
        return realloc(pointer, newSize)
    },
    deallocate: { free($0) },
    copy: { $0.copyMemory(from: $1, byteCount: $2) }
)

@Suite("Noise output buffer", .serialized)
struct NoiseOutputBufferTests {
    /// An output buffer and the cipher that seals it.
    private struct Sender {
        var output = NoiseOutputBuffer()
        var cipher = try! NoiseCipherState(key: SecretBytes(Array(repeating: 9, count: 32)))

        /// Appends `count` bytes and seals them: the wire bytes of one flush.
        mutating func flush(_ count: Int) throws -> ByteBuffer {
            Array(repeating: UInt8(7), count: count).withUnsafeBytes { output.append($0, allocator: countingAllocator) }
            return try #require(try output.seal(with: &cipher))
        }
    }

    @Test("a flush reuses the storage of the last once nothing else holds it, up to 4 KiB, and not after a release")
    func storageReuse() throws {
        var sender = Sender()
        storageAllocations = 0
        _ = try sender.flush(300)
        _ = try sender.flush(300)
        #expect(storageAllocations == 1, "the second flush writes into the first one's storage")

        let held = try sender.flush(300)
        let heldBytes = Array(held.readableBytesView)
        _ = try sender.flush(300)
        #expect(storageAllocations == 2, "a write still held gets new storage")
        #expect(Array(held.readableBytesView) == heldBytes, "and is left intact")

        sender.output.releaseSpare()
        _ = try sender.flush(300)
        #expect(storageAllocations == 3, "released: nothing to reuse")

        _ = try sender.flush(10_000)
        let beforeLarge = storageAllocations
        _ = try sender.flush(10_000)
        #expect(storageAllocations == beforeLarge + 1, "a buffer over 4 KiB is not kept")
    }
}
