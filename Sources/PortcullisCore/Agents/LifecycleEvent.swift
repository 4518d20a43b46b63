public import Foundation

/// A recorded change to an agent: who did it, why, and what changed.
public struct LifecycleEvent: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case registered
        case updated
        case suspended
        case resumed
        case quarantined
        case decommissioned
        /// Stopped by the kill switch (a person or the automatic response).
        case killed
        /// An automatic response was applied or cleared (see docs/response.md).
        case response
        /// A token request presented a configuration digest other than the pinned one.
        case configurationDrift = "configuration_drift"
        /// An access review was recorded (docs/governance.md): the answers are in `details`.
        case reviewed
        /// The agent moved to another owner (owner offboarding).
        case transferred
    }

    public var id: Int64?
    public var agentID: String
    public var kind: Kind
    public var actor: String
    public var reason: String
    /// Free-form details as JSON (e.g. the presented and pinned digests).
    public var details: String?
    public var at: Date

    public init(id: Int64? = nil, agentID: String, kind: Kind, actor: String, reason: String, details: String? = nil,
                at: Date) {
        self.id = id
        self.agentID = agentID
        self.kind = kind
        self.actor = actor
        self.reason = reason
        self.details = details
        self.at = at
    }
}
