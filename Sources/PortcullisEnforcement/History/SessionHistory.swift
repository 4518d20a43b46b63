public import Foundation

/// What an agent, acting for a user, has done lately: the calls it was allowed to make, per tool and per effect, in
/// order, and the amounts it sent. Policies read it as `context.session.history` (docs/gateway.md, "Rules over the
/// session's history").
///
/// Kept like taint: per agent and the user it acts for, across MCP sessions, tokens and protocol generations, in
/// memory, until `taintSeconds` pass without a call (or the process restarts; issue #14 shares it across replicas).
/// A call is counted when it is allowed and before it is forwarded, so a call that fails upstream still counts.
public struct HistorySnapshot: Sendable, Equatable {
    /// Calls per tool (`upstream.tool`, or `upstream:METHOD /path` for the HTTP gateway).
    public var counts: [String: Int] = [:]
    /// Calls per effect (`read`, `write`, `destructive`).
    public var effects: [String: Int] = [:]
    /// The last calls, oldest first (at most ``SessionHistory/recentLimit``).
    public var recent: [String] = []
    /// The sum of the integer `amount` argument (or `body.amount` for the HTTP gateway) of each call, per tool.
    public var amounts: [String: Int64] = [:]
    /// Increases with every counted call: a decision that read an older history is retried, not trusted.
    public var version = 0

    public init(counts: [String: Int] = [:], effects: [String: Int] = [:], recent: [String] = [],
                amounts: [String: Int64] = [:], version: Int = 0) {
        self.counts = counts
        self.effects = effects
        self.recent = recent
        self.amounts = amounts
        self.version = version
    }

    public var amountTotal: Int64 { amounts.values.reduce(0, &+) }
}

public final class SessionHistory: Sendable {
    /// How many of the last calls `recent` keeps.
    public static let recentLimit = 16
    /// At most this many distinct tools are counted per agent and user (a bound on memory).
    public static let toolLimit = 1_000

    struct Book: LapsingBook {
        var snapshot = HistorySnapshot()
        var last: Date
    }

    private let books: AgentBooks<Book>
    public let lifetime: TimeInterval

    public init(lifetime: TimeInterval) {
        self.lifetime = lifetime
        books = AgentBooks(lifetime: lifetime)
    }

    /// The history in force for the agent acting for `user`.
    public func snapshot(agentID: String, user: String?, now: Date) -> HistorySnapshot {
        books.book(agentID: agentID, user: user, now: now)?.snapshot ?? HistorySnapshot()
    }

    /// Counts an allowed call. With `decidedOn` (the history the decision read), only if no call of the same tool,
    /// or of the same effect other than read, was counted meanwhile: a concurrent call could otherwise slip past a
    /// limit such as "at most three refunds" (returns false then, and counts nothing). Concurrent reads never clash.
    public func record(tool: String, effect: String, amount: Int64?, agentID: String, user: String?, now: Date,
                       decidedOn: HistorySnapshot? = nil) -> Bool {
        books.modify(agentID: agentID, user: user, now: now) { current in
            var b = current ?? Book(last: now)
            if let decidedOn {
                if b.snapshot.counts[tool, default: 0] != decidedOn.counts[tool, default: 0] { return false }
                if effect != "read", b.snapshot.effects[effect, default: 0] != decidedOn.effects[effect, default: 0] { return false }
            }
            if b.snapshot.counts[tool] != nil || b.snapshot.counts.count < Self.toolLimit {
                b.snapshot.counts[tool, default: 0] += 1
                if let amount { b.snapshot.amounts[tool, default: 0] &+= amount }
            }
            b.snapshot.effects[effect, default: 0] += 1
            b.snapshot.recent.append(tool)
            if b.snapshot.recent.count > Self.recentLimit { b.snapshot.recent.removeFirst(b.snapshot.recent.count - Self.recentLimit) }
            b.snapshot.version += 1
            b.last = now
            current = b
            return true
        }
    }

    /// Forgets an agent's history (every user it acts for).
    public func clear(agentID: String) {
        books.clear(agentID: agentID)
    }
}
