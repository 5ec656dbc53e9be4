import Histogram
import LanChatCrypto
import LanChatProtocol
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Pre-encoded `send` frames that one client writes, keeping at most `window` unacknowledged.
final class WindowedSender: Sendable {
    let client: BenchClient
    private let frames: [ByteBuffer]
    private let total: Int
    private let window: Int
    private let next = Atomic<Int>(0)

    init(client: BenchClient, frames: [ByteBuffer], total: Int, window: Int) {
        self.client = client
        self.frames = frames
        self.total = total
        self.window = window
    }

    /// Writes the first window of frames.
    func start() {
        client.channel.eventLoop.execute { [self] in
            for _ in 0..<min(window, total) { writeNext() }
            client.channel.flush()
        }
    }

    /// Called on the client's event loop for each acknowledgement: keeps the window full. The client
    /// flushes at the end of its read batch.
    func acknowledged() {
        writeNext()
    }

    /// Queues the next frame in the connection's output (on the client's event loop).
    private func writeNext() {
        let index = next.add(1, ordering: .relaxed).oldValue
        guard index < total else { return }
        client.outbound.value.enqueue(frames[index % frames.count])
    }
}

/// Counts deliveries for a workload, opens a sample of them fully, records latencies, and signals when
/// every expected delivery (or its reported miss) has arrived.
final class DeliveryCounter: BenchObserver {
    let expected: Int
    let finished: EventLoopPromise<Void>
    let deliveries = Atomic<Int>(0)
    let missed = Atomic<Int>(0)
    let refusals = Atomic<Int>(0)
    let openedOK = Atomic<Int>(0)
    let openedBad = Atomic<Int>(0)
    private let sampleEvery: Int
    private let plaintext: [UInt8]
    /// Each sending client's sender, by the client's identity (no string hashed per acknowledgement).
    private let senders: [ObjectIdentifier: WindowedSender]
    /// Send times by the first 8 bytes of the message id, when measuring latency.
    let sendTimes = NIOLockedValueBox<[UInt64: UInt64]>([:])
    let latencies = NIOLockedValueBox(Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three))
    private let measuresLatency: Bool

    init(expected: Int, finished: EventLoopPromise<Void>, plaintext: [UInt8], sampleEvery: Int, senders: [WindowedSender] = [], measuresLatency: Bool = false) {
        self.expected = expected
        self.finished = finished
        self.plaintext = plaintext
        self.sampleEvery = max(1, sampleEvery)
        self.senders = Dictionary(uniqueKeysWithValues: senders.map { (ObjectIdentifier($0.client), $0) })
        self.measuresLatency = measuresLatency
    }

    /// Notes the moment an envelope with `messageID` is sent.
    func willSend(messageID: [UInt8]) {
        let key = messageID.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let now = monotonicNanoseconds()
        sendTimes.withLockedValue { $0[key] = now }
    }

    func delivered(_ frame: ByteBuffer, to client: BenchClient) {
        // The frame starts with type (1), flags (1) and the header's u16 length; the message id is at header offset 2.
        if measuresLatency, let key = frame.getInteger(at: frame.readerIndex + 6, as: UInt64.self) {
            let now = monotonicNanoseconds()
            if let sent = sendTimes.withLockedValue({ $0[key] }) {
                latencies.withLockedValue { _ = $0.record(now - sent) }
            }
        }
        let count = deliveries.add(1, ordering: .relaxed).newValue
        if count % sampleEvery == 0 { check(frame, client: client) }
        completeIfDone(count + missed.load(ordering: .relaxed))
    }

    func acknowledged(_ ack: Ack, by client: BenchClient) {
        if !ack.missed.isEmpty {
            let missedNow = missed.add(ack.missed.count, ordering: .relaxed).newValue
            completeIfDone(missedNow + deliveries.load(ordering: .relaxed))
        }
        senders[ObjectIdentifier(client)]?.acknowledged()
    }

    func refused(_ error: ErrorFrame, client: BenchClient) {
        refusals.add(1, ordering: .relaxed)
        finished.fail(BenchError.refused(error.reason))
    }

    /// A connection that closes before the run is over ends it: its deliveries would never arrive.
    func disconnected(_ client: BenchClient) {
        finished.fail(BenchError.connectionLost("the server closed the connection of \(client.name) during the run: \(progress)"))
    }

    /// How far the run got, for an error message.
    var progress: String {
        let arrived = deliveries.load(ordering: .relaxed), reported = missed.load(ordering: .relaxed)
        return "\(arrived) of \(expected) deliveries had arrived and \(reported) were reported missed"
    }

    private func completeIfDone(_ accounted: Int) {
        if accounted >= expected { finished.succeed() }
    }

    /// Fully decodes and opens a delivery as its recipient and compares the plaintext.
    private func check(_ frame: ByteBuffer, client: BenchClient) {
        var frame = frame
        guard case let .deliver(deliver) = try? Frame(decoding: &frame) else {
            openedBad.add(1, ordering: .relaxed)
            return
        }
        let opener = EnvelopeOpener(recipientName: client.name, identity: client.key)
        let opened = try? opener.open(
            header: Array(deliver.header.readableBytesView), body: Array(deliver.body.readableBytesView), wrap: Array(deliver.wrap.readableBytesView)
        )
        if opened?.plaintext == plaintext { openedOK.add(1, ordering: .relaxed) } else { openedBad.add(1, ordering: .relaxed) }
    }
}

/// Envelopes sealed ahead of the measured interval, as encoded `send` frames.
enum SealedTraffic {
    /// A 256-byte plaintext in LanChat's text format.
    static let plaintext: [UInt8] = [1] + Array(String(repeating: "lanchat benchmark payload ", count: 10).utf8.prefix(255))

    static func frames(from sender: BenchClient, to recipients: [BenchClient], kind: EnvelopeKind, count: Int, messageIDs: inout [[UInt8]]) throws -> [ByteBuffer] {
        let sealer = EnvelopeSealer(senderName: sender.name, identity: sender.key)
        let targets = recipients.map { EnvelopeRecipient(name: $0.name, publicKey: $0.key.publicKey) }
        return try (0..<count).map { index in
            let envelope = try sealer.seal(plaintext, kind: kind, to: targets)
            messageIDs.append(Array(envelope.header[2..<18]))
            return Frame.send(Send(
                requestID: UInt32(index + 1),
                header: ByteBuffer(bytes: envelope.header),
                body: ByteBuffer(bytes: envelope.body),
                wraps: envelope.wraps.map { Send.Wrap(recipient: $0.recipient, wrap: ByteBuffer(bytes: $0.wrap)) }
            )).encoded()
        }
    }
}

extension Report {
    /// Delivery counts, the rate when `elapsed` is given, and the outcome of the sampled full opens.
    mutating func addDeliveries(_ counter: DeliveryCounter, elapsed: Double? = nil) {
        let deliveries = counter.deliveries.load(ordering: .relaxed)
        add("deliveries", deliveries)
        add("missed", counter.missed.load(ordering: .relaxed))
        if let elapsed {
            add("elapsed_s", elapsed)
            add("deliveries_per_s", Double(deliveries) / elapsed)
        }
        add("opened_ok", counter.openedOK.load(ordering: .relaxed))
        add("opened_bad", counter.openedBad.load(ordering: .relaxed))
    }
}
