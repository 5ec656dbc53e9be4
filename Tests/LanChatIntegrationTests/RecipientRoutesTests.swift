import LanChatProtocol
@testable import LanChatServer
import NIOCore
import NIOEmbedded
import Testing

@Suite("A sender's resolved recipients")
struct RecipientRoutesTests {
    /// A `send` frame naming `names`, read as the relay reads it.
    private func send(to names: [String]) throws -> SendView {
        let wraps = names.map { Send.Wrap(recipient: $0, wrap: ByteBuffer(bytes: [1, 2, 3])) }
        var wire = Frame.send(Send(requestID: 1, header: ByteBuffer(), body: ByteBuffer(), wraps: wraps)).encoded()
        wire.moveReaderIndex(forwardBy: 4)
        return try SendView(decoding: wire)
    }

    @Test("the same names in the same order match, byte for byte, until the relay changes; any other list does not")
    func matching() throws {
        let relay = Relay(), loop = EmbeddedEventLoop()
        let routes = RecipientRoutes()
        let names = ["bob", "carol"]
        #expect(!routes.match(try send(to: names), generation: relay.generation), "nothing is resolved yet")
        routes.resolve(try send(to: names), names: names, relay: relay, loop: loop)
        #expect(routes.targets.count == 2 && !routes.anyoneOnline)

        #expect(routes.match(try send(to: names), generation: relay.generation))
        // The same bytes cut into other names, one byte changed, another order, fewer or more names.
        for other in [["bobc", "arol"], ["bob", "carom"], ["carol", "bob"], ["bob"], ["bob", "carol", "dave"], ["bob", "caro"], ["", "bobcarol"]] {
            #expect(!routes.match(try send(to: other), generation: relay.generation), "\(other)")
        }
        #expect(!routes.match(try send(to: names), generation: relay.generation + 1), "a registration or departure since")
    }
}
