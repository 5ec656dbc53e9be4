import Foundation

/// One workload's figures, printed as a summary line or a JSON object.
struct Report {
    let workload: String
    private(set) var figures: [(key: String, value: any Sendable)] = []

    init(_ workload: String) {
        self.workload = workload
    }

    mutating func add(_ key: String, _ value: any Sendable) {
        figures.append((key, value))
    }

    func print(json: Bool) {
        let line: String
        if json {
            var object: [String: Any] = ["workload": workload]
            for (key, value) in figures { object[key] = value }
            let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            line = String(decoding: data, as: UTF8.self)
        } else {
            line = ([workload] + figures.map { "\($0.key)=\(Self.format($0.value))" }).joined(separator: " ")
        }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private static func format(_ value: Any) -> String {
        switch value {
        case let double as Double: String(format: double >= 100 ? "%.0f" : "%.3g", double)
        default: "\(value)"
        }
    }
}

/// Seconds since an arbitrary start, from a monotonic clock.
func monotonicNanoseconds() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}
