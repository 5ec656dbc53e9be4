import LanChatCrypto
import LanChatProtocol
import NIOCore

/// The live direct deliveries written to a connection whose client acknowledges them (`Hello.acknowledgesLive`)
/// and not acknowledged yet, oldest first. What is left when the connection ends is stored for the recipient,
/// so a client whose connection died unnoticed (a laptop gone to sleep) gets those messages when it is back.
final class UnacknowledgedDeliveries {
    /// A message id: the 16 bytes at `EnvelopeRoutingFields.messageIDRange` of the header, as two integers.
    struct MessageID: Equatable {
        let high: UInt64
        let low: UInt64

        /// The id in the header of `send`, read in place.
        init?(of send: SendView) {
            guard send.header.count >= EnvelopeRoutingFields.messageIDRange.upperBound else { return nil }
            self.init(send.frame, at: send.frame.readerIndex + send.header.lowerBound + EnvelopeRoutingFields.messageIDRange.lowerBound)
        }

        /// The id a `deliveryAck` frame (`body`: type byte, then the id) answers, read in place.
        init?(deliveryAck body: ByteBuffer) {
            guard body.readableBytes == 17, body.getInteger(at: body.readerIndex, as: UInt8.self) == Frame.Kind.deliveryAck.rawValue else { return nil }
            self.init(body, at: body.readerIndex + 1)
        }

        init(_ bytes: [UInt8]) {
            high = bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
            low = bytes.dropFirst(8).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
        }

        private init?(_ buffer: ByteBuffer, at offset: Int) {
            guard let high = buffer.getInteger(at: offset, as: UInt64.self), let low = buffer.getInteger(at: offset + 8, as: UInt64.self) else { return nil }
            self.high = high
            self.low = low
        }
    }

    /// Each delivery as the stored `deliver` frame it becomes if never acknowledged, one after another in one
    /// buffer: a copy, so that a held message does not keep the sender's whole read buffer alive, and no
    /// allocation per message.
    private var frames = ByteBuffer()
    /// The held deliveries' ids, in the order of `frames`, and whether each was acknowledged out of order.
    private var ids = CircularBuffer<(id: MessageID, acknowledged: Bool)>(initialCapacity: 4)
    private let limit: Int

    /// - Parameter limit: most deliveries held; a client that leaves more unacknowledged gets the rest unheld.
    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Holds a direct delivery, `send` with its one wrap, written to the connection.
    func hold(_ send: SendView) {
        guard ids.count < limit, let id = MessageID(of: send) else { return }
        send.withUnsafeBytes { frame in
            Deliver.encodeFrame(
                stored: true, header: UnsafeRawBufferPointer(rebasing: frame[send.header]), body: UnsafeRawBufferPointer(rebasing: frame[send.body]),
                wrap: UnsafeRawBufferPointer(rebasing: frame[send.recipients[0].wrap]), into: &frames
            )
        }
        ids.append((id, false))
    }

    /// Lets go of the delivery with `id`; false when none is held (a stored delivery's acknowledgement).
    func acknowledge(_ id: MessageID) -> Bool {
        // Acknowledgements come in order, unless the client keeps one back (a message it could not save yet).
        if ids.first?.id != id {
            guard let index = ids.firstIndex(where: { $0.id == id && !$0.acknowledged }) else { return false }
            ids[index].acknowledged = true
            return true
        }
        ids.removeFirst()
        dropFirstFrame()
        while ids.first?.acknowledged == true {
            ids.removeFirst()
            dropFirstFrame()
        }
        if ids.isEmpty { frames.clear() }
        return true
    }

    var isEmpty: Bool { ids.isEmpty }

    private func dropFirstFrame() {
        let length = frames.getInteger(at: frames.readerIndex, as: UInt32.self) ?? 0
        frames.moveReaderIndex(forwardBy: 4 + Int(length))
    }

    /// Everything still held, oldest first, as the stored `deliver` frames (with their length prefix) for
    /// `recipient`, emptying the list.
    func takeAll(for recipient: String) -> [(frame: ByteBuffer, delivery: ServerDatabase.PendingDelivery)] {
        var taken: [(frame: ByteBuffer, delivery: ServerDatabase.PendingDelivery)] = []
        for entry in ids {
            let length = Int(frames.getInteger(at: frames.readerIndex, as: UInt32.self) ?? 0)
            guard let frame = frames.readSlice(length: 4 + length) else { break }
            if !entry.acknowledged, let delivery = Self.pending(frame, for: recipient) { taken.append((frame, delivery)) }
        }
        ids.removeAll()
        frames = ByteBuffer()
        return taken
    }

    /// The row the database keeps for a stored `deliver` frame: length prefix, type, flags, header length, header.
    private static func pending(_ frame: ByteBuffer, for recipient: String) -> ServerDatabase.PendingDelivery? {
        let bytes = Array(frame.readableBytesView)
        guard bytes.count > 8, case let headerLength = Int(bytes[6]) << 8 | Int(bytes[7]), bytes.count >= 8 + headerLength else { return nil }
        let header = bytes[8..<8 + headerLength]
        return header.withUnsafeBytes { header in
            guard let fields = try? EnvelopeRoutingFields(parsing: header) else { return nil }
            return ServerDatabase.PendingDelivery(
                recipient: recipient, messageID: Array(header[EnvelopeRoutingFields.messageIDRange]),
                sender: String(decoding: UnsafeRawBufferPointer(rebasing: header[fields.senderName]), as: UTF8.self), delivery: bytes
            )
        }
    }
}
