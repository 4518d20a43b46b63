public import Foundation

/// An AI agent's identity record: who it is, who owns it, what it may ask for.
///
/// Agents act like users but scale like workloads; this record is what makes an
/// agent a first-class, reviewable identity instead of a shared API key.
public struct Agent: Sendable, Codable, Equatable, Identifiable {
    /// The unique id (`agt_…`), also the OAuth `client_id`.
    public var id: String
    public var name: String
    /// The accountable person or team.
    public var owner: String
    /// What the agent was deployed to do, in words; it reaches policies and tokens.
    public var purpose: String
    public var modelProvider: String
    public var modelName: String
    public var modelVersion: String
    public var createdAt: Date
    /// How often the owner must review the agent.
    public var reviewCadenceDays: Int
    public var nextReviewAt: Date
    /// Upper bound for any token's lifetime, in seconds.
    public var maxSessionSeconds: Int
    /// How many access tokens may be valid at once.
    public var maxConcurrentSessions: Int
    /// 0 (untrusted) to 5 (fully trusted); policies read it.
    public var trustLevel: Int
    /// Scopes the agent may be granted; requests are intersected with these.
    public var allowedScopes: [String]
    /// Resource servers (RFC 8707 `resource` values) tokens may be issued for.
    public var allowedAudiences: [String]
    /// The agent's public keys as JWK JSON objects (private_key_jwt and DPoP).
    public var publicKeys: [JWKJSON]
    /// Pinned SHA-256 (hex) of the canonical configuration; nil when none is pinned.
    public var configDigest: String?
    /// Whether tokens must be DPoP-bound (sender-constrained).
    public var requireDPoP: Bool
    /// Teams the agent belongs to; policies see them as the agent's `Team` parents.
    public var teams: [String]
    public var status: AgentStatus
    public var updatedAt: Date

    public init(id: String, name: String, owner: String, purpose: String, modelProvider: String, modelName: String,
                modelVersion: String, createdAt: Date, reviewCadenceDays: Int = 90, nextReviewAt: Date? = nil,
                maxSessionSeconds: Int = 3600, maxConcurrentSessions: Int = 10, trustLevel: Int = 1,
                allowedScopes: [String] = [], allowedAudiences: [String] = [], publicKeys: [JWKJSON] = [],
                configDigest: String? = nil, requireDPoP: Bool = false, teams: [String] = [],
                status: AgentStatus = .active) {
        self.id = id
        self.name = name
        self.owner = owner
        self.purpose = purpose
        self.modelProvider = modelProvider
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.createdAt = createdAt
        self.reviewCadenceDays = reviewCadenceDays
        self.nextReviewAt = nextReviewAt ?? createdAt.addingTimeInterval(Double(reviewCadenceDays) * 86_400)
        self.maxSessionSeconds = maxSessionSeconds
        self.maxConcurrentSessions = maxConcurrentSessions
        self.trustLevel = trustLevel
        self.allowedScopes = allowedScopes
        self.allowedAudiences = allowedAudiences
        self.publicKeys = publicKeys
        self.configDigest = configDigest
        self.requireDPoP = requireDPoP
        self.teams = teams
        self.status = status
        self.updatedAt = createdAt
    }

    /// The OAuth client id: the agent id.
    public var clientID: String { id }

    /// Keys chosen so that snake_case JSON reads naturally (`model`, `require_dpop`).
    enum CodingKeys: String, CodingKey {
        case id, name, owner, purpose, modelProvider
        case modelName = "model"
        case modelVersion, createdAt, reviewCadenceDays, nextReviewAt, maxSessionSeconds, maxConcurrentSessions
        case trustLevel, allowedScopes, allowedAudiences, publicKeys, configDigest
        case requireDPoP = "requireDpop"
        case teams, status, updatedAt
    }
}

/// Where an agent is in its lifecycle.
public enum AgentStatus: String, Sendable, Codable, CaseIterable {
    case active
    case suspended
    case quarantined
    case decommissioned
    /// Stopped by the kill switch; only an explicit resume brings it back.
    case killed

    /// Whether the agent may obtain and use tokens.
    public var canAuthenticate: Bool { self == .active }
}

/// A JWK kept as its JSON text, so that nothing of the owner's key is lost.
public struct JWKJSON: Sendable, Codable, Equatable, Hashable {
    /// The JWK as a JSON object text.
    public var json: String

    public init(json: String) {
        self.json = json
    }

    public init(from decoder: any Decoder) throws {
        // Accept either an embedded JSON object or a string holding one.
        if let s = try? decoder.singleValueContainer().decode(String.self) {
            json = s
            return
        }
        let any = try decoder.singleValueContainer().decode(JSONAny.self)
        json = String(decoding: try JSONEncoder.canonical.encode(any), as: UTF8.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        let value = try JSONDecoder().decode(JSONAny.self, from: Data(json.utf8))
        try c.encode(value)
    }
}
