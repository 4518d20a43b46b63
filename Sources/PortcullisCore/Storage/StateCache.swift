public import Foundation
import Synchronization

/// Agents and issued-token records in memory, for the token check on every gateway request.
///
/// Entries are read through from the store on a miss and dropped when the ``ChangeFeed`` says they
/// changed; a read that raced a change is not cached (a generation counter), so the cache never
/// holds something older than the last change it was told of. A store error is thrown, never
/// turned into a default. After a restart the cache is empty and state comes from the store.
public final class StateCache: Sendable {
    struct Tables {
        var agents: [String: Agent] = [:]
        var tokens: [String: IssuedToken] = [:]
        /// Agents announced killed whose store record may not say so yet (the kill switch acts before the store):
        /// read as killed until the next change to their record is announced.
        var killed: Set<String> = []
        /// Bumped by every invalidation; a read-through result is kept only if nothing changed meanwhile.
        var generation: UInt64 = 0
    }

    let agents: any AgentStore
    let tokens: any TokenStateStore
    let feed: any ChangeFeed
    /// Beyond this many entries a table is emptied (cheap, and rare: entries are small and few).
    let capacity: Int
    private let tables = Mutex(Tables())
    private let hits = Mutex((hits: 0, misses: 0))

    public init(agents: any AgentStore, tokens: any TokenStateStore, feed: any ChangeFeed, capacity: Int = 100_000) {
        self.agents = agents
        self.tokens = tokens
        self.capacity = capacity
        self.feed = feed
        feed.subscribe { [weak self] change in self?.invalidate(change) }
    }

    /// The agent, from memory or the store; an agent announced killed reads as killed at once.
    public func agent(id: String) async throws -> Agent? {
        var agent = try await readThrough(id, \.agents) { try await self.agents.agent(id: id) }
        if agent != nil, tables.withLock({ $0.killed.contains(id) }) { agent!.status = .killed }
        return agent
    }

    /// The issued token's record, from memory or the store.
    public func issued(jti: String) async throws -> IssuedToken? {
        try await readThrough(jti, \.tokens) { try await self.tokens.issued(jti: jti) }
    }

    /// The entry of `table` at `key`, else what `load` reads, kept only if no change came meanwhile.
    private func readThrough<Value: Sendable>(_ key: String, _ table: WritableKeyPath<Tables, [String: Value]>,
                                              load: () async throws -> Value?) async throws -> Value? {
        // A cache whose feed is cut off may hold a killed agent as active: nothing is served, from memory or not.
        try feed.vouch()
        let (cached, generation) = tables.withLock { ($0[keyPath: table][key], $0.generation) }
        if let cached {
            hits.withLock { $0.hits += 1 }
            return cached
        }
        hits.withLock { $0.misses += 1 }
        guard let loaded = try await load() else { return nil }
        tables.withLock { t in
            guard t.generation == generation else { return }
            if t[keyPath: table].count >= capacity { t[keyPath: table].removeAll(keepingCapacity: true) }
            t[keyPath: table][key] = loaded
        }
        return loaded
    }

    /// Drops what a change makes stale.
    public func invalidate(_ change: StateChange) {
        tables.withLock { t in
            t.generation &+= 1
            switch change {
            case .agent(let id):
                t.agents.removeValue(forKey: id)
                t.killed.remove(id)
                // Its tokens may have been revoked with it.
                t.tokens = t.tokens.filter { $0.value.agentID != id }
            case .killed(let ids):
                for id in ids { t.agents.removeValue(forKey: id) }
                t.killed.formUnion(ids)
                let set = Set(ids)
                t.tokens = t.tokens.filter { !set.contains($0.value.agentID) }
            case .token(let jti):
                t.tokens.removeValue(forKey: jti)
            case .all:
                t.agents.removeAll()
                t.tokens.removeAll()
            case .policies, .tool, .approval, .taint, .risk:
                break
            }
        }
    }

    /// Cache hits and misses so far.
    public var statistics: (hits: Int, misses: Int) { hits.withLock { $0 } }
}
