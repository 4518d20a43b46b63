public import Foundation

/// What the monitor has learned about one agent's normal behaviour (docs/response.md).
public struct AgentBaseline: Sendable, Codable, Equatable {
    public var agentID: String
    /// Calls observed since the baseline started.
    public var calls: Int
    /// Exponential moving average of calls per minute (over active minutes).
    public var ratePerMinute: Double
    /// Exponential moving average of argument bytes sent upstream per minute.
    public var bytesOutPerMinute: Double
    /// Exponential moving average of the share of calls denied.
    public var denyRatio: Double
    /// Calls per UTC hour of day (24 entries).
    public var hours: [Int]
    /// Qualified tools used, with the first time.
    public var tools: [String: Date]
    /// Upstreams used, with the first time.
    public var upstreams: [String: Date]
    /// The configuration digest last presented.
    public var configDigest: String?
    public var updatedAt: Date

    public init(agentID: String, now: Date) {
        self.agentID = agentID
        calls = 0
        ratePerMinute = 0
        bytesOutPerMinute = 0
        denyRatio = 0
        hours = Array(repeating: 0, count: 24)
        tools = [:]
        upstreams = [:]
        configDigest = nil
        updatedAt = now
    }
}

/// The automatic response applied to an agent, in order of severity.
public enum ResponseAction: String, Sendable, Codable, CaseIterable, Comparable {
    case none
    case alert
    /// Every non-read call needs an approval.
    case approveWrites = "approve_writes"
    /// Every non-read call is denied.
    case readOnly = "read_only"
    case suspend
    case kill

    var rank: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (a: ResponseAction, b: ResponseAction) -> Bool { a.rank < b.rank }
}

/// An agent's risk and response state, persisted so a restart does not forget it.
public struct AgentRiskState: Sendable, Codable, Equatable {
    public var agentID: String
    /// Risk score at `scoredAt`, before decay.
    public var score: Double
    public var scoredAt: Date
    public var response: ResponseAction
    public var responseAt: Date?

    public init(agentID: String, score: Double = 0, scoredAt: Date, response: ResponseAction = .none, responseAt: Date? = nil) {
        self.agentID = agentID
        self.score = score
        self.scoredAt = scoredAt
        self.response = response
        self.responseAt = responseAt
    }
}

/// A detector's finding about an agent.
public struct MonitorAlert: Sendable, Codable, Equatable, Identifiable {
    public enum Detector: String, Sendable, Codable, CaseIterable {
        case burst
        case firstTimeTool = "first_time_tool"
        case offHours = "off_hours"
        case denySpike = "deny_spike"
        case exfiltration
        case configDrift = "config_drift"
        /// Governance, not behaviour: the agent's access review is overdue (docs/governance.md).
        case reviewOverdue = "review_overdue"
    }

    public var id: String
    public var agentID: String
    public var detector: Detector
    /// 1–100.
    public var score: Int
    /// The agent's risk score after this alert.
    public var riskScore: Int
    /// The automatic response in force after this alert.
    public var response: ResponseAction
    public var detail: String
    public var at: Date

    public init(id: String, agentID: String, detector: Detector, score: Int, riskScore: Int, response: ResponseAction,
                detail: String, at: Date) {
        self.id = id
        self.agentID = agentID
        self.detector = detector
        self.score = score
        self.riskScore = riskScore
        self.response = response
        self.detail = detail
        self.at = at
    }
}

/// Where baselines, risk states and alerts are kept.
public protocol MonitorStore: Sendable {
    func baseline(agentID: String) async throws -> AgentBaseline?
    func saveBaselines(_ baselines: [AgentBaseline]) async throws
    func riskStates() async throws -> [AgentRiskState]
    func saveRiskState(_ state: AgentRiskState) async throws
    func appendAlert(_ alert: MonitorAlert) async throws
    /// Alerts, newest first.
    func alerts(agentID: String?, limit: Int) async throws -> [MonitorAlert]
}
