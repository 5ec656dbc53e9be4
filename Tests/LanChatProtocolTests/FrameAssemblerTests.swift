import LanChatProtocol
import NIOCore
import Testing

@Suite("FrameAssembler: frames cut out of a stream of pieces")
struct FrameAssemblerTests {
    /// Feeds `pieces` one after another and collects every frame that completes.
    private func assemble(_ pieces: [ByteBuffer], maxFrameLength: Int = ProtocolLimits.defaultMaxFrameLength) throws -> [Frame] {
        var assembler = FrameAssembler(maxFrameLength: maxFrameLength)
        var frames: [Frame] = []
        for piece in pieces {
            assembler.append(piece)
            while let frame = try assembler.next() { frames.append(frame) }
        }
        return frames
    }

    /// `stream` cut into pieces of 1…`longest` bytes, their lengths a fixed scramble of `seed` and the piece's index.
    private func pieces(of stream: ByteBuffer, longest: Int, seed: Int) -> [ByteBuffer] {
        var stream = stream
        var pieces: [ByteBuffer] = []
        while stream.readableBytes > 0 {
            let scrambled = UInt(bitPattern: (pieces.count &+ 1) &* 2_654_435_761 &+ seed &* 40_503)
            let length = min(stream.readableBytes, 1 + Int(scrambled % UInt(longest)))
            pieces.append(stream.readSlice(length: length)!)
        }
        return pieces
    }

    @Test("every frame comes out once and in order, however the stream is cut", arguments: [1, 7, 300, 70_000])
    func anyCuts(longest: Int) throws {
        let stream = FrameSamples.concatenated(FrameSamples.all)
        for seed in 1...20 {
            #expect(try assemble(pieces(of: stream, longest: longest, seed: seed)) == FrameSamples.all, "seed \(seed)")
        }
    }

    @Test("a frame fed one byte at a time comes out after its last byte, and nothing is left over")
    func oneByteAtATime() throws {
        var assembler = FrameAssembler()
        let bytes = Array(FrameSamples.largest.encoded().readableBytesView)
        for byte in bytes.dropLast() {
            assembler.append(ByteBuffer(bytes: [byte]))
            #expect(try assembler.next() == nil)
        }
        assembler.append(ByteBuffer(bytes: [bytes.last!]))
        #expect(try assembler.next() == FrameSamples.largest)
        #expect(try assembler.next() == nil)
    }

    @Test("an oversized length is refused as soon as it arrives, before the frame's body")
    func oversizedLength() throws {
        var assembler = FrameAssembler(maxFrameLength: 1000)
        var header = ByteBuffer()
        header.writeInteger(UInt32(1001))
        assembler.append(header)
        #expect(throws: ProtocolError.frameTooLarge(length: 1001, limit: 1000)) { try assembler.next() }
        // The stream is not read past the refusal, whatever follows.
        assembler.append(FrameSamples.concatenated([.ping(1)]))
        #expect(throws: ProtocolError.frameTooLarge(length: 1001, limit: 1000)) { try assembler.next() }
    }

    @Test("frames before a malformed one come out; the malformed one throws")
    func malformedAfterGoodFrames() throws {
        var assembler = FrameAssembler()
        var wire = FrameSamples.concatenated([.ping(7), .pong(8)])
        var unknownType = FrameSamples.rawFrame(type: 0xEE)
        wire.writeBuffer(&unknownType)
        assembler.append(wire)
        #expect(try assembler.next() == .ping(7))
        #expect(try assembler.next() == .pong(8))
        #expect(throws: ProtocolError.unknownFrameType(0xEE)) { try assembler.next() }
        assembler.append(FrameSamples.concatenated([.ping(9)]))
        #expect(throws: ProtocolError.unknownFrameType(0xEE)) { try assembler.next() }
    }

    @Test("empty pieces (a Noise message with no plaintext) change nothing")
    func emptyPieces() throws {
        var assembler = FrameAssembler()
        assembler.append(ByteBuffer())
        #expect(try assembler.next() == nil)
        var wire = FrameSamples.concatenated([.ping(3)])
        assembler.append(wire.readSlice(length: 2)!)
        assembler.append(ByteBuffer())
        assembler.append(wire)
        #expect(try assembler.next() == .ping(3))
        #expect(try assembler.next() == nil)
    }
}
