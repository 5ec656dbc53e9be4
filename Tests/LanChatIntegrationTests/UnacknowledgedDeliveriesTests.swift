import LanChatCrypto
import LanChatProtocol
@testable import LanChatServer
import NIOCore
import Testing

@Suite("Live direct deliveries held until acknowledged")
struct UnacknowledgedDeliveriesTests {
    private let alice: PrivateKey
    private let bob: PrivateKey

    init() throws {
        alice = try PrivateKey()
        bob = try PrivateKey()
    }

    /// A direct message from alice to bob as the relay reads its `send` frame, and its message id.
    private func direct(_ text: String) throws -> (send: SendView, id: [UInt8]) {
        let envelope = try EnvelopeSealer(senderName: "alice", identity: alice).seal(
            MessageBytes.text(text), kind: .direct(recipient: "bob"), to: [EnvelopeRecipient(name: "bob", publicKey: bob.publicKey)]
        )
        var wire = Frame.send(Send(requestID: 1, header: ByteBuffer(bytes: envelope.header), body: ByteBuffer(bytes: envelope.body), wraps: envelope.wraps.map {
            Send.Wrap(recipient: $0.recipient, wrap: ByteBuffer(bytes: $0.wrap))
        })).encoded()
        wire.moveReaderIndex(forwardBy: 4)
        return (try SendView(decoding: wire), Array(envelope.header[EnvelopeRoutingFields.messageIDRange]))
    }

    /// The id that a `deliveryAck` for `messageID` names, as the relay reads it.
    private static func answer(_ messageID: [UInt8]) -> UnacknowledgedDeliveries.MessageID {
        var frame = Frame.deliveryAck(DeliveryAck(messageID: messageID)).encoded()
        frame.moveReaderIndex(forwardBy: 4)
        return UnacknowledgedDeliveries.MessageID(deliveryAck: frame)!
    }

    @Test("acknowledged ones, in order or not, are let go; the rest come back as stored deliver frames, oldest first, that bob can open")
    func heldAndTaken() throws {
        let held = UnacknowledgedDeliveries(byteLimit: 1 << 20)
        let messages = try (1...5).map { try direct("note \($0)") }
        for message in messages { #expect(held.hold(message.send)) }
        #expect(held.acknowledge(Self.answer(messages[0].id)))
        #expect(held.acknowledge(Self.answer(messages[2].id)), "out of order")
        #expect(!held.acknowledge(Self.answer(messages[2].id)), "twice")
        #expect(held.acknowledge(Self.answer(messages[1].id)))
        #expect(!held.acknowledge(Self.answer(try direct("never held").id)))
        #expect(!held.isEmpty)

        let taken = held.takeAll(for: "bob")
        #expect(held.isEmpty)
        #expect(taken.map(\.delivery.messageID) == [messages[3].id, messages[4].id])
        #expect(taken.allSatisfy { $0.delivery.recipient == "bob" && $0.delivery.sender == "alice" && $0.delivery.delivery == Array($0.frame.readableBytesView) })
        let opener = EnvelopeOpener(recipientName: "bob", identity: bob)
        for (index, entry) in taken.enumerated() {
            var frame = entry.frame
            frame.moveReaderIndex(forwardBy: 4)
            guard case let .deliver(deliver) = try Frame(decoding: &frame) else { Issue.record("not a deliver frame"); continue }
            #expect(deliver.stored)
            let opened = try opener.open(header: Array(deliver.header.readableBytesView), body: Array(deliver.body.readableBytesView), wrap: Array(deliver.wrap.readableBytesView))
            #expect(opened.plaintext == MessageBytes.text("note \(index + 4)"))
        }
    }

    @Test("all acknowledged in order leaves nothing; past the bytes nothing more is held, and only acknowledging the oldest makes room")
    func emptyingAndLimit() throws {
        let messages = try (1...3).map { try direct("m\($0)") }
        let probe = UnacknowledgedDeliveries(byteLimit: 1 << 20)
        #expect(probe.hold(messages[0].send))
        let frameSize = try #require(probe.takeAll(for: "bob").first).frame.readableBytes
        let held = UnacknowledgedDeliveries(byteLimit: 2 * frameSize)
        #expect(held.hold(messages[0].send) && held.hold(messages[1].send))
        #expect(!held.hold(messages[2].send), "over the bytes")
        #expect(!held.acknowledge(Self.answer(messages[2].id)))
        #expect(held.acknowledge(Self.answer(messages[1].id)))
        #expect(!held.hold(messages[2].send), "acknowledged out of order, its bytes are still kept behind the first")
        #expect(held.acknowledge(Self.answer(messages[0].id)))
        #expect(held.isEmpty && held.hold(messages[2].send))
        #expect(held.acknowledge(Self.answer(messages[2].id)) && held.isEmpty && held.takeAll(for: "bob").isEmpty)
    }

    @Test("with acknowledgements always one behind, or one message kept back for good, what is held stays small")
    func boundedUnderSteadyTraffic() throws {
        let messages = try (1...2000).map { try direct("steady \($0)") }
        let lagging = UnacknowledgedDeliveries(byteLimit: 1 << 30)
        for (index, message) in messages.enumerated() {
            #expect(lagging.hold(message.send))
            if index > 0 { #expect(lagging.acknowledge(Self.answer(messages[index - 1].id))) }
        }
        #expect(lagging.storageCapacity < 200_000, "\(lagging.storageCapacity) bytes for one held message")
        #expect(lagging.takeAll(for: "bob").map(\.delivery.messageID) == [messages[1999].id])

        let keptBack = UnacknowledgedDeliveries(byteLimit: 1 << 30)
        for message in messages { #expect(keptBack.hold(message.send)) }
        for message in messages.dropFirst() { #expect(keptBack.acknowledge(Self.answer(message.id))) }
        #expect(keptBack.storageCapacity < 40_000, "\(keptBack.storageCapacity) bytes for one held message")
        #expect(keptBack.takeAll(for: "bob").map(\.delivery.messageID) == [messages[0].id])
    }

    @Test("a deliveryAck frame's id is read in place, and only from a well-formed one")
    func deliveryAckInPlace() throws {
        let message = try direct("x")
        var frame = Frame.deliveryAck(DeliveryAck(messageID: message.id)).encoded()
        frame.moveReaderIndex(forwardBy: 4)
        let fromAck = try #require(UnacknowledgedDeliveries.MessageID(deliveryAck: frame))
        #expect(fromAck == UnacknowledgedDeliveries.MessageID(of: message.send), "the id the header gives")
        #expect(fromAck.high == message.id.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } && fromAck.low == message.id.suffix(8).reduce(0) { $0 << 8 | UInt64($1) })
        #expect(UnacknowledgedDeliveries.MessageID(deliveryAck: frame.getSlice(at: frame.readerIndex, length: 16)!) == nil)
    }
}
