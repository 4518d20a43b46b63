public import Foundation
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
    public struct Entry: Sendable, Equatable {
        public var sources: [String]
        public var since: Date
        public var last: Date
        /// Whether the injection scanner found instructions in one of the sources.
        public var injected = false
    }

    private let table = Mutex<[String: Entry]>([:])
    /// The data classes each agent (and user) has read, with when it last read one.
    private let classes = Mutex<[String: (classes: Set<String>, last: Date)]>([:])
    public let lifetime: TimeInterval

    public init(lifetime: TimeInterval) {
        self.lifetime = lifetime
    }

    static func key(agentID: String, user: String?) -> String { agentID + "\u{0}" + (user ?? "") }

    /// Marks the agent (acting for `user`) tainted by `source`.
    public func taint(agentID: String, user: String?, source: String, injected: Bool = false, now: Date) {
        table.withLock { t in
            let k = Self.key(agentID: agentID, user: user)
            var e = t[k].flatMap { now.timeIntervalSince($0.last) <= lifetime ? $0 : nil } ?? Entry(sources: [], since: now, last: now)
            if !e.sources.contains(source) { e.sources.append(source) }
            if e.sources.count > 32 { e.sources.removeFirst(e.sources.count - 32) }
            if injected { e.injected = true }
            e.last = now
            t[k] = e
        }
    }

    /// The taint in force, or nil.
    public func entry(agentID: String, user: String?, now: Date) -> Entry? {
        table.withLock { t in
            let k = Self.key(agentID: agentID, user: user)
            guard let e = t[k] else { return nil }
            if now.timeIntervalSince(e.last) > lifetime {
                t.removeValue(forKey: k)
                return nil
            }
            return e
        }
    }

    /// The agent's taints in force, one per user it acts for (nil: on its own behalf).
    public func entries(agentID: String, now: Date) -> [(user: String?, entry: Entry)] {
        table.withLock { t in
            t.filter { $0.key.hasPrefix(agentID + "\u{0}") && now.timeIntervalSince($0.value.last) <= lifetime }
                .map { key, entry in
                    let user = String(key.dropFirst(agentID.count + 1))
                    return (user.isEmpty ? nil : user, entry)
                }
                .sorted { ($0.user ?? "") < ($1.user ?? "") }
        }
    }

    /// Notes that the agent (acting for `user`) read data of `dataClass`; it follows the agent's later calls for
    /// as long as taint would (``lifetime`` without new reads).
    public func noteRead(agentID: String, user: String?, dataClass: String, now: Date) {
        classes.withLock { t in
            let k = Self.key(agentID: agentID, user: user)
            var current = t[k].flatMap { now.timeIntervalSince($0.last) <= lifetime ? $0 : nil } ?? (classes: [], last: now)
            current.classes.insert(dataClass)
            current.last = now
            t[k] = current
        }
    }

    /// The data classes the agent (acting for `user`) has read, sorted.
    public func dataClasses(agentID: String, user: String?, now: Date) -> [String] {
        classes.withLock { t in
            let k = Self.key(agentID: agentID, user: user)
            guard let e = t[k] else { return [] }
            if now.timeIntervalSince(e.last) > lifetime {
                t.removeValue(forKey: k)
                return []
            }
            return e.classes.sorted()
        }
    }

    /// Clears every taint of an agent (for every user it acts for), and the data classes it has read; returns how
    /// many taints were cleared.
    @discardableResult
    public func clear(agentID: String) -> Int {
        classes.withLock { t in
            for k in t.keys where k.hasPrefix(agentID + "\u{0}") { t.removeValue(forKey: k) }
        }
        return table.withLock { t in
            let keys = t.keys.filter { $0.hasPrefix(agentID + "\u{0}") }
            for k in keys { t.removeValue(forKey: k) }
            return keys.count
        }
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
