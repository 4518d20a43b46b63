public import PortcullisCore

/// `gateway.approvals`: how long a pending call waits and how long an approval lives.
public struct ApprovalSettings: Sendable, Codable, Equatable {
    /// How long a call needing approval waits for a decision before failing with the approval id (default 20 s).
    public var waitSeconds: Double?
    /// How long an approval request (and an approval not yet used) stays valid (default 600 s).
    public var expirySeconds: Double?

    public init(waitSeconds: Double? = nil, expirySeconds: Double? = nil) {
        self.waitSeconds = waitSeconds
        self.expirySeconds = expirySeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case waitSeconds, expirySeconds }

    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "approvals")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        waitSeconds = try c.decodeIfPresent(Double.self, forKey: .waitSeconds)
        expirySeconds = try c.decodeIfPresent(Double.self, forKey: .expirySeconds)
    }

    public var effectiveWaitSeconds: Double { waitSeconds ?? 20 }
    public var effectiveExpirySeconds: Double { expirySeconds ?? 600 }
}

/// `gateway.monitoring`: the behavioural detectors (docs/response.md).
public struct MonitoringSettings: Sendable, Codable, Equatable {
    public var enabled: Bool?
    /// Calls before the first-time-tool and off-hours detectors fire (default 200).
    public var learningCalls: Int?
    public var burstFactor: Double?
    public var burstMinimum: Int?
    public var offHoursShare: Double?
    public var denySpikeRatio: Double?
    public var denySpikeMinimum: Int?
    public var exfilFactor: Double?
    public var exfilMinimumBytes: Int?
    public var riskHalfLifeSeconds: Double?
    /// Alerts are POSTed here as JSON.
    public var webhook: String?

    public init(enabled: Bool? = nil, learningCalls: Int? = nil, burstFactor: Double? = nil, burstMinimum: Int? = nil,
                offHoursShare: Double? = nil, denySpikeRatio: Double? = nil, denySpikeMinimum: Int? = nil,
                exfilFactor: Double? = nil, exfilMinimumBytes: Int? = nil, riskHalfLifeSeconds: Double? = nil,
                webhook: String? = nil) {
        self.enabled = enabled
        self.learningCalls = learningCalls
        self.burstFactor = burstFactor
        self.burstMinimum = burstMinimum
        self.offHoursShare = offHoursShare
        self.denySpikeRatio = denySpikeRatio
        self.denySpikeMinimum = denySpikeMinimum
        self.exfilFactor = exfilFactor
        self.exfilMinimumBytes = exfilMinimumBytes
        self.riskHalfLifeSeconds = riskHalfLifeSeconds
        self.webhook = webhook
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, learningCalls, burstFactor, burstMinimum, offHoursShare, denySpikeRatio, denySpikeMinimum
        case exfilFactor, exfilMinimumBytes, riskHalfLifeSeconds, webhook
    }

    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "monitoring")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled)
        learningCalls = try c.decodeIfPresent(Int.self, forKey: .learningCalls)
        burstFactor = try c.decodeIfPresent(Double.self, forKey: .burstFactor)
        burstMinimum = try c.decodeIfPresent(Int.self, forKey: .burstMinimum)
        offHoursShare = try c.decodeIfPresent(Double.self, forKey: .offHoursShare)
        denySpikeRatio = try c.decodeIfPresent(Double.self, forKey: .denySpikeRatio)
        denySpikeMinimum = try c.decodeIfPresent(Int.self, forKey: .denySpikeMinimum)
        exfilFactor = try c.decodeIfPresent(Double.self, forKey: .exfilFactor)
        exfilMinimumBytes = try c.decodeIfPresent(Int.self, forKey: .exfilMinimumBytes)
        riskHalfLifeSeconds = try c.decodeIfPresent(Double.self, forKey: .riskHalfLifeSeconds)
        webhook = try c.decodeIfPresent(String.self, forKey: .webhook)
    }

    /// Every threshold with its default filled in.
    public struct Effective: Sendable {
        public var enabled = true
        public var learningCalls = 200
        public var burstFactor = 5.0
        public var burstMinimum = 30
        public var offHoursShare = 0.02
        public var denySpikeRatio = 0.5
        public var denySpikeMinimum = 10
        public var exfilFactor = 10.0
        public var exfilMinimumBytes = 1 << 20
        public var riskHalfLifeSeconds = 3600.0
        public init() {}
    }

    public var effective: Effective {
        var e = Effective()
        if let v = enabled { e.enabled = v }
        if let v = learningCalls { e.learningCalls = v }
        if let v = burstFactor { e.burstFactor = v }
        if let v = burstMinimum { e.burstMinimum = v }
        if let v = offHoursShare { e.offHoursShare = v }
        if let v = denySpikeRatio { e.denySpikeRatio = v }
        if let v = denySpikeMinimum { e.denySpikeMinimum = v }
        if let v = exfilFactor { e.exfilFactor = v }
        if let v = exfilMinimumBytes { e.exfilMinimumBytes = v }
        if let v = riskHalfLifeSeconds { e.riskHalfLifeSeconds = v }
        return e
    }

    func validate() throws(GatewayConfigurationError) {
        let e = effective
        guard e.learningCalls >= 0, e.burstFactor > 0, e.burstMinimum >= 1, (0...1).contains(e.offHoursShare),
              (0...1).contains(e.denySpikeRatio), e.denySpikeMinimum >= 1, e.exfilFactor > 0, e.exfilMinimumBytes >= 1,
              e.riskHalfLifeSeconds > 0 else {
            throw GatewayConfigurationError("monitoring: thresholds must be positive (shares and ratios between 0 and 1)")
        }
        if let w = webhook {
            guard w.hasPrefix("http://") || w.hasPrefix("https://") else {
                throw GatewayConfigurationError("monitoring.webhook must be an http(s) URL")
            }
        }
    }
}

/// `gateway.response`: the graduated response rules.
public struct ResponseSettings: Sendable, Codable, Equatable {
    public struct Rule: Sendable, Codable, Equatable {
        public var minScore: Int
        public var action: ResponseAction

        public init(minScore: Int, action: ResponseAction) {
            self.minScore = minScore
            self.action = action
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case minScore, action }

        public init(from decoder: any Decoder) throws {
            try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "response rule")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            minScore = try c.decode(Int.self, forKey: .minScore)
            action = try c.decode(ResponseAction.self, forKey: .action)
        }
    }

    public var rules: [Rule]?

    public init(rules: [Rule]? = nil) {
        self.rules = rules
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case rules }

    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "response")
        rules = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([Rule].self, forKey: .rules)
    }

    /// Defaults that stop attacks, not normal work: a new tool or two (an agent's work grows) raise
    /// alerts; writes need a person from 60 (two strong signals within the half-life, e.g. a burst and
    /// new sensitive tools); read-only from 90. Suspending or killing automatically is never a default:
    /// an operator who wants it configures the rule (a person's suspension and the kill switch are always there).
    public static let defaultRules: [Rule] = [
        Rule(minScore: 1, action: .alert), Rule(minScore: 60, action: .approveWrites), Rule(minScore: 90, action: .readOnly),
    ]

    public var effectiveRules: [Rule] { rules ?? Self.defaultRules }

    /// The most severe action whose threshold `score` reaches.
    public func action(for score: Int) -> ResponseAction {
        effectiveRules.filter { score >= $0.minScore }.map(\.action).max() ?? .none
    }

    func validate() throws(GatewayConfigurationError) {
        for r in effectiveRules {
            guard (1...100).contains(r.minScore) else { throw GatewayConfigurationError("response rule minScore must be 1-100") }
            guard r.action != .none else { throw GatewayConfigurationError("response rule action `none` does nothing") }
        }
    }
}

/// Refuses unknown keys, so that a typo does not silently change enforcement.
public enum StrictKeys {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Throws a `DecodingError` naming the first key of the object that is not in `known`.
    public static func check(_ decoder: any Decoder, _ known: [String], _ what: String) throws {
        let c = try decoder.container(keyedBy: Key.self)
        if let unknown = c.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "unknown \(what) configuration key `\(unknown)`"))
        }
    }
}
