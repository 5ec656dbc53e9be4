import LanChatProtocol
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite("FrameDecoder in a channel pipeline")
struct FrameDecoderChannelTests {
    private func makeChannel(maxFrameLength: Int = ProtocolLimits.defaultMaxFrameLength) -> EmbeddedChannel {
        EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameLength: maxFrameLength)))
    }

    @Test("decodes every frame however the bytes are split (ByteToMessageDecoderVerifier)")
    func verifier() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: FrameSamples.all.map { ($0.encoded(), [$0]) },
            decoderFactory: { FrameDecoder() }
        )
    }

    @Test("a frame fed one byte at a time comes out once, after its last byte")
    func oneByteAtATime() throws {
        let channel = makeChannel()
        let frame = FrameSamples.largest
        let bytes = Array(frame.encoded().readableBytesView)
        for byte in bytes.dropLast() {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            #expect(try channel.readInbound(as: Frame.self) == nil)
        }
        try channel.writeInbound(ByteBuffer(bytes: [bytes.last!]))
        #expect(try channel.readInbound(as: Frame.self) == frame)
        #expect(try channel.readInbound(as: Frame.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test("several frames in one read come out in order")
    func severalFramesInOneRead() throws {
        let channel = makeChannel()
        try channel.writeInbound(FrameSamples.concatenated(FrameSamples.all))
        for frame in FrameSamples.all {
            #expect(try channel.readInbound(as: Frame.self) == frame)
        }
        #expect(try channel.readInbound(as: Frame.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test("a read ending inside a frame keeps the partial frame for the next read")
    func readEndingMidFrame() throws {
        let channel = makeChannel()
        let first = Frame.ping(1), second = FrameSamples.largest
        var wire = FrameSamples.concatenated([first, second])
        let head = wire.readSlice(length: first.encoded().readableBytes + 10)!
        try channel.writeInbound(head)
        #expect(try channel.readInbound(as: Frame.self) == first)
        #expect(try channel.readInbound(as: Frame.self) == nil)
        try channel.writeInbound(wire)
        #expect(try channel.readInbound(as: Frame.self) == second)
        #expect(try channel.finish().isClean)
    }

    @Test("an oversized length prefix fails the pipeline as soon as its fourth byte arrives")
    func oversizedLengthPrefix() throws {
        let channel = makeChannel(maxFrameLength: 64)
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0]))
        #expect(throws: ProtocolError.frameTooLarge(length: 65, limit: 64)) {
            try channel.writeInbound(ByteBuffer(bytes: [65]))
        }
        #expect(try channel.readInbound(as: Frame.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test("a malformed frame fails the pipeline with its ProtocolError")
    func malformedFrame() throws {
        let channel = makeChannel()
        #expect(throws: ProtocolError.unknownFrameType(0x10)) {
            try channel.writeInbound(FrameSamples.rawFrame(type: 0x10))
        }
        #expect(try channel.readInbound(as: Frame.self) == nil)
        #expect(try channel.finish().isClean)
    }
}
