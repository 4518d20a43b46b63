import Foundation
import PortcullisCore

/// Whether two dates agree to the millisecond, the precision the store promises.
///
/// Dates are stored as unix seconds; one built by `Date` arithmetic (which counts
/// from 2001) may read back a rounding step (under a microsecond) away.
func sameMillisecond(_ a: Date, _ b: Date) -> Bool {
    abs(a.timeIntervalSince(b)) < 0.001
}

extension Agent {
    /// Whether every date of the agent agrees with `other`'s to the millisecond.
    func datesMatch(_ other: Agent) -> Bool {
        sameMillisecond(createdAt, other.createdAt) && sameMillisecond(nextReviewAt, other.nextReviewAt)
            && sameMillisecond(updatedAt, other.updatedAt)
    }

    /// This agent with `other`'s dates, so that every other field can be compared exactly.
    func withDates(of other: Agent) -> Agent {
        var agent = self
        agent.createdAt = other.createdAt
        agent.nextReviewAt = other.nextReviewAt
        agent.updatedAt = other.updatedAt
        return agent
    }
}
