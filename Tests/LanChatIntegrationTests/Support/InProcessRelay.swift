@testable import LanChatProtocol
@testable import LanChatServer
import Logging
import NIOCore

/// A relay's shared services over a scratch database, for connection handlers on testing event loops.
struct InProcessRelay {
    let folder: FuzzScratchFolder
    let database: ServerDatabase
    let services: RelayServices

    init(threads: Int, configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        folder = try FuzzScratchFolder()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, dataDirectory: folder.path + "/server", threads: threads)
        configure(&configuration)
        var logger = Logger(label: "test.in-process")
        logger.logLevel = .critical
        database = try ServerDatabase(dataDirectory: configuration.dataDirectory)
        services = RelayServices(relay: Relay(), database: database, configuration: configuration, logger: logger)
    }
}

/// Stands in for the Noise handler of a relay connection on a testing channel: what the relay queues is written
/// down the pipeline as plaintext. With `writesFail`, receipts are answered as not written; `releasedAtOnce` is
/// called whenever the relay asks for the cipher contexts to be freed at once.
final class PlaintextQueue: OutboundQueue {
    private let channel: any Channel
    private let writesFail: Bool
    private let releasedAtOnce: () -> Void
    private var written: [WriteReceipt] = []

    init(channel: any Channel, writesFail: Bool = false, releasedAtOnce: @escaping () -> Void = {}) {
        self.channel = channel
        self.writesFail = writesFail
        self.releasedAtOnce = releasedAtOnce
    }

    func enqueue(_ bytes: ByteBuffer) {
        channel.write(bytes, promise: nil)
    }

    func enqueue(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
        var buffer = channel.allocator.buffer(capacity: first.count + second.count)
        buffer.writeBytes(first)
        buffer.writeBytes(second)
        channel.write(buffer, promise: nil)
    }

    func enqueue(encoding encode: (inout ByteBuffer) -> Void) {
        var buffer = channel.allocator.buffer(capacity: 64)
        encode(&buffer)
        channel.write(buffer, promise: nil)
    }

    func flushNow(promise: EventLoopPromise<Void>?) {
        channel.flush()
        promise?.succeed()
        let waiting = written
        written = []
        for receipt in waiting { receipt.observer.delivery(receipt, wasWritten: !writesFail) }
    }

    func notify(_ receipt: consuming WriteReceipt) {
        written.append(receipt)
    }

    func releaseIdleResources(immediately: Bool) {
        if immediately { releasedAtOnce() }
    }
}
