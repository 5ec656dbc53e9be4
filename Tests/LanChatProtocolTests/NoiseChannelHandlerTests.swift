import LanChatCrypto
import LanChatProtocol
import NIOCore
import NIOEmbedded
import Testing

@Suite("Noise channel handler")
struct NoiseChannelHandlerTests {
    private static let secret = Array("meet me by the old oak tree at midnight, come alone".utf8)
    private static let reply = Array("the oak is gone, they cut it down last spring".utf8)

    /// Whether `future` has succeeded (true), failed (false) or not completed yet (nil).
    private func outcome(_ future: EventLoopFuture<Void>) -> Bool? {
        var outcome: Bool?
        future.assumeIsolated().whenComplete { outcome = (try? $0.get()) != nil }
        return outcome
    }

    /// Expects that neither `plaintext` nor its first 32 bytes appear in what crossed the wire.
    private func expectHidden(_ plaintext: [UInt8], on peers: NoisePeers) {
        let wire = peers.wireBytes
        #expect(!wire.isEmpty)
        #expect(!wire.contains(plaintext))
        #expect(!wire.contains(plaintext.prefix(32)))
    }

    // MARK: Handshake

    @Test("the XX handshake completes on both sides, each learning the other's static key")
    func handshakeCompletes() throws {
        var peers = try NoisePeers()
        try peers.pump()
        // -> e (32), <- e, ee, s, es (32 + 48 + 16), -> s, se (48 + 16); each with its 2-byte length.
        #expect(peers.wire.map(\.readableBytes) == [34, 98, 66])
        let client = try #require(peers.client.events.completions.first)
        let server = try #require(peers.server.events.completions.first)
        #expect(peers.client.events.completions.count == 1 && peers.server.events.completions.count == 1)
        #expect(client.remoteStatic == peers.server.key.publicKey)
        #expect(server.remoteStatic == peers.client.key.publicKey)
        #expect(client.handshakeHash == server.handshakeHash)
        #expect(client.handshakeHash.count == 32)
        #expect(peers.client.events.errors.isEmpty && peers.server.events.errors.isEmpty)
        #expect(peers.client.channel.isActive && peers.server.channel.isActive)
        try peers.finish()
    }

    @Test("a responder with a different prologue makes the handshake fail and the initiator close")
    func prologueMismatch() throws {
        var peers = try NoisePeers(serverPrologue: Array("LanChat/2".utf8))
        try peers.pump()
        // The initiator cannot open the responder's static key, so it never sends the third message.
        #expect(peers.wire.map(\.readableBytes) == [34, 98])
        #expect(peers.client.events.errors.map { $0 as? ProtocolError } == [.handshakeFailed(CryptoError.authenticationFailed.description)])
        #expect(!peers.client.channel.isActive)
        #expect(peers.client.events.completions.isEmpty && peers.server.events.completions.isEmpty)
        try peers.finish()
    }

    @Test("the handshake timeout fails and closes a connection that never completes")
    func handshakeTimeout() throws {
        let peers = try NoisePeers(handshakeTimeout: .seconds(5))
        #expect(try peers.client.channel.readOutbound(as: ByteBuffer.self)?.readableBytes == 34)
        for peer in [peers.client, peers.server] {
            peer.channel.embeddedEventLoop.advanceTime(by: .milliseconds(4_999))
            #expect(peer.channel.isActive)
            #expect(peer.events.errors.isEmpty)
            peer.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
            #expect(!peer.channel.isActive)
            #expect(peer.events.errors.map { $0 as? ProtocolError } == [.handshakeFailed("no handshake within 5.0 s")])
        }
        try peers.finish()
    }

    @Test("a completed handshake cancels the timeout")
    func timeoutCancelledByHandshake() throws {
        var peers = try NoisePeers.connected()
        for peer in [peers.client, peers.server] {
            peer.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
            #expect(peer.channel.isActive)
            #expect(peer.events.errors.isEmpty)
        }
        peers.client.send([Self.secret])
        try peers.pump()
        #expect(try peers.server.received() == Self.secret)
        try peers.finish()
    }

    // MARK: Transport

    @Test("plaintext written by either side arrives intact, only after flush")
    func plaintextBothWays() throws {
        var peers = try NoisePeers.connected()
        for (sender, receiver, message) in [(peers.client, peers.server, Self.secret), (peers.server, peers.client, Self.reply)] {
            sender.channel.write(ByteBuffer(bytes: message), promise: nil)
            #expect(try sender.channel.readOutbound(as: ByteBuffer.self) == nil)
            sender.channel.flush()
            try peers.pump()
            #expect(try receiver.received() == message)
        }
        expectHidden(Self.secret, on: peers)
        expectHidden(Self.reply, on: peers)
        try peers.finish()
    }

    @Test("several writes before one flush leave as one buffer holding one Noise message")
    func writesCoalesceOnFlush() throws {
        var peers = try NoisePeers.connected()
        let pieces = [Array(Self.secret[..<10]), [], Array(Self.secret[10...])]
        let futures = pieces.map { peers.client.channel.write(ByteBuffer(bytes: $0)) }
        #expect(futures.map(outcome) == [nil, nil, nil])
        peers.client.channel.flush()
        let sent = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        #expect(try peers.client.channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(try sent.noiseMessageLengths() == [Self.secret.count + AESGCMKey.tagCount])
        #expect(futures.map(outcome) == [true, true, true])
        try peers.deliver(sent, to: peers.server)
        #expect(try peers.server.channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: Self.secret))
        #expect(try peers.server.channel.readInbound(as: ByteBuffer.self) == nil)
        expectHidden(Self.secret, on: peers)
        try peers.finish()
    }

    @Test(
        "a 200,000-byte plaintext leaves as Noise messages of at most 65535 bytes and arrives intact",
        arguments: [[200_000], [70_000, 1, 0, 129_999]]
    )
    func largePlaintext(pieceSizes: [Int]) throws {
        var peers = try NoisePeers.connected()
        let plaintext = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        var pieces: [[UInt8]] = []
        var start = 0
        for size in pieceSizes {
            pieces.append(Array(plaintext[start..<start + size]))
            start += size
        }
        peers.client.send(pieces)
        let sent = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        #expect(try peers.client.channel.readOutbound(as: ByteBuffer.self) == nil)
        let lengths = try sent.noiseMessageLengths()
        #expect(lengths.allSatisfy { $0 <= ProtocolLimits.maxNoiseMessage })
        // As few messages as possible: three full ones, then the rest (200,000 - 3 × 65519 = 3443) and its tag.
        #expect(lengths == [65_535, 65_535, 65_535, 3_443 + AESGCMKey.tagCount])
        try peers.deliver(sent, to: peers.server)
        #expect(try peers.server.received() == plaintext)
        expectHidden(plaintext, on: peers)
        try peers.finish()
    }

    @Test("bytes queued directly and written through the pipeline leave in call order in one flush; an encoder writing past a message's end is split")
    func directQueueing() throws {
        var peers = try NoisePeers.connected()
        let big = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let noise = peers.client.noise
        noise.enqueue(ByteBuffer(bytes: Self.secret))
        peers.client.channel.write(ByteBuffer(bytes: Self.reply), promise: nil)
        noise.enqueue { $0.writeBytes(big) }
        [UInt8]([1, 2, 3]).withUnsafeBytes { first in [UInt8]([4, 5]).withUnsafeBytes { noise.enqueue(first, $0) } }
        // A two-part delivery whose parts cross the end of a Noise message.
        let head = [UInt8](repeating: 0xA5, count: 40_000), tail = [UInt8](repeating: 0x5A, count: 30_000)
        head.withUnsafeBytes { first in tail.withUnsafeBytes { noise.enqueue(first, $0) } }
        let written = peers.client.channel.eventLoop.makePromise(of: Void.self)
        noise.flushNow(promise: written)
        try written.futureResult.wait()
        let sent = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        #expect(try peers.client.channel.readOutbound(as: ByteBuffer.self) == nil)
        let lengths = try sent.noiseMessageLengths()
        let expected = Self.secret + Self.reply + big + [1, 2, 3, 4, 5] + head + tail
        // Every message but the last is full.
        let full = ProtocolLimits.maxNoisePlaintext
        #expect(lengths.count == (expected.count + full - 1) / full && lengths.allSatisfy { $0 <= ProtocolLimits.maxNoiseMessage })
        #expect(lengths.dropLast().allSatisfy { $0 == full + AESGCMKey.tagCount })
        try peers.deliver(sent, to: peers.server)
        #expect(try peers.server.received() == expected)
        try peers.finish()
    }

    @Test("a receipt is answered by whichever flush carries the bytes, with its id and bytes, and as not written when the connection fails first")
    func receiptsFollowTheBytes() throws {
        var peers = try NoisePeers.connected()
        let observer = ReceiptCollector()
        peers.client.noise.enqueue(ByteBuffer(bytes: Self.secret))
        peers.client.noise.notify(WriteReceipt(observer: observer, id: 1, bytes: ByteBuffer(bytes: [1])))
        peers.client.noise.notify(WriteReceipt(observer: observer, id: 2, bytes: ByteBuffer(bytes: [2])))
        #expect(observer.answers.isEmpty)
        peers.client.channel.flush() // a pipeline flush, not flushNow, carries the bytes
        #expect(observer.answers.map(\.id) == [1, 2] && observer.answers.allSatisfy(\.written))
        #expect(observer.answers.map { Array($0.bytes.readableBytesView) } == [[1], [2]])
        try peers.pump()
        #expect(try peers.server.received() == Self.secret)

        peers.client.noise.enqueue(ByteBuffer(bytes: Self.reply))
        peers.client.noise.notify(WriteReceipt(observer: observer, id: 3, bytes: ByteBuffer()))
        try peers.client.channel.close().wait()
        #expect(observer.answers.map(\.id) == [1, 2, 3] && observer.answers.last?.written == false)
        peers.client.noise.notify(WriteReceipt(observer: observer, id: 4, bytes: ByteBuffer()))
        #expect(observer.answers.map(\.id) == [1, 2, 3, 4] && observer.answers.last?.written == false)
        try peers.finish()
    }

    @Test("the byte stream may be cut anywhere: fed one byte at a time, the messages arrive intact")
    func byteAtATime() throws {
        let peers = try NoisePeers.connected()
        let plaintext = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        peers.client.send([Array(plaintext[..<30]), Array(plaintext[30...])])
        let sent = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        for byte in sent.readableBytesView { try peers.server.channel.writeInbound(ByteBuffer(bytes: [byte])) }
        #expect(try peers.server.received() == plaintext)
        #expect(peers.server.events.errors.isEmpty)
        try peers.finish()
    }

    @Test("reads cut inside Noise messages, the later ones completing a cut message and carrying whole ones, give back the plaintext in order", arguments: [3, 1000, 65_000, 70_000])
    func readsCutInsideMessages(firstCut: Int) throws {
        let peers = try NoisePeers.connected()
        // 300 KB in several Noise messages of up to 64 KiB, sent in one write.
        let plaintext = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        peers.client.send([plaintext])
        var sent = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        // A first read ending at `firstCut`, then reads of 100,000 bytes: each completes a cut message, carries
        // whole ones and ends inside another.
        try peers.server.channel.writeInbound(sent.readSlice(length: firstCut)!)
        while sent.readableBytes > 0 {
            try peers.server.channel.writeInbound(sent.readSlice(length: min(100_000, sent.readableBytes))!)
        }
        #expect(try peers.server.received() == plaintext)
        #expect(peers.server.events.errors.isEmpty)
        try peers.finish()
    }

    @Test("an idle session frees its cipher contexts and makes them again for the next message")
    func idleContextsReleased() throws {
        var peers = try NoisePeers.connected()
        peers.client.send([Self.secret])
        try peers.pump()
        #expect(try peers.server.received() == Self.secret)
        #expect(!peers.client.noise.releaseIdleMemoryIfUnused(), "used since the last call: kept")
        #expect(peers.client.noise.releaseIdleMemoryIfUnused(), "unused since the last call: released")
        #expect(peers.server.noise.releaseIdleMemoryIfUnused() == false)
        #expect(peers.server.noise.releaseIdleMemoryIfUnused())
        peers.client.send([Self.reply])
        peers.server.send([Self.secret])
        try peers.pump()
        #expect(try peers.server.received() == Self.reply)
        #expect(try peers.client.received() == Self.secret)
        try peers.finish()
    }

    @Test("cipher contexts freed at once, between two messages, are made again for the next one")
    func contextsReleasedAtOnce() throws {
        var peers = try NoisePeers.connected()
        peers.client.send([Self.secret])
        try peers.pump()
        peers.client.noise.releaseIdleResources(immediately: true)
        peers.server.noise.releaseIdleResources(immediately: true)
        // Released at once, so no longer counted as used: a periodic release right after finds them unused.
        #expect(peers.client.noise.releaseIdleMemoryIfUnused())
        #expect(peers.server.noise.releaseIdleMemoryIfUnused())
        peers.client.send([Self.reply])
        peers.server.send([Self.secret])
        try peers.pump()
        #expect(try peers.server.received() == Self.secret + Self.reply)
        #expect(try peers.client.received() == Self.secret)
        #expect(peers.server.events.errors.isEmpty && peers.client.events.errors.isEmpty)
        try peers.finish()
    }

    @Test("a write the channel still holds is left intact by the next one")
    func heldWriteNotOverwritten() throws {
        var peers = try NoisePeers.connected()
        peers.client.send([Self.secret])
        peers.client.send([Self.reply])
        let first = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        let second = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        #expect(first.storageAddress != second.storageAddress)
        for buffer in [first, second] { try peers.deliver(buffer, to: peers.server) }
        #expect(try peers.server.received() == Self.secret + Self.reply)
        try peers.finish()
    }

    @Test("an idle session frees the storage of its last write, and a large write is not kept past it")
    func outputStorageReleased() throws {
        let peers = try NoisePeers.connected()
        peers.client.send([Self.secret])
        var sent = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        #expect(!peers.client.noise.releaseIdleMemoryIfUnused(), "used since the last call: kept")
        let keptWhileUsed = !sent.ownsStorageAlone()
        #expect(keptWhileUsed)
        #expect(peers.client.noise.releaseIdleMemoryIfUnused())
        let releasedWhenUnused = sent.ownsStorageAlone()
        #expect(releasedWhenUnused, "released: the test holds the only reference")

        peers.client.send([Self.reply])
        sent = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        peers.client.noise.releaseIdleMemory()
        let releasedAtOnce = sent.ownsStorageAlone()
        #expect(releasedAtOnce)

        peers.client.send([Array(repeating: 7, count: 10_000)])
        sent = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        let largeNotKept = sent.ownsStorageAlone()
        #expect(largeNotKept, "larger than the handler keeps")
        try peers.finish()
    }

    @Test("writes made before the handshake completes are delivered once it does")
    func writesBeforeHandshake() throws {
        var peers = try NoisePeers()
        peers.client.send([Self.secret])
        peers.server.send([Self.reply])
        // Only the first handshake message has left; the plaintext waits for the transport keys.
        let first = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        #expect(first.readableBytes == 34)
        #expect(try peers.client.channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(try peers.server.channel.readOutbound(as: ByteBuffer.self) == nil)
        try peers.deliver(first, to: peers.server)
        try peers.pump()
        #expect(peers.client.events.completions.count == 1 && peers.server.events.completions.count == 1)
        #expect(try peers.server.received() == Self.secret)
        #expect(try peers.client.received() == Self.reply)
        expectHidden(Self.secret, on: peers)
        expectHidden(Self.reply, on: peers)
        try peers.finish()
    }

    @Test(
        "a flipped bit in a transport message makes the receiver fail and close",
        // First and last byte of the ciphertext, first and last byte of the tag.
        arguments: [0, Self.secret.count - 1, Self.secret.count, Self.secret.count + AESGCMKey.tagCount - 1]
    )
    func flippedBit(offset: Int) throws {
        var peers = try NoisePeers.connected()
        peers.client.send([Self.secret])
        var sent = try #require(try peers.client.channel.readOutbound(as: ByteBuffer.self))
        #expect(try sent.noiseMessageLengths() == [Self.secret.count + AESGCMKey.tagCount])
        let index = sent.readerIndex + 2 + offset
        sent.setInteger(try #require(sent.getInteger(at: index, as: UInt8.self)) ^ 0x10, at: index)
        try peers.deliver(sent, to: peers.server)
        #expect(peers.server.events.errors.map { $0 as? CryptoError } == [.authenticationFailed])
        #expect(!peers.server.channel.isActive)
        #expect(try peers.server.received().isEmpty)
        #expect(peers.client.channel.isActive)
        try peers.finish()
    }

    @Test("a transport message shorter than a tag makes the receiver fail and close")
    func messageShorterThanTag() throws {
        var peers = try NoisePeers.connected()
        try peers.deliver(ByteBuffer(bytes: [0, 5, 1, 2, 3, 4, 5]), to: peers.server)
        #expect(peers.server.events.errors.map { $0 as? CryptoError } == [.authenticationFailed])
        #expect(!peers.server.channel.isActive)
        #expect(try peers.server.received().isEmpty)
        try peers.finish()
    }
}

/// Records the receipts handed back to it.
private final class ReceiptCollector: WriteObserver {
    private(set) var answers: [(id: UInt32, bytes: ByteBuffer, written: Bool)] = []

    func delivery(_ receipt: WriteReceipt, wasWritten written: Bool) {
        answers.append((receipt.id, receipt.bytes, written))
    }
}
