@testable import LanChatServer
import NIOCore
import Testing

@Suite("The relay's read buffer sizes")
struct CompactRecvAllocatorTests {
    /// Reads that fill the buffer for a while, then fall short of half of it for a while, at random lengths.
    private struct Reads: IteratorProtocol {
        private var state: UInt64 = 0x9E37_79B9_7F4A_7C15

        private mutating func random() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        /// A read's length for a buffer of `size` bytes, in a phase that grows (`filling`) or shrinks the buffer.
        mutating func length(for size: Int, filling: Bool) -> Int {
            let roll = Int(random() % 100)
            if filling { return roll < 80 ? size : Int(random() % UInt64(size + 1)) }
            return roll < 80 ? Int(random() % UInt64(size / 2 + 1)) : Int(random() % UInt64(size + 1))
        }

        mutating func next() -> Bool? { random() % 500 == 0 }
    }

    @Test("asks for the same buffer as NIO's adaptive allocator after every read, growing to the maximum and back to the minimum",
          arguments: [(64, 128, 1 << 20), (100, 3000, 5000), (2, 2, 1 << 22)])
    func matchesAdaptive(bounds: (minimum: Int, initial: Int, maximum: Int)) {
        var compact = CompactRecvAllocator(minimum: bounds.minimum, initial: bounds.initial, maximum: bounds.maximum)
        var adaptive = AdaptiveRecvByteBufferAllocator(minimum: bounds.minimum, initial: bounds.initial, maximum: bounds.maximum)
        var reads = Reads()
        var filling = true
        var sizes = Set<Int>()
        for step in 0..<50_000 {
            let size = adaptive.nextBufferSize()!
            guard compact.nextBufferSize() == size else {
                Issue.record("step \(step): \(compact.nextBufferSize() ?? -1) bytes, NIO's allocator asks for \(size)")
                return
            }
            sizes.insert(size)
            if size == adaptive.maximum || size == adaptive.minimum { filling = size != adaptive.maximum } else if reads.next()! { filling.toggle() }
            let read = reads.length(for: size, filling: filling)
            #expect(compact.record(actualReadBytes: read) == adaptive.record(actualReadBytes: read), "step \(step), \(read) of \(size) bytes")
        }
        #expect(sizes.contains(adaptive.maximum) && sizes.contains(adaptive.minimum), "the run reached \(sizes.sorted())")
        #expect(compact.buffer(allocator: ByteBufferAllocator()).capacity == adaptive.buffer(allocator: ByteBufferAllocator()).capacity)
    }

    @Test("fits in a channel option's existential inline: no box copied per connection")
    func inline() {
        #expect(MemoryLayout<CompactRecvAllocator>.size <= 3 * MemoryLayout<Int>.size)
        #expect(MemoryLayout<AdaptiveRecvByteBufferAllocator>.size > 3 * MemoryLayout<Int>.size, "NIO's own would fit now: use it")
    }
}
