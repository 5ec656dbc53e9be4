import LanChatCrypto
import NIOCore

/// Creates many simulated clients with deterministic keys (so a rerun finds their names already bound).
enum Fleet {
    static func key(for name: String) throws -> PrivateKey {
        try PrivateKey(rawRepresentation: SHA256.hash(Array("lanchat-bench key \(name)".utf8)))
    }

    /// Connects `names` with at most `parallel` handshakes in flight.
    static func connect(_ names: [String], to target: BenchTarget, group: any EventLoopGroup, observer: (any BenchObserver)?, parallel: Int = 64) async throws -> [BenchClient] {
        try await connect(names, to: target.address, group: group, observer: observer, parallel: parallel)
    }

    static func connect(_ names: [String], to address: SocketAddress, group: any EventLoopGroup, observer: (any BenchObserver)?, parallel: Int = 64) async throws -> [BenchClient] {
        var clients: [BenchClient] = []
        clients.reserveCapacity(names.count)
        var index = 0
        while index < names.count {
            let batch = names[index..<min(index + parallel, names.count)]
            let connected = try await withThrowingTaskGroup(of: (Int, BenchClient).self) { tasks in
                for (offset, name) in batch.enumerated() {
                    tasks.addTask {
                        (offset, try await BenchClient.connect(name: name, key: key(for: name), to: address, group: group, observer: observer))
                    }
                }
                var result: [(Int, BenchClient)] = []
                for try await item in tasks { result.append(item) }
                return result.sorted { $0.0 < $1.0 }.map(\.1)
            }
            clients += connected
            index += parallel
        }
        return clients
    }
}
