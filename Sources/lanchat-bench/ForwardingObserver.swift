import LanChatProtocol
import NIOCore
import NIOConcurrencyHelpers

/// Lets clients connect before the workload's counter exists (it needs the clients to seal envelopes).
final class ForwardingObserver: BenchObserver {
    let target = NIOLockedValueBox<(any BenchObserver)?>(nil)

    /// The counter once it is set, for a receiver to keep (and skip this forwarder's lock per delivery).
    var resolved: (any BenchObserver)? { target.withLockedValue { $0 } }

    func delivered(_ frame: ByteBuffer, to client: BenchClient) {
        target.withLockedValue { $0 }?.delivered(frame, to: client)
    }

    func acknowledged(_ ack: Ack, by client: BenchClient) {
        target.withLockedValue { $0 }?.acknowledged(ack, by: client)
    }

    func refused(_ error: ErrorFrame, client: BenchClient) {
        target.withLockedValue { $0 }?.refused(error, client: client)
    }
}
