public import Foundation
public import PortcullisCore
import PortcullisIdentity

/// Registers agents and moves them through their lifecycle, recording who and why.
public struct AgentRegistry: Sendable {
    let agents: any AgentStore
    let tokens: any TokenStateStore
    let now: @Sendable () -> Date
    /// Where admin actions are recorded before they take effect (nil: not recorded).
    let audit: (any AuditSink)?
    /// Serializes this process's changes (see ``AsyncSerialQueue``).
    let changes = AsyncSerialQueue()
    /// Where changes are announced before a call returns (caches drop the agent and its tokens).
    let feed: (any ChangeFeed)?

    public init(agents: any AgentStore, tokens: any TokenStateStore, now: @escaping @Sendable () -> Date = { Date() },
                audit: (any AuditSink)? = nil, feed: (any ChangeFeed)? = nil) {
        self.feed = feed
        self.agents = agents
        self.tokens = tokens
        self.now = now
        self.audit = audit
    }

    /// What an owner supplies to register an agent.
    public struct Registration: Sendable, Codable {
        public var name: String
        public var owner: String
        public var purpose: String
        public var modelProvider: String
        public var model: String
        public var modelVersion: String
        public var publicKeys: [JSONAny]?
        public var configDigest: String?
        public var scopes: [String]?
        public var audiences: [String]?
        public var reviewCadenceDays: Int?
        public var maxSessionSeconds: Int?
        public var maxConcurrentSessions: Int?
        public var trustLevel: Int?
        public var requireDpop: Bool?
        /// Teams the agent belongs to (its `Team` parents in policies).
        public var teams: [String]?
    }

    /// Changes to an agent; absent fields stay as they are.
    public struct Update: Sendable, Codable {
        public var name: String?
        public var owner: String?
        public var purpose: String?
        public var modelProvider: String?
        public var model: String?
        public var modelVersion: String?
        public var publicKeys: [JSONAny]?
        public var configDigest: String?
        public var clearConfigDigest: Bool?
        public var scopes: [String]?
        public var audiences: [String]?
        public var reviewCadenceDays: Int?
        /// Marks the agent reviewed now: the next review date moves one cadence ahead.
        public var reviewed: Bool?
        public var maxSessionSeconds: Int?
        public var maxConcurrentSessions: Int?
        public var trustLevel: Int?
        public var requireDpop: Bool?
        public var teams: [String]?
        public var reason: String?
    }

    public func register(_ r: Registration, actor: String) async throws -> Agent {
        for (field, value) in [("name", r.name), ("owner", r.owner), ("purpose", r.purpose),
                               ("model_provider", r.modelProvider), ("model", r.model), ("model_version", r.modelVersion)]
        where value.trimmingCharacters(in: .whitespaces).isEmpty {
            throw PortcullisError(.invalidInput, "`\(field)` must not be empty")
        }
        let created = now()
        let agent = Agent(
            id: "agt_" + RandomToken.make(bytes: 12), name: r.name, owner: r.owner, purpose: r.purpose,
            modelProvider: r.modelProvider, modelName: r.model, modelVersion: r.modelVersion, createdAt: created,
            reviewCadenceDays: try Self.positive(r.reviewCadenceDays ?? 90, "review_cadence_days"),
            maxSessionSeconds: try Self.positive(r.maxSessionSeconds ?? 3600, "max_session_seconds"),
            maxConcurrentSessions: try Self.positive(r.maxConcurrentSessions ?? 10, "max_concurrent_sessions"),
            trustLevel: try Self.trust(r.trustLevel ?? 1), allowedScopes: try Self.scopes(r.scopes ?? []),
            allowedAudiences: try Self.audiences(r.audiences ?? []), publicKeys: try Self.keys(r.publicKeys ?? []),
            configDigest: try r.configDigest.map(Self.digest), requireDPoP: r.requireDpop ?? false,
            teams: try Self.teams(r.teams ?? []))
        try await audited("agent.register", agent, actor: actor, reason: "registered by \(actor)") {
            try await agents.create(agent, event: LifecycleEvent(agentID: agent.id, kind: .registered, actor: actor,
                                                                 reason: "registered by \(actor)", at: created))
        }
        return agent
    }

    /// Applies an update. The change is computed from the record as read and written only if the record
    /// is still that one (compare-and-set); a concurrent suspension, kill or decommission makes it
    /// start again from the new record, so an update never writes an old status back.
    public func update(id: String, _ u: Update, actor: String) async throws -> Agent {
        try await compareAndSet {
            let read = try await existing(id)
            let a = try apply(u, to: read)
            try await audited("agent.update", a, actor: actor, reason: u.reason ?? "updated by \(actor)") {
                try await agents.update(a, expected: read, event: LifecycleEvent(
                    agentID: id, kind: .updated, actor: actor, reason: u.reason ?? "updated by \(actor)",
                    details: Self.changedFields(read, a), at: a.updatedAt))
                await feed?.publish(.agent(id))
            }
            return a
        }
    }

    /// Runs a read–change–write in this process's change queue, and again from a fresh read (up to
    /// eight times) when the store's compare-and-set finds the record changed meanwhile.
    func compareAndSet<T: Sendable>(_ change: @escaping @Sendable () async throws -> T) async throws -> T {
        var attempts = 0
        while true {
            do {
                return try await changes.run(change)
            } catch let e as PortcullisError where e.code == .concurrentUpdate && attempts < 8 {
                attempts += 1
            }
        }
    }

    /// The record `u` makes of `read` (status untouched: only transitions change it).
    func apply(_ u: Update, to read: Agent) throws -> Agent {
        var a = read
        guard a.status != .decommissioned else {
            throw PortcullisError(.conflict, "agent `\(a.id)` is decommissioned and cannot be changed")
        }
        if let v = u.name { a.name = try Self.nonEmpty(v, "name") }
        if let v = u.owner { a.owner = try Self.nonEmpty(v, "owner") }
        if let v = u.purpose { a.purpose = try Self.nonEmpty(v, "purpose") }
        if let v = u.modelProvider { a.modelProvider = try Self.nonEmpty(v, "model_provider") }
        if let v = u.model { a.modelName = try Self.nonEmpty(v, "model") }
        if let v = u.modelVersion { a.modelVersion = try Self.nonEmpty(v, "model_version") }
        if let v = u.publicKeys { a.publicKeys = try Self.keys(v) }
        if let v = u.configDigest { a.configDigest = try Self.digest(v) }
        if u.clearConfigDigest == true { a.configDigest = nil }
        if let v = u.scopes { a.allowedScopes = try Self.scopes(v) }
        if let v = u.audiences { a.allowedAudiences = try Self.audiences(v) }
        if let v = u.reviewCadenceDays { a.reviewCadenceDays = try Self.positive(v, "review_cadence_days") }
        if u.reviewed == true { a.nextReviewAt = now().addingTimeInterval(Double(a.reviewCadenceDays) * 86_400) }
        if let v = u.maxSessionSeconds { a.maxSessionSeconds = try Self.positive(v, "max_session_seconds") }
        if let v = u.maxConcurrentSessions { a.maxConcurrentSessions = try Self.positive(v, "max_concurrent_sessions") }
        if let v = u.trustLevel { a.trustLevel = try Self.trust(v) }
        if let v = u.requireDpop { a.requireDPoP = v }
        if let v = u.teams { a.teams = try Self.teams(v) }
        a.updatedAt = Self.after(read.updatedAt, now())
        return a
    }

    /// The fields an update changed, as `{"changed":[…]}` (the governance reports date a key from the last change
    /// of `public_keys`).
    static func changedFields(_ old: Agent, _ new: Agent) -> String? {
        var changed: [String] = []
        if old.name != new.name { changed.append("name") }
        if old.owner != new.owner { changed.append("owner") }
        if old.purpose != new.purpose { changed.append("purpose") }
        if old.modelProvider != new.modelProvider || old.modelName != new.modelName || old.modelVersion != new.modelVersion {
            changed.append("model")
        }
        if old.publicKeys != new.publicKeys { changed.append("public_keys") }
        if old.configDigest != new.configDigest { changed.append("config_digest") }
        if old.allowedScopes != new.allowedScopes { changed.append("scopes") }
        if old.allowedAudiences != new.allowedAudiences { changed.append("audiences") }
        if old.reviewCadenceDays != new.reviewCadenceDays || old.nextReviewAt != new.nextReviewAt { changed.append("review") }
        if old.maxSessionSeconds != new.maxSessionSeconds || old.maxConcurrentSessions != new.maxConcurrentSessions {
            changed.append("limits")
        }
        if old.trustLevel != new.trustLevel { changed.append("trust_level") }
        if old.requireDPoP != new.requireDPoP { changed.append("require_dpop") }
        if old.teams != new.teams { changed.append("teams") }
        guard !changed.isEmpty, let data = try? JSONSerialization.data(withJSONObject: ["changed": changed]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A time strictly after `previous`, so that every write changes `updatedAt` (the compare-and-set's version).
    static func after(_ previous: Date, _ now: Date) -> Date {
        now > previous ? now : previous.addingTimeInterval(0.000_001)
    }

    /// A lifecycle transition requested by a person.
    public enum Transition: String, Sendable, CaseIterable {
        case suspend, resume, quarantine, decommission
        /// The kill switch (see ``PortcullisApplication/Services/kill(_:actor:reason:)``, which also acts at the gateway).
        case kill
    }

    /// `unless`, when given, is asked about the record as read inside the compare-and-set (again on every retry): a
    /// reason it returns refuses the transition (`conflict`). Automatic actions use it so that a decision made on an
    /// older read (an overdue review, an owner's active agents) never applies to an agent that changed meanwhile.
    public func transition(id: String, _ t: Transition, actor: String, reason: String,
                           unless: (@Sendable (Agent) -> String?)? = nil) async throws -> Agent {
        try PortcullisError.requireReason(reason)
        return try await compareAndSet { try await self.transitionOnce(id: id, t, actor: actor, reason: reason, unless: unless) }
    }

    private func transitionOnce(id: String, _ t: Transition, actor: String, reason: String,
                                unless: (@Sendable (Agent) -> String?)?) async throws -> Agent {
        let read = try await existing(id)
        if let refusal = unless?(read) { throw PortcullisError(.conflict, refusal) }
        var a = read
        let target: AgentStatus
        let kind: LifecycleEvent.Kind
        switch t {
        case .suspend: (target, kind) = (.suspended, .suspended)
        case .resume: (target, kind) = (.active, .resumed)
        case .quarantine: (target, kind) = (.quarantined, .quarantined)
        case .decommission: (target, kind) = (.decommissioned, .decommissioned)
        case .kill: (target, kind) = (.killed, .killed)
        }
        guard a.status != .decommissioned else {
            throw PortcullisError(.conflict, "agent `\(id)` is decommissioned; that is final")
        }
        guard a.status != target else { throw PortcullisError(.conflict, "agent `\(id)` is already \(target.rawValue)") }
        a.status = target
        a.updatedAt = Self.after(read.updatedAt, now())
        try await audited("agent.\(t.rawValue)", a, actor: actor, reason: reason) {
            try await agents.update(a, expected: read, event: LifecycleEvent(agentID: id, kind: kind, actor: actor, reason: reason,
                                                                             at: a.updatedAt))
            // In force on every cached path before this call returns.
            await feed?.publish(.agent(id))
            if !target.canAuthenticate {
                // Outstanding tokens die with the agent's standing.
                _ = try await tokens.revokeAll(agentID: id, at: a.updatedAt)
            }
        }
        return a
    }

    public func existing(_ id: String) async throws -> Agent {
        guard let a = try await agents.agent(id: id) else { throw PortcullisError(.notFound, "no agent `\(id)`") }
        return a
    }

    // MARK: - Validation

    static func nonEmpty(_ v: String, _ field: String) throws -> String {
        guard !v.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw PortcullisError(.invalidInput, "`\(field)` must not be empty")
        }
        return v
    }

    static func positive(_ v: Int, _ field: String) throws -> Int {
        guard v > 0 else { throw PortcullisError(.invalidInput, "`\(field)` must be positive") }
        return v
    }

    static func trust(_ v: Int) throws -> Int {
        guard (0...5).contains(v) else { throw PortcullisError(.invalidInput, "`trust_level` must be between 0 and 5") }
        return v
    }

    static func digest(_ v: String) throws -> String {
        let hex = v.lowercased()
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit }) else {
            throw PortcullisError(.invalidInput, "`config_digest` must be 64 hexadecimal characters (SHA-256)")
        }
        return hex
    }

    static func scopes(_ v: [String]) throws -> [String] {
        for s in v where s.isEmpty || s.contains(" ") || s.contains("\"") || s.contains("\\") {
            throw PortcullisError(.invalidInput, "scope `\(s)` is not a valid OAuth scope token")
        }
        return v
    }

    static func audiences(_ v: [String]) throws -> [String] {
        for s in v {
            guard let c = URLComponents(string: s), c.scheme != nil, c.host != nil, c.fragment == nil else {
                throw PortcullisError(.invalidInput, "audience `\(s)` must be an absolute URL without a fragment")
            }
        }
        return v
    }

    /// Public keys must be EC P-256 or OKP Ed25519 public JWKs; a private member is refused.
    static func keys(_ v: [JSONAny]) throws -> [JWKJSON] {
        try v.map { jwk in
            guard case .object(let members) = jwk else { throw PortcullisError(.invalidInput, "a public key must be a JWK object") }
            guard members["d"] == nil else {
                throw PortcullisError(.invalidInput, "a public key JWK must not contain the private member `d`")
            }
            do throws(OAuthError) {
                try AgentKeyValidation.validate(jwk: members)
            } catch {
                throw PortcullisError(.invalidInput, error.description)
            }
            let data = try JSONEncoder.canonical.encode(jwk)
            return JWKJSON(json: String(decoding: data, as: UTF8.self))
        }
    }

    /// Team names: 1–64 characters of letters, digits, `_`, `-`, `.`, `:`, `/`; no duplicates.
    static func teams(_ names: [String]) throws -> [String] {
        var seen = Set<String>()
        for n in names {
            guard !n.isEmpty, n.count <= 64, n.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-.:/".contains($0)) }) else {
                throw PortcullisError(.invalidInput, "team `\(n)` must be 1-64 characters of letters, digits, _ - . : /")
            }
            guard seen.insert(n).inserted else { throw PortcullisError(.invalidInput, "team `\(n)` is listed twice") }
        }
        return names
    }
}
