public import PortcullisCore

/// How the configuration classifies a tool for policies (overrides what the upstream's annotations say).
public struct ToolClassification: Sendable, Codable, Equatable {
    public var effect: ToolRecord.Effect?
    public var risk: Int?
    public var dataClass: String?
    public var tags: [String]?
    /// Whether the tool's results carry third-party content (mail bodies, web pages, files, chat messages): their
    /// values are `untrusted` for provenance. Unset: the upstream's `untrusted`, else untrusted.
    public var untrustedResults: Bool?

    public init(effect: ToolRecord.Effect? = nil, risk: Int? = nil, dataClass: String? = nil, tags: [String]? = nil,
                untrustedResults: Bool? = nil) {
        self.untrustedResults = untrustedResults
        self.effect = effect
        self.risk = risk
        self.dataClass = dataClass
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case effect, risk, dataClass, tags, untrustedResults }

    /// Strict reading: a misspelt key (`rsik`) is an error, not an unclassified risk.
    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "tool classification")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        effect = try c.decodeIfPresent(ToolRecord.Effect.self, forKey: .effect)
        if effect == .unclassified {
            throw DecodingError.dataCorruptedError(forKey: .effect, in: c, debugDescription: "a tool's effect must be read, write or destructive")
        }
        risk = try c.decodeIfPresent(Int.self, forKey: .risk)
        dataClass = try c.decodeIfPresent(String.self, forKey: .dataClass)
        tags = try c.decodeIfPresent([String].self, forKey: .tags)
        untrustedResults = try c.decodeIfPresent(Bool.self, forKey: .untrustedResults)
    }
}

extension ToolClassification {
    /// The risk of a tool whose configuration gives none, by effect.
    public static func defaultRisk(_ e: ToolRecord.Effect) -> Int {
        switch e {
        case .read: 1
        case .write: 3
        case .destructive, .unclassified: 5
        }
    }
}
