public import PortcullisCore

/// How the configuration classifies a tool for policies (overrides what the upstream's annotations say).
public struct ToolClassification: Sendable, Codable, Equatable {
    public var effect: ToolRecord.Effect?
    public var risk: Int?
    public var dataClass: String?
    public var tags: [String]?

    public init(effect: ToolRecord.Effect? = nil, risk: Int? = nil, dataClass: String? = nil, tags: [String]? = nil) {
        self.effect = effect
        self.risk = risk
        self.dataClass = dataClass
        self.tags = tags
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
