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
    /// The deliveries in `frames`, in order: id, frame length, and whether it was acknowledged out of order
    /// (its bytes stay until those before it go, or until `compact`).
    private var entries = CircularBuffer<(id: MessageID, length: UInt32, acknowledged: Bool)>(initialCapacity: 4)
    private var unacknowledgedBytes = 0
    /// Entries acknowledged out of order whose bytes are still in `frames`, and those bytes.
    private var acknowledgedBehind = 0
    private var acknowledgedBehindBytes = 0
    private let byteLimit: Int

    /// - Parameter byteLimit: most bytes of frames kept (the connection's outbound buffer limit: a client that
    ///   never acknowledges makes the relay keep no more for it than one that never reads). Past it, `hold`
    ///   refuses and the relay stores the message instead.
    init(byteLimit: Int) {
        self.byteLimit = byteLimit
    }

    var isEmpty: Bool { entries.isEmpty }

    /// Bytes of storage the held frames take.
    var storageCapacity: Int { frames.capacity }

    /// Holds a direct delivery, `send` with its one wrap, written to the connection; false, holding nothing, when
    /// it would take the frames kept past `byteLimit`.
    func hold(_ send: SendView) -> Bool {
        let length = send.directDeliveryCount
        guard frames.readableBytes + length <= byteLimit, let id = MessageID(of: send) else { return false }
        send.encodeDirectDelivery(stored: true, into: &frames)
        entries.append((id, UInt32(length), false))
        unacknowledgedBytes += length
        return true
    }

    /// Lets go of the delivery with `id`; false when none is held (a stored delivery's acknowledgement).
    func acknowledge(_ id: MessageID) -> Bool {
        // Acknowledgements come in order, unless the client keeps one back (a message it could not save yet).
        if let first = entries.first, first.id == id, !first.acknowledged {
            dropFirst()
            while let next = entries.first, next.acknowledged {
                acknowledgedBehind -= 1
                acknowledgedBehindBytes -= Int(next.length)
                dropFirst()
            }
        } else {
            guard let index = entries.firstIndex(where: { $0.id == id && !$0.acknowledged }) else { return false }
            entries[index].acknowledged = true
            forget(Int(entries[index].length))
            acknowledgedBehind += 1
            acknowledgedBehindBytes += Int(entries[index].length)
            if acknowledgedBehind >= 64 || acknowledgedBehindBytes >= 1 << 16, acknowledgedBehindBytes > unacknowledgedBytes { compact() }
            return true
        }
        if entries.isEmpty {
            frames.clear()
        } else if frames.readerIndex >= 1 << 16, frames.readerIndex > frames.readableBytes {
            frames.discardReadBytes() // what is left moves to the front, instead of the buffer growing on
        }
        return true
    }

    private func dropFirst() {
        let first = entries.removeFirst()
        frames.moveReaderIndex(forwardBy: Int(first.length))
        if !first.acknowledged { forget(Int(first.length)) }
    }

    private func forget(_ length: Int) {
        unacknowledgedBytes -= length
    }

    /// Keeps only the unacknowledged frames, when those acknowledged behind a held-back one would pile up.
    private func compact() {
        var kept = ByteBuffer()
        kept.reserveCapacity(unacknowledgedBytes)
        var offset = frames.readerIndex
        for entry in entries {
            if !entry.acknowledged, let frame = frames.getSlice(at: offset, length: Int(entry.length)) { kept.writeImmutableBuffer(frame) }
            offset += Int(entry.length)
        }
        entries = CircularBuffer(entries.lazy.filter { !$0.acknowledged })
        frames = kept
        (acknowledgedBehind, acknowledgedBehindBytes) = (0, 0)
    }

    /// Everything still held, oldest first, as the stored `deliver` frames (with their length prefix) for
    /// `recipient`, emptying the list.
    func takeAll(for recipient: String) -> [(frame: ByteBuffer, delivery: ServerDatabase.PendingDelivery)] {
        var taken: [(frame: ByteBuffer, delivery: ServerDatabase.PendingDelivery)] = []
        for entry in entries {
            guard let frame = frames.readSlice(length: Int(entry.length)) else { break }
            if !entry.acknowledged, let delivery = Self.pending(frame, for: recipient) { taken.append((frame, delivery)) }
        }
        entries.removeAll()
        frames = ByteBuffer()
        (unacknowledgedBytes, acknowledgedBehind, acknowledgedBehindBytes) = (0, 0, 0)
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
