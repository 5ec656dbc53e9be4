import NIOConcurrencyHelpers

/// The relay's database work, run off the event loops: a stopping server lets it finish before it stops the
/// loops, on which the work's answers complete (and writes nobody waits for otherwise, such as the held
/// deliveries of a connection that ended, get done).
final class DatabaseTasks: Sendable {
    private struct Running {
        var next = 0
        var tasks: [Int: Task<Void, Never>] = [:]
    }

    private let running = NIOLockedValueBox(Running())

    /// Runs `work` in a task of its own, until it ends or `waitForAll` has waited for it.
    func run(_ work: @escaping @Sendable () async -> Void) {
        running.withLockedValue { running in
            let id = running.next
            running.next += 1
            // The task removes itself under the same lock, so after this insertion.
            running.tasks[id] = Task {
                await work()
                _ = self.running.withLockedValue { $0.tasks.removeValue(forKey: id) }
            }
        }
    }

    /// Waits for all the work started so far.
    func waitForAll() async {
        for task in running.withLockedValue({ Array($0.tasks.values) }) { await task.value }
    }
}
