public import Foundation
import Synchronization

/// A clock that moves only when told (`testing.manualClock`), for the monitor and approvals in tests.
public final class ManualClock: Sendable {
    private let current: Mutex<Date>

    public init(start: Date) {
        current = Mutex(start)
    }

    public var now: Date { current.withLock { $0 } }

    public func set(_ date: Date) { current.withLock { $0 = date } }

    public func advance(_ seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }

    public static func parse(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601)) ?? ISO8601DateFormatter().date(from: text)
    }
}
