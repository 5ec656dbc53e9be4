@testable import LanChatClient
import LanChatProtocol
import NIOCore
import Testing

@Suite("Deliveries kept until the user accepts a changed key")
struct DeliveriesAwaitingKeyTests {
    private func delivery(_ tag: UInt8, bodyBytes: Int) -> Deliver {
        Deliver(stored: true, header: ByteBuffer(bytes: [tag]), body: ByteBuffer(repeating: tag, count: bodyBytes), wrap: ByteBuffer(bytes: [tag, tag]))
    }

    @Test("each sender's deliveries come back once, oldest first, as compact copies")
    func takenPerSender() {
        var kept = DeliveriesAwaitingKey()
        var reading = ByteBuffer(repeating: 9, count: 10_000)
        let slice = reading.readSlice(length: 10)!
        kept.keep(Deliver(header: slice, body: slice, wrap: slice), from: "bob")
        kept.keep(delivery(1, bodyBytes: 10), from: "carol")
        kept.keep(delivery(2, bodyBytes: 10), from: "bob")
        let bobs = kept.take(from: "bob")
        #expect(bobs.map { $0.header.readableBytesView.first } == [9, 2])
        #expect(bobs[0].body.capacity < 10_000, "a copy, not a slice that keeps the whole read buffer")
        #expect(kept.take(from: "bob").isEmpty)
        #expect(kept.take(from: "carol").map { $0.header.readableBytesView.first } == [1])
    }

    @Test("past the byte limit the oldest are let go (stored ones stay on the server)")
    func boundedBytes() {
        var kept = DeliveriesAwaitingKey()
        let size = DeliveriesAwaitingKey.byteLimit / 4
        for tag in UInt8(0)..<6 { kept.keep(delivery(tag, bodyBytes: size), from: tag.isMultiple(of: 2) ? "bob" : "carol") }
        #expect(kept.take(from: "bob").map { $0.header.readableBytesView.first } == [4])
        #expect(kept.take(from: "carol").map { $0.header.readableBytesView.first } == [3, 5])
    }
}
