import Foundation
import Synchronization

/// A clock that moves only when a test says so.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Fixtures.epoch) {
        current = Mutex(start)
    }

    /// The current time.
    func now() -> Date {
        current.withLock { $0 }
    }

    /// Moves the clock forward.
    func advance(by interval: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(interval) }
    }
}
