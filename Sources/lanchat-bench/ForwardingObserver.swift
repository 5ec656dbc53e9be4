import LanChatProtocol
import NIOCore
import NIOConcurrencyHelpers

/// Lets clients connect before the workload's counter exists (it needs the clients to seal envelopes).
final class ForwardingObserver: BenchObserver {
    private struct State {
        var target: (any BenchObserver)?
        /// The first client whose connection closed before there was a target to tell.
        var lostEarly: BenchClient?
    }

    private let state = NIOLockedValueBox(State())

    /// The counter once it is set, for a receiver to keep (and skip this forwarder's lock per delivery).
    var resolved: (any BenchObserver)? { state.withLockedValue { $0.target } }

    /// Forwards to `target` from now on, and tells it at once of a connection that closed before.
    func attach(_ target: any BenchObserver) {
        let lost = state.withLockedValue { state in
            state.target = target
            return state.lostEarly
        }
        if let lost { target.disconnected(lost) }
    }

    func delivered(_ frame: ByteBuffer, to client: BenchClient) {
        resolved?.delivered(frame, to: client)
    }

    func acknowledged(_ ack: Ack, by client: BenchClient) {
        resolved?.acknowledged(ack, by: client)
    }

    func refused(_ error: ErrorFrame, client: BenchClient) {
        resolved?.refused(error, client: client)
    }

    func disconnected(_ client: BenchClient) {
        let target = state.withLockedValue { state in
            if state.target == nil, state.lostEarly == nil { state.lostEarly = client }
            return state.target
        }
        target?.disconnected(client)
    }
}
