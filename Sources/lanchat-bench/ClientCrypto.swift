import ArgumentParser
import Foundation
import LanChatCrypto

extension LanChatBench {
    struct ClientCrypto: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "client-crypto",
            abstract: "Seals and opens per second for 1, 10, 100 and 1000 recipients (256-byte plaintexts; opens on one thread)."
        )

        @Option(help: "Recipient counts to measure.")
        var recipients: [Int] = [1, 10, 100, 1000]

        @Flag(help: "Compute each envelope's wraps on one thread (by default a large envelope's use every core).")
        var sealOnOneThread = false

        @Option(help: "Seconds to spend on each measurement.")
        var seconds = 1.0

        @Flag(help: "Print JSON instead of a summary line.")
        var json = false

        func validate() throws {
            guard !recipients.isEmpty, recipients.allSatisfy({ (1...10_000).contains($0) }) else {
                throw ValidationError("recipients 1-10000 (each count given)")
            }
            guard seconds > 0, seconds <= 600 else { throw ValidationError("seconds: more than 0 and at most 600") }
        }

        func run() async throws {
            let sender = try PrivateKey()
            let sealer = EnvelopeSealer(senderName: "sender", identity: sender, parallel: !sealOnOneThread)
            for count in recipients {
                let keys = try (0..<count).map { _ in try PrivateKey() }
                let targets = keys.enumerated().map { EnvelopeRecipient(name: "r\($0.offset)", publicKey: $0.element.publicKey) }
                _ = try sealer.seal(SealedTraffic.plaintext, kind: .broadcast, to: targets) // warms the static DH cache, as in a running client

                var sealed: [SealedEnvelope] = []
                let sealSeconds = try measure(seconds) { sealed.append(try sealer.seal(SealedTraffic.plaintext, kind: .broadcast, to: targets)) }
                let opener = EnvelopeOpener(recipientName: "r0", identity: keys[0])
                _ = try opener.open(header: sealed[0].header, body: sealed[0].body, wrap: sealed[0].wraps[0].wrap)
                var index = 0
                let openSeconds = try measure(seconds) {
                    let envelope = sealed[index % sealed.count]
                    index += 1
                    let opened = try opener.open(header: envelope.header, body: envelope.body, wrap: envelope.wraps[0].wrap)
                    guard opened.plaintext == SealedTraffic.plaintext else { throw BenchError.setup("an envelope opened to the wrong plaintext") }
                }

                var report = Report("client-crypto")
                report.add("recipients", count)
                report.add("seal_threads", sealOnOneThread ? "1" : "cores")
                report.add("seals_per_s", Double(sealSeconds.iterations) / sealSeconds.elapsed)
                report.add("seal_ms", 1000 * sealSeconds.elapsed / Double(sealSeconds.iterations))
                report.add("opens_per_s", Double(openSeconds.iterations) / openSeconds.elapsed)
                report.add("open_us", 1e6 * openSeconds.elapsed / Double(openSeconds.iterations))
                report.print(json: json)
            }
        }

        /// Runs `body` repeatedly for about `seconds`.
        private func measure(_ seconds: Double, _ body: () throws -> Void) throws -> (iterations: Int, elapsed: Double) {
            let start = monotonicNanoseconds()
            var iterations = 0
            repeat {
                try body()
                iterations += 1
            } while Double(monotonicNanoseconds() - start) / 1e9 < seconds
            return (iterations, Double(monotonicNanoseconds() - start) / 1e9)
        }
    }
}
