import LanChatProtocol
import NIOCore

/// Deliveries whose sender's key changed, kept so that they can be shown once the user accepts the new key:
/// compact copies, at most `byteLimit` bytes in all (the oldest go first). Stored ones also stay on the
/// server until acknowledged, so what is let go here still arrives on a later connection.
struct DeliveriesAwaitingKey {
    static let byteLimit = 4 << 20

    private var kept: [(sender: String, deliver: Deliver)] = []
    private var bytes = 0

    mutating func keep(_ deliver: Deliver, from sender: String) {
        let copy = Deliver(stored: deliver.stored, header: Self.compact(deliver.header), body: Self.compact(deliver.body), wrap: Self.compact(deliver.wrap))
        kept.append((sender, copy))
        bytes += Self.size(of: copy)
        while bytes > Self.byteLimit, !kept.isEmpty { bytes -= Self.size(of: kept.removeFirst().deliver) }
    }

    /// The deliveries kept from `sender`, oldest first, which are no longer kept.
    mutating func take(from sender: String) -> [Deliver] {
        let taken = kept.filter { $0.sender == sender }.map(\.deliver)
        kept.removeAll { $0.sender == sender }
        bytes -= taken.reduce(0) { $0 + Self.size(of: $1) }
        return taken
    }

    /// The bytes alone, not the larger read buffer a decoded slice keeps alive.
    private static func compact(_ buffer: ByteBuffer) -> ByteBuffer {
        ByteBuffer(bytes: buffer.readableBytesView)
    }

    private static func size(of deliver: Deliver) -> Int {
        deliver.header.readableBytes + deliver.body.readableBytes + deliver.wrap.readableBytes
    }
}
