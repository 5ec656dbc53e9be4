import LanChatProtocol
import NIOCore
import Testing

@Suite("Frame encoding and decoding")
struct FrameCodecTests {
    // MARK: Round trips

    @Test("every frame survives encode then decode", arguments: FrameSamples.all)
    func roundTrip(frame: Frame) throws {
        var wire = frame.encoded()
        #expect(wire.getInteger(at: 0, as: UInt32.self) == UInt32(wire.readableBytes - 4))
        #expect(wire.getInteger(at: 4, as: UInt8.self) == frame.kind.rawValue)
        #expect(try FrameDecoder().nextFrame(&wire) == frame)
        #expect(wire.readableBytes == 0)
    }

    @Test("hello encodes byte for byte as in the protocol document's worked example (§14.3), flags included")
    func helloMatchesWorkedExample() throws {
        let wire = Frame.hello(Hello(name: "alice", clientVersion: "lanchat 0.1.0")).encoded()
        #expect(Array(wire.readableBytesView) == hexBytes("00000018" + "01" + "0001" + "05616c696365" + "0d6c616e6368617420302e312e30" + "01"))
        let quiet = Frame.hello(Hello(name: "alice", clientVersion: "lanchat 0.1.0", wantsPresence: false)).encoded()
        #expect(quiet.getInteger(at: quiet.writerIndex - 1, as: UInt8.self) == 0)
        let sender = Frame.hello(Hello(name: "alice", clientVersion: "lanchat 0.1.0", sendsOnly: true)).encoded()
        #expect(sender.getInteger(at: sender.writerIndex - 1, as: UInt8.self) == 0x03)
        let acknowledging = Frame.hello(Hello(name: "alice", clientVersion: "lanchat 0.1.0", acknowledgesLive: true)).encoded()
        #expect(acknowledging.getInteger(at: acknowledging.writerIndex - 1, as: UInt8.self) == 0x05)
    }

    @Test("an error code this side does not know decodes as .unknown")
    func unknownErrorCode() throws {
        var wire = FrameSamples.rawFrame(type: Frame.Kind.error.rawValue) {
            $0.writeInteger(UInt32(42))
            $0.writeInteger(UInt16(999))
            $0.writeInteger(UInt16(5))
            $0.writeString("newer")
        }
        #expect(try FrameDecoder().nextFrame(&wire) == .error(ErrorFrame(requestID: 42, code: .unknown, reason: "newer")))
    }

    @Test(
        "a reason longer than 65535 bytes is cut to a valid UTF-8 prefix of at most 65535 bytes",
        arguments: [
            (70_000, "", 65_535),
            // The cut falls inside the last character: the whole character must go.
            (65_534, "é", 65_534),
            (65_533, "🦊", 65_533),
        ]
    )
    func longReasonIsCut(asciiCount: Int, tail: String, keptCount: Int) throws {
        let reason = String(repeating: "a", count: asciiCount) + tail
        let kept = String(repeating: "a", count: keptCount)
        for (frame, cut) in [(Frame.bye(reason), Frame.bye(kept)),
                             (.error(ErrorFrame(code: .internalError, reason: reason)), .error(ErrorFrame(code: .internalError, reason: kept)))] {
            var wire = frame.encoded()
            #expect(try FrameDecoder().nextFrame(&wire) == cut)
        }
    }

    // MARK: Fan-out encoding

    @Test(
        "DeliveryEncoding.shared followed by the wrap is byte for byte the deliver frame",
        arguments: [(48, 300, ProtocolLimits.wrapLength), (0, 0, 0), (ProtocolLimits.maxHeaderLength, 70_000, ProtocolLimits.wrapLength)]
    )
    func deliveryEncodingMatchesDeliverFrame(headerLength: Int, bodyLength: Int, wrapLength: Int) {
        let header = FrameSamples.bytes(headerLength, seed: 1)
        let body = FrameSamples.bytes(bodyLength, seed: 2)
        let allocator = ByteBufferAllocator()
        let encoding = DeliveryEncoding(header: header, body: body, wrapLength: wrapLength, allocator: allocator)
        // One shared part, reused for every recipient's wrap.
        for seed: UInt8 in [3, 4] {
            let wrap = FrameSamples.bytes(wrapLength, seed: seed)
            var combined = encoding.shared
            combined.writeImmutableBuffer(wrap)
            #expect(combined == Frame.deliver(Deliver(header: header, body: body, wrap: wrap)).encoded())
        }
    }

    // MARK: Malformed input

    @Test("malformed input throws a specific ProtocolError", arguments: MalformedInput.all)
    func malformedInput(_ input: MalformedInput) {
        var wire = input.wire
        #expect(throws: input.error) { try FrameDecoder().nextFrame(&wire) }
    }

    @Test("a length prefix above maxFrameLength throws once its 4 bytes are in, without waiting for the body")
    func oversizedLengthPrefix() throws {
        let decoder = FrameDecoder(maxFrameLength: 64)
        var partial = ByteBuffer(bytes: [0, 0, 0])
        #expect(try decoder.nextFrame(&partial) == nil)
        var prefixOnly = ByteBuffer(integer: UInt32(65))
        #expect(throws: ProtocolError.frameTooLarge(length: 65, limit: 64)) { try decoder.nextFrame(&prefixOnly) }
        var huge = ByteBuffer(integer: UInt32.max)
        #expect(throws: ProtocolError.frameTooLarge(length: Int(UInt32.max), limit: ProtocolLimits.defaultMaxFrameLength)) {
            try FrameDecoder().nextFrame(&huge)
        }
    }

    @Test("a frame of exactly maxFrameLength is accepted, and waits for its whole body")
    func frameAtTheLimit() throws {
        // Type byte, u16 length and 61 bytes of reason: 64 bytes.
        let frame = Frame.bye(String(repeating: "z", count: 61))
        let wire = frame.encoded()
        #expect(wire.getInteger(at: 0, as: UInt32.self) == 64)
        let decoder = FrameDecoder(maxFrameLength: 64)
        var allButLast = wire.getSlice(at: 0, length: wire.readableBytes - 1)!
        #expect(try decoder.nextFrame(&allButLast) == nil)
        #expect(allButLast.readableBytes == wire.readableBytes - 1)
        var whole = wire
        #expect(try decoder.nextFrame(&whole) == frame)
    }
}

/// Bytes the decoder must refuse, and the error it must give.
struct MalformedInput: Sendable, CustomTestStringConvertible {
    let label: String
    let wire: ByteBuffer
    let error: ProtocolError

    var testDescription: String { label }

    /// A `hello` from user "a" with the flags byte `flags`.
    private static func hello(flags: UInt8) -> ByteBuffer {
        FrameSamples.rawFrame(type: Frame.Kind.hello.rawValue) {
            $0.writeInteger(UInt16(1))
            $0.writeInteger(UInt8(1))
            $0.writeString("a")
            $0.writeInteger(UInt8(0))
            $0.writeInteger(flags)
        }
    }

    static let all: [MalformedInput] = [
        MalformedInput(label: "unknown type byte", wire: FrameSamples.rawFrame(type: 0x10), error: .unknownFrameType(0x10)),
        MalformedInput(label: "type byte zero", wire: FrameSamples.rawFrame(type: 0x00), error: .unknownFrameType(0x00)),
        MalformedInput(
            label: "undefined flag bits",
            wire: FrameSamples.rawFrame(type: Frame.Kind.deliver.rawValue) { $0.writeInteger(UInt8(0x82)) },
            error: .malformedFrame("unknown bits in deliver flags")
        ),
        MalformedInput(label: "reserved hello flag bits", wire: hello(flags: 0x81), error: .malformedFrame("unknown bits in hello flags")),
        MalformedInput(label: "hello flag bit 3", wire: hello(flags: 0x0F), error: .malformedFrame("unknown bits in hello flags")),
        MalformedInput(
            label: "truncated integer",
            wire: FrameSamples.rawFrame(type: Frame.Kind.ping.rawValue) { $0.writeInteger(UInt32(1)) },
            error: .malformedFrame("truncated ping nonce")
        ),
        MalformedInput(
            label: "truncated name",
            wire: FrameSamples.rawFrame(type: Frame.Kind.lookup.rawValue) {
                $0.writeInteger(UInt32(1))
                $0.writeInteger(UInt8(10))
                $0.writeString("bob")
            },
            error: .malformedFrame("truncated name")
        ),
        MalformedInput(
            label: "truncated key",
            wire: FrameSamples.rawFrame(type: Frame.Kind.lookupResult.rawValue) {
                $0.writeInteger(UInt32(1))
                $0.writeInteger(UInt8(3))
                $0.writeString("bob")
                $0.writeInteger(LookupResult.Status.online.rawValue)
                $0.writeBytes(FrameSamples.key(1).dropLast())
            },
            error: .malformedFrame("truncated key")
        ),
        MalformedInput(
            label: "truncated body",
            wire: FrameSamples.rawFrame(type: Frame.Kind.deliver.rawValue) {
                $0.writeInteger(UInt8(0))
                $0.writeInteger(UInt16(0))
                $0.writeInteger(UInt32(100))
                $0.writeBytes([1, 2, 3])
            },
            error: .malformedFrame("truncated body")
        ),
        MalformedInput(
            label: "bad UTF-8 in a name",
            wire: FrameSamples.rawFrame(type: Frame.Kind.hello.rawValue) {
                $0.writeInteger(ProtocolLimits.protocolVersion)
                $0.writeInteger(UInt8(2))
                $0.writeBytes([0xC3, 0x28])
                $0.writeInteger(UInt8(0))
            },
            error: .malformedFrame("name is not valid UTF-8")
        ),
        MalformedInput(
            label: "bad UTF-8 in a directory entry",
            wire: FrameSamples.rawFrame(type: Frame.Kind.presence.rawValue) {
                $0.writeInteger(Presence.Event.joined.rawValue)
                $0.writeInteger(UInt8(1))
                $0.writeInteger(UInt8(0xFF))
                $0.writeBytes(FrameSamples.key(1))
            },
            error: .malformedFrame("user name is not valid UTF-8")
        ),
        MalformedInput(
            label: "trailing bytes",
            wire: FrameSamples.rawFrame(type: Frame.Kind.pong.rawValue) {
                $0.writeInteger(UInt64(1))
                $0.writeInteger(UInt8(0))
            },
            error: .malformedFrame("1 unexpected bytes after a pong frame")
        ),
        MalformedInput(
            label: "key after a lookup result with status unknown",
            wire: FrameSamples.rawFrame(type: Frame.Kind.lookupResult.rawValue) {
                $0.writeInteger(UInt32(1))
                $0.writeInteger(UInt8(0))
                $0.writeInteger(LookupResult.Status.unknown.rawValue)
                $0.writeBytes(FrameSamples.key(1))
            },
            error: .malformedFrame("32 unexpected bytes after a lookupResult frame")
        ),
        MalformedInput(label: "zero length", wire: ByteBuffer(integer: UInt32(0)), error: .malformedFrame("empty frame")),
        MalformedInput(
            label: "unknown presence event",
            wire: FrameSamples.rawFrame(type: Frame.Kind.presence.rawValue) {
                $0.writeInteger(UInt8(3))
                $0.writeInteger(UInt8(3))
                $0.writeString("bob")
                $0.writeBytes(FrameSamples.key(1))
            },
            error: .malformedFrame("unknown presence event 3")
        ),
        MalformedInput(
            label: "unknown lookup status",
            wire: FrameSamples.rawFrame(type: Frame.Kind.lookupResult.rawValue) {
                $0.writeInteger(UInt32(1))
                $0.writeInteger(UInt8(0))
                $0.writeInteger(UInt8(7))
            },
            error: .malformedFrame("unknown lookup status 7")
        ),
    ]
}

/// Bytes from a hex string (test data only).
private func hexBytes(_ hex: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        bytes.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}
