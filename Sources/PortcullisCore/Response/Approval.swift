public import Foundation

/// A request for a person to approve one exact tool call (docs/response.md).
///
/// It is bound to the agent, the qualified tool, the SHA-256 of the canonical arguments and the
/// session; it answers one call, once, before it expires.
public struct Approval: Sendable, Codable, Equatable, Identifiable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// Waiting for a person.
        case pending
        /// Approved; not yet used by the call.
        case approved
        /// Denied by a person.
        case denied
        /// Not decided (or not used) in time.
        case expired
        /// Approved and consumed by the call it was for.
        case used
    }

    public var id: String
    public var agentID: String
    public var agentOwner: String
    /// Qualified tool name (`upstream.tool`).
    public var tool: String
    public var effect: String
    public var risk: Int
    public var argumentsDigest: String
    /// Digest of the session id (session ids are bearer secrets).
    public var session: String
    public var status: Status
    /// Why it needs an approval (the policies' reasons).
    public var reasons: [String]
    public var createdAt: Date
    public var expiresAt: Date
    public var decidedBy: String?
    public var decidedAt: Date?
    public var decisionReason: String?
    public var usedAt: Date?
    /// Whether the agent has been told about a denial (a denial is reported once).
    public var reported: Bool
    /// The call's arguments as the approver sees them: after DLP redaction, never raw secrets (bound by
    /// `argumentsDigest` to what the agent sent).
    public var arguments: JSONAny?

    public init(id: String, agentID: String, agentOwner: String, tool: String, effect: String, risk: Int,
                argumentsDigest: String, session: String, status: Status = .pending, reasons: [String],
                createdAt: Date, expiresAt: Date, decidedBy: String? = nil, decidedAt: Date? = nil,
                decisionReason: String? = nil, usedAt: Date? = nil, reported: Bool = false, arguments: JSONAny? = nil) {
        self.arguments = arguments
        self.id = id
        self.agentID = agentID
        self.agentOwner = agentOwner
        self.tool = tool
        self.effect = effect
        self.risk = risk
        self.argumentsDigest = argumentsDigest
        self.session = session
        self.status = status
        self.reasons = reasons
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.decisionReason = decisionReason
        self.usedAt = usedAt
        self.reported = reported
    }

    /// The exact call it is bound to.
    public struct Binding: Sendable, Hashable {
        public var agentID: String
        public var tool: String
        public var argumentsDigest: String
        public var session: String

        public init(agentID: String, tool: String, argumentsDigest: String, session: String) {
            self.agentID = agentID
            self.tool = tool
            self.argumentsDigest = argumentsDigest
            self.session = session
        }
    }

    public var binding: Binding { Binding(agentID: agentID, tool: tool, argumentsDigest: argumentsDigest, session: session) }
}

/// A named person who may decide approvals, with their own bearer token (kept as a SHA-256 digest).
public struct Approver: Sendable, Codable, Equatable {
    /// What a named person may do (docs/console.md): decide approvals, or run Portcullis.
    public enum Role: String, Sendable, Codable, CaseIterable {
        /// Reads and decides approvals.
        case approver
        /// Everything the admin token can do, under the person's own name; also decides approvals.
        case administrator
    }

    public var name: String
    public var tokenDigest: String
    public var createdAt: Date
    public var createdBy: String
    public var role: Role

    public init(name: String, tokenDigest: String, createdAt: Date, createdBy: String, role: Role = .approver) {
        self.name = name
        self.tokenDigest = tokenDigest
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.role = role
    }
}

/// Where approvals and approvers are kept.
public protocol ApprovalStore: Sendable {
    func saveApproval(_ approval: Approval) async throws
    func approval(id: String) async throws -> Approval?
    /// Approvals, newest first, optionally filtered.
    func approvals(status: Approval.Status?, agentID: String?, limit: Int) async throws -> [Approval]
    /// The newest approvals with this binding (any status), newest first.
    func approvals(binding: Approval.Binding) async throws -> [Approval]
    /// Changes an approval only if its status is still `expected` (compare-and-set); returns whether it did.
    func updateApproval(_ approval: Approval, expecting expected: Approval.Status) async throws -> Bool

    func saveApprover(_ approver: Approver) async throws
    func approvers() async throws -> [Approver]
    func approver(tokenDigest: String) async throws -> Approver?
    /// Returns whether one was removed.
    func removeApprover(name: String) async throws -> Bool
}
