public import Foundation

/// Which agents have read untrusted input, per agent and the user it acts for.
///
/// Taint is not a property of a session or a token: re-initializing, asking for a new token or
/// switching protocol generation keeps it, because all of those are keyed by the same agent and
/// user. Taint ends when `taintSeconds` pass without new untrusted input (the default is eight
/// hours), when an administrator clears it after review (`portcullis agent clear-taint ID --reason`,
/// recorded first), or when the process restarts (the ledger lives in memory; see docs/architecture.md).
public final class TaintLedger: Sendable {
    /// One agent's (and user's) taint.
    public struct Entry: Sendable, Equatable, LapsingBook {
        public var sources: [String]
        public var since: Date
        public var last: Date
        /// Whether the injection scanner found instructions in one of the sources.
        public var injected = false
    }

    /// The data classes an agent (and user) has read, with when it last read one.
    struct Classes: LapsingBook {
        var classes: Set<String>
        var last: Date
    }

    private let table: AgentBooks<Entry>
    private let classes: AgentBooks<Classes>
    public let lifetime: TimeInterval

    public init(lifetime: TimeInterval) {
        self.lifetime = lifetime
        table = AgentBooks(lifetime: lifetime)
        classes = AgentBooks(lifetime: lifetime)
    }

    /// Marks the agent (acting for `user`) tainted by `source`.
    public func taint(agentID: String, user: String?, source: String, injected: Bool = false, now: Date) {
        table.modify(agentID: agentID, user: user, now: now) { entry in
            var e = entry ?? Entry(sources: [], since: now, last: now)
            if !e.sources.contains(source) { e.sources.append(source) }
            if e.sources.count > 32 { e.sources.removeFirst(e.sources.count - 32) }
            if injected { e.injected = true }
            e.last = now
            entry = e
        }
    }

    /// The taint in force, or nil.
    public func entry(agentID: String, user: String?, now: Date) -> Entry? {
        table.book(agentID: agentID, user: user, now: now)
    }

    /// The agent's taints in force, one per user it acts for (nil: on its own behalf).
    public func entries(agentID: String, now: Date) -> [(user: String?, entry: Entry)] {
        table.books(agentID: agentID, now: now).map { ($0.user, $0.book) }
    }

    /// Notes that the agent (acting for `user`) read data of `dataClass`; it follows the agent's later calls for
    /// as long as taint would (``lifetime`` without new reads).
    public func noteRead(agentID: String, user: String?, dataClass: String, now: Date) {
        classes.modify(agentID: agentID, user: user, now: now) { book in
            var current = book ?? Classes(classes: [], last: now)
            current.classes.insert(dataClass)
            current.last = now
            book = current
        }
    }

    /// The data classes the agent (acting for `user`) has read, sorted.
    public func dataClasses(agentID: String, user: String?, now: Date) -> [String] {
        classes.book(agentID: agentID, user: user, now: now)?.classes.sorted() ?? []
    }

    /// Clears every taint of an agent (for every user it acts for), and the data classes it has read; returns how
    /// many taints were cleared.
    @discardableResult
    public func clear(agentID: String) -> Int {
        classes.clear(agentID: agentID)
        return table.clear(agentID: agentID)
    }

    /// Fills the taint part of a session snapshot.
    public func apply(to snapshot: inout SessionSnapshot, agentID: String, user: String?, now: Date) {
        for c in dataClasses(agentID: agentID, user: user, now: now) where !snapshot.dataClasses.contains(c) {
            snapshot.dataClasses.append(c)
        }
        guard let e = entry(agentID: agentID, user: user, now: now) else { return }
        snapshot.tainted = true
        if e.injected { snapshot.injected = true }
        for s in e.sources where !snapshot.taintSources.contains(s) { snapshot.taintSources.append(s) }
    }
}
