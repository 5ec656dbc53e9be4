import LanChatProtocol
import NIOCore
import Testing

@Suite("A send frame read in place")
struct SendViewTests {
    static let samples: [Send] = [
        Send(requestID: 7, header: FrameSamples.bytes(48), body: FrameSamples.bytes(300, seed: 1), wraps: [
            Send.Wrap(recipient: "bob", wrap: FrameSamples.bytes(ProtocolLimits.wrapLength, seed: 2)),
            Send.Wrap(recipient: FrameSamples.longestName, wrap: FrameSamples.bytes(ProtocolLimits.wrapLength, seed: 3)),
            Send.Wrap(recipient: "zoë", wrap: FrameSamples.bytes(5, seed: 4)),
        ]),
        Send(requestID: UInt32.max, storeForOffline: true, header: FrameSamples.bytes(48, seed: 5), body: FrameSamples.bytes(20, seed: 6), wraps: [
            Send.Wrap(recipient: "carol", wrap: FrameSamples.bytes(ProtocolLimits.wrapLength, seed: 7)),
        ]),
        Send(requestID: 0, header: ByteBuffer(), body: ByteBuffer(), wraps: []),
    ]

    /// The frame's bytes as the relay gets them: type byte first, no length prefix.
    static func body(of send: Send) -> ByteBuffer {
        var wire = Frame.send(send).encoded()
        wire.moveReaderIndex(forwardBy: 4)
        return wire
    }

    @Test("its positions index exactly the fields of the frame, and it decodes to the send that was encoded", arguments: samples)
    func fieldsMatch(send: Send) throws {
        let view = try SendView(decoding: Self.body(of: send))
        #expect(view.requestID == send.requestID)
        #expect(view.storeForOffline == send.storeForOffline)
        #expect(view.recipients.count == send.wraps.count)
        view.withUnsafeBytes { frame in
            #expect(Array(frame[view.header]) == Array(send.header.readableBytesView))
            #expect(Array(frame[view.body]) == Array(send.body.readableBytesView))
            for (recipient, wrap) in zip(view.recipients, send.wraps) {
                #expect(Array(frame[recipient.name]) == Array(wrap.recipient.utf8))
                #expect(Array(frame[recipient.wrap]) == Array(wrap.wrap.readableBytesView))
            }
        }
        #expect(view.headerBuffer == send.header && view.bodyBuffer == send.body)
        #expect(view.recipients.indices.map(view.recipientName(at:)) == send.wraps.map(\.recipient))
        #expect(view.send == send)
    }

    @Test("a frame that is not at the start of its buffer is read from where it starts")
    func readsFromTheReaderIndex() throws {
        let send = Self.samples[1]
        var buffer = ByteBuffer(bytes: [9, 9, 9])
        buffer.writeImmutableBuffer(Self.body(of: send))
        buffer.moveReaderIndex(forwardBy: 3)
        #expect(try SendView(decoding: buffer).send == send)
    }

    @Test("every truncation throws, naming the field that was cut")
    func truncations() throws {
        let whole = Self.body(of: Self.samples[0])
        for length in 1..<whole.readableBytes {
            let cut = whole.getSlice(at: whole.readerIndex, length: length)!
            let error = #expect(throws: ProtocolError.self) { try SendView(decoding: cut) }
            guard let error, case let .malformedFrame(why) = error else {
                Issue.record("cut at \(length): \(String(describing: error))")
                continue
            }
            #expect(why.hasPrefix("truncated "), "cut at \(length): \(why)")
        }
    }

    enum Damage: String, CaseIterable, Sendable {
        case unknownFlagBits, trailingBytes, anotherFrameType

        func apply(to bytes: inout [UInt8]) {
            switch self {
            case .unknownFlagBits: bytes[5] = 2
            case .trailingBytes: bytes += [1, 2, 3]
            case .anotherFrameType: bytes[0] = Frame.Kind.deliver.rawValue
            }
        }

        var error: ProtocolError {
            switch self {
            case .unknownFlagBits: .malformedFrame("unknown bits in send flags")
            case .trailingBytes: .malformedFrame("3 unexpected bytes after a send frame")
            case .anotherFrameType: .malformedFrame("not a send frame")
            }
        }
    }

    @Test("a malformed send throws a specific error", arguments: Damage.allCases)
    func malformed(damage: Damage) {
        var bytes = Array(Self.body(of: Self.samples[1]).readableBytesView)
        damage.apply(to: &bytes)
        #expect(throws: damage.error) { try SendView(decoding: ByteBuffer(bytes: bytes)) }
    }

    @Test("a recipient name that is not UTF-8 is refused")
    func invalidName() {
        var bytes = Array(Self.body(of: Self.samples[1]).readableBytesView)
        // The name "carol" follows the type, request id, flags, header, body and wrap count.
        let nameStart = 1 + 4 + 1 + 2 + 48 + 4 + 20 + 2 + 1
        #expect(Array(bytes[nameStart..<nameStart + 5]) == Array("carol".utf8))
        bytes[nameStart + 1] = 0xC3
        bytes[nameStart + 2] = 0x28
        #expect(throws: ProtocolError.malformedFrame("recipient is not valid UTF-8")) { try SendView(decoding: ByteBuffer(bytes: bytes)) }
    }

    @Test("the deliver frame encoded from raw parts is byte for byte the deliver frame")
    func deliverFromRawParts() {
        let header = FrameSamples.bytes(48), body = FrameSamples.bytes(300, seed: 1), wrap = FrameSamples.bytes(ProtocolLimits.wrapLength, seed: 2)
        for stored in [false, true] {
            var out = ByteBuffer()
            header.withUnsafeReadableBytes { header in
                body.withUnsafeReadableBytes { body in
                    wrap.withUnsafeReadableBytes { Deliver.encodeFrame(stored: stored, header: header, body: body, wrap: $0, into: &out) }
                }
            }
            #expect(out == Frame.deliver(Deliver(stored: stored, header: header, body: body, wrap: wrap)).encoded())
        }
    }
}
