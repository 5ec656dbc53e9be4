import Foundation
import LanChatCrypto
import LanChatProtocol
import NIOCore

// MARK: Reproducible randomness

/// SplitMix64: a small, fast, seedable generator, so a failing fuzz run can be replayed from its seed.
struct FuzzRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A derived generator with its own stream (for concurrent tasks that must not share one).
    mutating func fork() -> FuzzRandom { FuzzRandom(seed: next()) }

    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }
    mutating func pick<T>(_ values: [T]) -> T { values[int(0..<values.count)] }
}

/// The seed of a fuzz test: `LANCHAT_FUZZ_SEED` (decimal or 0x-hex) when set, so a failure can be replayed,
/// else a fresh one. Every failure message of the hostile-input tests names it.
enum FuzzSeed {
    static func make() -> UInt64 {
        if let text = ProcessInfo.processInfo.environment["LANCHAT_FUZZ_SEED"] {
            if text.hasPrefix("0x"), let value = UInt64(text.dropFirst(2), radix: 16) { return value }
            if let value = UInt64(text) { return value }
        }
        return UInt64.random(in: 1...UInt64.max)
    }

    static func describe(_ seed: UInt64) -> String { "seed 0x\(String(seed, radix: 16)) (replay with LANCHAT_FUZZ_SEED=0x\(String(seed, radix: 16)))" }
}

// MARK: Hand-written wire bytes

/// Writes frame fields byte by byte, with any content: lengths that lie, invalid UTF-8, keys of any size.
struct FuzzWire {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { bytes += [UInt8(value >> 8), UInt8(value & 0xFF)] }
    mutating func u32(_ value: UInt32) { bytes += (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
    mutating func u64(_ value: UInt64) { bytes += (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }
    mutating func str8(_ content: [UInt8]) { u8(UInt8(truncatingIfNeeded: content.count)); bytes += content }
    mutating func str16(_ content: [UInt8]) { u16(UInt16(truncatingIfNeeded: content.count)); bytes += content }
    mutating func bytes32(_ content: [UInt8]) { u32(UInt32(truncatingIfNeeded: content.count)); bytes += content }
    mutating func raw(_ content: [UInt8]) { bytes += content }

    /// `u32 length`, the type byte, then `body`.
    static func frame(type: UInt8, _ build: (inout FuzzWire) -> Void) -> [UInt8] {
        var body = FuzzWire()
        build(&body)
        var out = FuzzWire()
        out.u32(UInt32(1 + body.bytes.count))
        out.u8(type)
        out.raw(body.bytes)
        return out.bytes
    }

    /// Byte strings that are not valid UTF-8 (lone continuation, overlong, surrogate, truncated, out of range).
    static let invalidUTF8: [[UInt8]] = [
        [0x80], [0xBF, 0x41], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFE], [0xFF], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98],
        Array("bob".utf8) + [0xC3, 0x28], [0x61, 0x62, 0xF8, 0x88, 0x80, 0x80, 0x80],
    ]
}

// MARK: Seeds and mutations

/// Valid encodings of every frame type (built from real `Frame` values and `encoded()`), hand-written
/// near-misses, and the mutations that turn them into hostile input.
struct FuzzCorpus: Sendable {
    /// Valid frames, length prefix included.
    let valid: [[UInt8]]
    /// Hand-written frames with one field wrong: invalid UTF-8, wrong key lengths, lying counts, bad enums.
    let nearMisses: [[UInt8]]
    /// The valid `send` frames, for mutations that keep the framing sound.
    let sends: [Send]
    let maxFrameLength: Int

    /// - Parameters:
    ///   - sender: name and key of the connection the frames will be sent on (its `send` frames carry its envelopes).
    ///   - recipients: who those envelopes are for.
    ///   - realEnvelopes: seal real envelopes (they can be opened by the recipients, but hold fresh random keys);
    ///     otherwise build valid headers with random-looking bodies and wraps from `rng` alone, so the corpus is
    ///     the same for the same seed (the relay never opens an envelope).
    init(sender: String, key: PrivateKey, recipients: [EnvelopeRecipient], rng: inout FuzzRandom, realEnvelopes: Bool, maxFrameLength: Int = ProtocolLimits.defaultMaxFrameLength) throws {
        self.maxFrameLength = maxFrameLength
        let keyA = try PrivateKey(rawRepresentation: rng.bytes(32)).publicKey.rawRepresentation
        let keyB = try PrivateKey(rawRepresentation: rng.bytes(32)).publicKey.rawRepresentation
        let stranger = try PrivateKey(rawRepresentation: rng.bytes(32))
        func envelope(from name: String, key: PrivateKey, _ text: String, kind: EnvelopeKind, to recipients: [EnvelopeRecipient], rng: inout FuzzRandom) throws -> SealedEnvelope {
            if realEnvelopes {
                return try EnvelopeSealer(senderName: name, identity: key).seal(MessageBytes.text(text), kind: kind, to: recipients)
            }
            let header = try EnvelopeHeader(
                kind: kind, messageID: rng.bytes(16), timestamp: 1_750_000_000_000 + UInt64(rng.int(0..<1_000_000)),
                senderName: name, senderKey: key.publicKey, commitment: rng.bytes(32)
            ).encoded
            let body = rng.bytes(16 + text.utf8.count + 1)
            return SealedEnvelope(header: header, body: body, wraps: recipients.map { RecipientWrap(recipient: $0.name, wrap: rng.bytes(RecipientWrap.byteCount)) })
        }
        var envelopes: [(SealedEnvelope, storeForOffline: Bool)] = []
        for recipient in recipients {
            envelopes.append((try envelope(from: sender, key: key, "fuzz direct to \(recipient.name)", kind: .direct(recipient: recipient.name), to: [recipient], rng: &rng), false))
        }
        if !recipients.isEmpty {
            envelopes.append((try envelope(from: sender, key: key, "fuzz broadcast", kind: .broadcast, to: recipients, rng: &rng), false))
            envelopes.append((try envelope(from: sender, key: key, "fuzz broadcast kept", kind: .broadcast, to: recipients, rng: &rng), true))
        }
        // An envelope from someone else: decodes, but the relay must refuse it (sender mismatch).
        envelopes.append((try envelope(from: "stranger", key: stranger, "A", kind: .broadcast, to: [EnvelopeRecipient(name: "x", publicKey: stranger.publicKey)], rng: &rng), false))

        var frames: [Frame] = [
            .hello(Hello(name: sender, clientVersion: "fuzz 1.0")),
            .hello(Hello(protocolVersion: 2, name: "alice", clientVersion: "")),
            .hello(Hello(name: String(repeating: "n", count: 33), clientVersion: "too long a name")),
            .hello(Hello(name: "bad name!", clientVersion: "x")),
            .hello(Hello(name: "", clientVersion: "x")),
            .hello(Hello(name: "émile", clientVersion: String(repeating: "v", count: 255))),
            .welcome(Welcome(serverName: "srv", serverVersion: "1", online: [DirectoryEntry(name: "a", key: keyA), DirectoryEntry(name: "b", key: keyB)])),
            .presence(Presence(event: .joined, user: DirectoryEntry(name: "a", key: keyA))),
            .presence(Presence(event: .left, user: DirectoryEntry(name: "b", key: keyB))),
            .lookup(Lookup(requestID: 7, name: recipients.first?.name ?? "alice")),
            .lookup(Lookup(requestID: 8, name: "nobody-here")),
            .lookup(Lookup(requestID: 9, name: sender)),
            .lookupResult(LookupResult(requestID: 1, name: "a", status: .online, key: keyA)),
            .lookupResult(LookupResult(requestID: 2, name: "b", status: .offline, key: keyB)),
            .lookupResult(LookupResult(requestID: 3, name: "c", status: .unknown, key: nil)),
            .deliver(Deliver(stored: true, header: ByteBuffer(bytes: [1, 2, 3]), body: ByteBuffer(bytes: [4, 5]), wrap: ByteBuffer(bytes: [UInt8](repeating: 6, count: 80)))),
            .ack(Ack(requestID: 5, delivered: 1, stored: 2, missed: ["x", "y"])),
            .error(ErrorFrame(requestID: 3, code: .badEnvelope, reason: "no")),
            .ping(0x0102_0304_0506_0708),
            .pong(42),
            .bye("fuzz says bye"),
            .deliveryAck(DeliveryAck(messageID: [UInt8](repeating: 0xAB, count: 16))),
            .listUsers(requestID: 77),
            .userList(UserList(requestID: 4, users: [UserList.Entry(user: DirectoryEntry(name: "a", key: keyA), online: true)])),
            .send(Send(requestID: 11, header: ByteBuffer(bytes: [1, 2, 3]), body: ByteBuffer(), wraps: [])),
            .send(Send(requestID: 12, header: ByteBuffer(bytes: [UInt8](repeating: 1, count: ProtocolLimits.maxHeaderLength + 1)), body: ByteBuffer(bytes: [1]), wraps: [Send.Wrap(recipient: "x", wrap: ByteBuffer(bytes: [UInt8](repeating: 0, count: 80)))])),
        ]
        for (index, (envelope, store)) in envelopes.enumerated() {
            var send = sendFrame(envelope, requestID: UInt32(100 + index))
            send.storeForOffline = store
            frames.append(.send(send))
            // The same envelope with its wrap duplicated, cut short, or addressed to its sender.
            if let first = send.wraps.first {
                var doubled = send
                doubled.wraps.append(first)
                frames.append(.send(doubled))
                var short = send
                short.wraps[0].wrap = ByteBuffer(bytes: [UInt8](repeating: 0, count: 79))
                frames.append(.send(short))
                var toSelf = send
                toSelf.wraps[0].recipient = sender
                frames.append(.send(toSelf))
            }
        }
        valid = frames.map { Array($0.encoded().readableBytesView) }
        sends = frames.compactMap { if case let .send(send) = $0 { send } else { nil } }

        var misses: [[UInt8]] = []
        let validKey = keyA
        for bad in FuzzWire.invalidUTF8 {
            misses.append(FuzzWire.frame(type: 0x01) { $0.u16(1); $0.str8(bad); $0.str8(Array("c".utf8)) })
            misses.append(FuzzWire.frame(type: 0x01) { $0.u16(1); $0.str8(Array(sender.utf8)); $0.str8(bad) })
            misses.append(FuzzWire.frame(type: 0x04) { $0.u32(1); $0.str8(bad) })
            misses.append(FuzzWire.frame(type: 0x0C) { $0.str16(bad) })
            misses.append(FuzzWire.frame(type: 0x09) { $0.u32(0); $0.u16(2); $0.str16(bad) })
            misses.append(FuzzWire.frame(type: 0x08) { $0.u32(1); $0.u16(0); $0.u16(0); $0.u16(1); $0.str8(bad) })
            misses.append(FuzzWire.frame(type: 0x02) { $0.u16(1); $0.str8([0x61]); $0.str8([0x62]); $0.u16(1); $0.str8(bad); $0.raw(validKey) })
            misses.append(FuzzWire.frame(type: 0x06) { w in
                w.u32(1); w.u8(0); w.str16([1, 2]); w.bytes32([3]); w.u16(1); w.str8(bad); w.str16([UInt8](repeating: 0, count: 80))
            })
        }
        for keyLength in [0, 1, 16, 31, 33, 64] {
            let key = [UInt8](repeating: 0x5A, count: keyLength)
            misses.append(FuzzWire.frame(type: 0x05) { $0.u32(1); $0.str8([0x61]); $0.u8(1); $0.raw(key) })
            misses.append(FuzzWire.frame(type: 0x03) { $0.u8(1); $0.str8([0x61]); $0.raw(key) })
            misses.append(FuzzWire.frame(type: 0x02) { $0.u16(1); $0.str8([0x61]); $0.str8([0x62]); $0.u16(2); $0.str8([0x63]); $0.raw(key); $0.str8([0x64]); $0.raw(validKey) })
            misses.append(FuzzWire.frame(type: 0x0F) { $0.u32(1); $0.u16(1); $0.str8([0x61]); $0.raw(key); $0.u8(1) })
            misses.append(FuzzWire.frame(type: 0x0D) { $0.raw([UInt8](repeating: 1, count: keyLength / 2)) })
        }
        // Counts and lengths that promise more than the frame holds, unknown enum values and flag bits.
        misses.append(FuzzWire.frame(type: 0x06) { w in w.u32(1); w.u8(0); w.str16([1]); w.bytes32([2]); w.u16(0xFFFF) })
        misses.append(FuzzWire.frame(type: 0x06) { w in w.u32(1); w.u8(2); w.str16([1]); w.bytes32([2]); w.u16(0) })
        misses.append(FuzzWire.frame(type: 0x06) { w in w.u32(1); w.u8(0); w.u16(0xFFFF); w.raw([1, 2, 3]) })
        misses.append(FuzzWire.frame(type: 0x06) { w in w.u32(1); w.u8(0); w.str16([1]); w.u32(0xFFFF_FFFF); w.raw([1]) })
        misses.append(FuzzWire.frame(type: 0x02) { w in w.u16(1); w.str8([0x61]); w.str8([0x62]); w.u16(0xFFFF) })
        misses.append(FuzzWire.frame(type: 0x0F) { w in w.u32(1); w.u16(0xFFFF) })
        misses.append(FuzzWire.frame(type: 0x08) { w in w.u32(1); w.u16(0); w.u16(0); w.u16(0xFFFF) })
        misses.append(FuzzWire.frame(type: 0x03) { w in w.u8(3); w.str8([0x61]); w.raw(validKey) })
        misses.append(FuzzWire.frame(type: 0x05) { w in w.u32(1); w.str8([0x61]); w.u8(9); w.raw(validKey) })
        misses.append(FuzzWire.frame(type: 0x07) { w in w.u8(0x81); w.str16([1]); w.bytes32([2]); w.str16([3]) })
        misses.append(FuzzWire.frame(type: 0x0F) { w in w.u32(1); w.u16(1); w.str8([0x61]); w.raw(validKey); w.u8(2) })
        misses.append(FuzzWire.frame(type: 0x0A) { w in w.raw([1, 2, 3, 4, 5, 6, 7]) })
        misses.append(FuzzWire.frame(type: 0x0A) { w in w.raw([1, 2, 3, 4, 5, 6, 7, 8, 9]) })
        misses.append(FuzzWire.frame(type: 0x0E) { w in w.raw([]) })
        for type in [UInt8(0x00), 0x10, 0x11, 0x7F, 0x80, 0xFE, 0xFF] { misses.append(FuzzWire.frame(type: type) { $0.raw([1, 2, 3]) }) }
        misses.append([0, 0, 0, 0])
        misses.append([0, 0, 0, 0, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8])
        nearMisses = misses
    }

    /// One hostile input: a byte string for the decrypted stream, starting at a frame boundary.
    func next(_ rng: inout FuzzRandom) -> [UInt8] {
        switch rng.int(0..<100) {
        case 0..<8: return rng.pick(valid)
        case 8..<18: return rng.pick(nearMisses)
        case 18..<70: return mutate(rng.pick(rng.chance(0.8) ? valid : nearMisses), &rng)
        case 70..<76: return rng.bytes(rng.int(0...rng.pick([8, 64, 600])))
        case 76..<82:
            // A plausible length prefix, then garbage.
            var wire = FuzzWire()
            let length = rng.int(1...300)
            wire.u32(UInt32(length))
            wire.raw(rng.bytes(length))
            return wire.bytes
        case 82..<90: return rng.pick(valid) + rng.bytes(rng.int(1...40))
        default:
            // Several frames in one write, some mutated.
            var out: [UInt8] = []
            for _ in 0..<rng.int(2...5) {
                let seed = rng.pick(valid)
                out += rng.chance(0.3) ? mutate(seed, &rng) : seed
            }
            return out
        }
    }

    /// A frame that decodes but whose content is hostile: a `send` with a garbled header, body, wrap or
    /// recipient, lookups of odd names, a second `hello`, acknowledgements of unknown ids. The relay must
    /// refuse or answer each without closing the connection.
    func nextInFrame(_ rng: inout FuzzRandom) -> [UInt8] {
        let frame: Frame
        switch rng.int(0..<10) {
        case 0..<6 where !sends.isEmpty:
            var send = rng.pick(sends)
            send.requestID = UInt32(truncatingIfNeeded: rng.next())
            for _ in 0..<rng.int(1...2) {
                switch rng.int(0..<6) {
                case 0: send.header = ByteBuffer(bytes: Self.garble(Array(send.header.readableBytesView), &rng, limit: ProtocolLimits.maxHeaderLength + 8))
                case 1: send.body = ByteBuffer(bytes: Self.garble(Array(send.body.readableBytesView), &rng, limit: 4096))
                case 2 where !send.wraps.isEmpty:
                    let index = rng.int(0..<send.wraps.count)
                    send.wraps[index].wrap = ByteBuffer(bytes: Self.garble(Array(send.wraps[index].wrap.readableBytesView), &rng, limit: 200))
                case 3 where !send.wraps.isEmpty:
                    send.wraps[rng.int(0..<send.wraps.count)].recipient = Self.randomName(&rng)
                case 4: send.storeForOffline.toggle()
                default:
                    if rng.chance(0.5) || send.wraps.isEmpty {
                        send.wraps.append(Send.Wrap(recipient: Self.randomName(&rng), wrap: ByteBuffer(bytes: rng.bytes(ProtocolLimits.wrapLength))))
                    } else {
                        send.wraps.removeLast()
                    }
                }
            }
            frame = .send(send)
        case 6: frame = .lookup(Lookup(requestID: UInt32(truncatingIfNeeded: rng.next()), name: Self.randomName(&rng)))
        case 7: frame = rng.chance(0.5) ? .listUsers(requestID: UInt32(truncatingIfNeeded: rng.next())) : .ping(rng.next())
        case 8: frame = .deliveryAck(DeliveryAck(messageID: rng.bytes(16)))
        default: frame = .hello(Hello(protocolVersion: UInt16(rng.int(0...3)), name: Self.randomName(&rng), clientVersion: Self.randomName(&rng)))
        }
        return Array(frame.encoded().readableBytesView)
    }

    /// Flips bits in, cuts, extends or replaces `bytes` (at most `limit` bytes come out).
    private static func garble(_ bytes: [UInt8], _ rng: inout FuzzRandom, limit: Int) -> [UInt8] {
        var out = bytes
        switch rng.int(0..<5) {
        case 0, 1:
            for _ in 0..<rng.int(1...6) where !out.isEmpty { out[rng.int(0..<out.count)] ^= 1 << UInt8(rng.int(0..<8)) }
        case 2: out = Array(out.prefix(rng.int(0...out.count)))
        case 3: out += rng.bytes(rng.int(1...64))
        default: out = rng.bytes(rng.int(0...128))
        }
        return Array(out.prefix(limit))
    }

    /// A string of up to 40 characters: mostly name characters, sometimes anything (valid UTF-8).
    static func randomName(_ rng: inout FuzzRandom) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789_-.".unicodeScalars)
        var scalars = String.UnicodeScalarView()
        for _ in 0..<rng.pick([0, 1, 5, 12, 32, 33, 40]) {
            if rng.chance(0.9) {
                scalars.append(rng.pick(alphabet))
            } else if let scalar = Unicode.Scalar(UInt32(rng.int(0...0x2FFFF))) {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    /// Mutates a frame (length prefix included) in one or more ways.
    func mutate(_ frame: [UInt8], _ rng: inout FuzzRandom) -> [UInt8] {
        var out = frame
        for _ in 0..<(rng.chance(0.75) ? 1 : rng.int(2...4)) {
            guard !out.isEmpty else { return rng.bytes(rng.int(1...16)) }
            switch rng.int(0..<13) {
            case 0: // truncate, keeping the old length prefix
                out = Array(out.prefix(rng.int(0..<out.count)))
            case 1: // truncate and make the prefix agree, so the frame body itself is cut
                if out.count > 5 {
                    out = Array(out.prefix(rng.int(5..<out.count)))
                    setLength(&out, UInt32(out.count - 4))
                }
            case 2: // flip a few bits anywhere after the prefix
                for _ in 0..<rng.int(1...8) where out.count > 4 {
                    out[rng.int(4..<out.count)] ^= 1 << UInt8(rng.int(0..<8))
                }
            case 3: // overwrite the length prefix
                if out.count >= 4 {
                    let actual = UInt32(out.count - 4)
                    let choice = rng.pick([0, 1, actual &- 1, actual &+ 1, actual &+ 2, 0xFFFF_FFFF, 0x8000_0000, UInt32(maxFrameLength), UInt32(maxFrameLength + 1), UInt32(truncatingIfNeeded: rng.next())])
                    setLength(&out, choice)
                }
            case 4: // wrong type byte
                if out.count > 4 { out[4] = rng.chance(0.5) ? UInt8(rng.int(1...15)) : rng.byte() }
            case 5: // set a byte to an edge value
                if out.count > 4 { out[rng.int(4..<out.count)] = rng.pick([0x00, 0x01, 0x7F, 0x80, 0xC0, 0xFF]) }
            case 6: // insert garbage inside
                let at = rng.int(0...out.count)
                out.insert(contentsOf: rng.bytes(rng.int(1...20)), at: at)
            case 7: // delete a range
                let start = rng.int(0..<out.count)
                out.removeSubrange(start..<min(out.count, start + rng.int(1...16)))
            case 8: // garbage after the frame
                out += rng.bytes(rng.int(1...32))
            case 9: // splice with another frame
                let other = rng.pick(valid)
                out = Array(out.prefix(rng.int(0...out.count))) + Array(other.suffix(rng.int(0...other.count)))
            case 10: // invalid UTF-8 over some bytes of the body
                if out.count > 6 {
                    let bad = rng.pick(FuzzWire.invalidUTF8)
                    let at = rng.int(5..<out.count)
                    for (offset, byte) in bad.enumerated() where at + offset < out.count { out[at + offset] = byte }
                }
            case 11: // overwrite a 16-bit field with a huge count or length
                if out.count > 7 {
                    let at = rng.int(5..<(out.count - 1))
                    out[at] = 0xFF
                    out[at + 1] = rng.pick([0xFF, 0xFE, 0x00])
                }
            default: // repeat a chunk
                let start = rng.int(0..<out.count)
                let chunk = out[start..<min(out.count, start + rng.int(1...24))]
                out.insert(contentsOf: chunk, at: rng.int(0...out.count))
            }
        }
        return out
    }

    private func setLength(_ bytes: inout [UInt8], _ length: UInt32) {
        for index in 0..<4 { bytes[index] = UInt8(truncatingIfNeeded: length >> (24 - 8 * index)) }
    }
}

// MARK: Reference decoding

/// What the protocol decoder makes of a byte stream: the frames it yields, then a `ProtocolError`, leftover
/// bytes waiting for more, or a clean end. Also checks each decoded frame re-encodes to the same bytes (or,
/// where its text had characters replaced, to bytes that decode to the same frame).
struct FuzzDecoding: Sendable {
    var frames: [Frame] = []
    var protocolError: ProtocolError?
    /// An error of any other type: a bug (the decoder must only throw `ProtocolError`).
    var foreignError: String?
    var leftover = 0
    /// Frames whose re-encoding differs from the bytes they were decoded from.
    var roundTripFailures: [String] = []

    var isClean: Bool { protocolError == nil && foreignError == nil && leftover == 0 }

    static func decode(_ bytes: [UInt8], maxFrameLength: Int = ProtocolLimits.defaultMaxFrameLength) -> FuzzDecoding {
        var result = FuzzDecoding()
        let decoder = FrameDecoder(maxFrameLength: maxFrameLength)
        var buffer = ByteBuffer(bytes: bytes)
        while buffer.readableBytes > 0 {
            let start = buffer.readerIndex
            do {
                guard let frame = try decoder.nextFrame(&buffer) else {
                    result.leftover = buffer.readableBytes
                    break
                }
                result.frames.append(frame)
                let consumed = Array(bytes[start..<buffer.readerIndex]) // the buffer starts at reader index 0
                let reencoded = Array(frame.encoded().readableBytesView)
                var lossy = false
                if case let .error(error) = frame, error.code == .unknown { lossy = true }
                // Unprintable characters in text read as `?` (PrintableText), never making the text longer. Looked
                // for in the bytes: a `?` before a combining mark is part of a larger character.
                if frame.texts.contains(where: { $0.utf8.contains(UInt8(ascii: "?")) }), reencoded.count <= consumed.count { lossy = true }
                if !lossy, reencoded != consumed {
                    result.roundTripFailures.append("\(frame.kind) re-encodes to \(reencoded.count) bytes, not the \(consumed.count) it came from")
                } else {
                    var again = ByteBuffer(bytes: reencoded)
                    let redecoded = try? decoder.nextFrame(&again)
                    if redecoded != frame { result.roundTripFailures.append("\(frame.kind) does not decode back to itself") }
                }
            } catch let error as ProtocolError {
                result.protocolError = error
                break
            } catch {
                result.foreignError = "\(type(of: error)): \(error)"
                break
            }
        }
        return result
    }
}

/// Short hex of bytes for failure messages.
func fuzzHex(_ bytes: [UInt8], limit: Int = 96) -> String {
    let shown = bytes.prefix(limit).map { String(format: "%02x", $0) }.joined()
    return bytes.count > limit ? "\(shown)… (\(bytes.count) bytes)" : shown
}

/// A scratch folder in /dev/shm when that exists (no fsync cost), else under the temporary directory; removed on deinit.
final class FuzzScratchFolder: Sendable {
    let path: String

    init() throws {
        let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : FileManager.default.temporaryDirectory.path
        path = base + "/lanchat-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

extension Frame {
    /// Every string field of the frame.
    var texts: [String] {
        switch self {
        case let .hello(hello): [hello.name, hello.clientVersion]
        case let .welcome(welcome): [welcome.serverName, welcome.serverVersion] + welcome.online.map(\.name)
        case let .presence(presence): [presence.user.name]
        case let .lookup(lookup): [lookup.name]
        case let .lookupResult(result): [result.name]
        case let .send(send): send.wraps.map(\.recipient)
        case let .ack(ack): ack.missed
        case let .error(error): [error.reason]
        case let .bye(reason): [reason]
        case let .userList(list): list.users.map(\.user.name)
        case .deliver, .ping, .pong, .deliveryAck, .listUsers: []
        }
    }
}
