public import Foundation
public import PortcullisCore
import Synchronization

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

    private let announcer = Mutex<(@Sendable (TaintChange) -> Void)?>(nil)
    /// When each (agent, user)'s taint was last announced, to renew it elsewhere before it lapses there.
    private let announced = Mutex<[String: Date]>([:])
    private let table: AgentBooks<Entry>
    private let classes: AgentBooks<Classes>
    public let lifetime: TimeInterval

    public init(lifetime: TimeInterval) {
        self.lifetime = lifetime
        table = AgentBooks(lifetime: lifetime)
        classes = AgentBooks(lifetime: lifetime)
    }

    /// Where changes are announced (to the other replicas); set once by the server.
    public func onChange(_ announce: @escaping @Sendable (TaintChange) -> Void) {
        announcer.withLock { $0 = announce }
    }

    /// Marks the agent (acting for `user`) tainted by `source`.
    public func taint(agentID: String, user: String?, source: String, injected: Bool = false, now: Date) {
        taint(agentID: agentID, user: user, source: source, injected: injected, now: now, announce: true)
    }

    private func taint(agentID: String, user: String?, source: String, injected: Bool, now: Date, announce: Bool) {
        let news = table.modify(agentID: agentID, user: user, now: now) { entry -> Bool in
            var e = entry ?? Entry(sources: [], since: now, last: now)
            let news = entry == nil || !e.sources.contains(source) || (injected && !e.injected)
            if !e.sources.contains(source) { e.sources.append(source) }
            if e.sources.count > 32 { e.sources.removeFirst(e.sources.count - 32) }
            if injected { e.injected = true }
            e.last = now
            entry = e
            return news
        }
        if announce {
            self.announce(TaintChange(agentID: agentID, user: user, kind: .source(source, injected: injected)), news: news,
                          key: agentID + "\u{0}" + (user ?? "") + "\u{0}" + source, now: now)
        }
    }

    /// Announces a change to the other replicas: a new fact at once, a renewal only when the others' copy is a
    /// quarter of its way to lapsing.
    private func announce(_ change: TaintChange, news: Bool, key: String, now: Date) {
        guard let announcer = announcer.withLock({ $0 }) else { return }
        let due = announced.withLock { table -> Bool in
            if !news, let at = table[key], now.timeIntervalSince(at) < lifetime / 4 { return false }
            if table.count > 100_000 { table.removeAll() }
            table[key] = now
            return true
        }
        if due { announcer(change) }
    }

    /// Applies a change announced by another replica (not announced again).
    public func apply(_ change: TaintChange, now: Date) {
        switch change.kind {
        case .source(let source, let injected):
            taint(agentID: change.agentID, user: change.user, source: source, injected: injected, now: now, announce: false)
        case .read(let dataClass):
            noteRead(agentID: change.agentID, user: change.user, dataClass: dataClass, now: now, announce: false)
        case .cleared:
            clear(agentID: change.agentID, announce: false)
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
        noteRead(agentID: agentID, user: user, dataClass: dataClass, now: now, announce: true)
    }

    private func noteRead(agentID: String, user: String?, dataClass: String, now: Date, announce: Bool) {
        let news = classes.modify(agentID: agentID, user: user, now: now) { book -> Bool in
            var current = book ?? Classes(classes: [], last: now)
            let news = current.classes.insert(dataClass).inserted
            current.last = now
            book = current
            return news
        }
        if announce {
            self.announce(TaintChange(agentID: agentID, user: user, kind: .read(dataClass)), news: news,
                          key: agentID + "\u{0}" + (user ?? "") + "\u{0}class\u{0}" + dataClass, now: now)
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
        clear(agentID: agentID, announce: true)
    }

    @discardableResult
    private func clear(agentID: String, announce: Bool) -> Int {
        classes.clear(agentID: agentID)
        let cleared = table.clear(agentID: agentID)
        let prefix = agentID + "\u{0}"
        announced.withLock { table in table = table.filter { !$0.key.hasPrefix(prefix) } }
        if announce, let announcer = announcer.withLock({ $0 }) {
            announcer(TaintChange(agentID: agentID, user: nil, kind: .cleared))
        }
        return cleared
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
