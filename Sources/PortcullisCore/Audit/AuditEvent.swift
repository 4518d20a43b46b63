public import Foundation

/// One entry of the append-only audit log: a decision, an admin action or a token issuance.
///
/// Events group by agent identity (``agent``), not only by the upstream user. Arguments are
/// kept as a digest; `redactedArguments` holds them only after DLP redaction, never raw secrets.
public struct AuditEvent: Sendable, Codable, Equatable {
    /// What kind of thing happened.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// A policy decision on a gateway call (MCP method, tool call, HTTP request).
        case decision
        /// An administrator's action: registration, lifecycle change, policy reload, tool approval, kill.
        case admin
        /// A token issued, exchanged or revoked by the token service.
        case token
        /// An alert or an automatic response.
        case alert
    }

    /// The decision, for `decision` events.
    public enum Decision: String, Sendable, Codable, CaseIterable {
        case allow
        case deny
        case pending
    }

    /// What the shadow policies would have decided (docs/policy-lifecycle.md): the decision of the policies in force
    /// and the shadow ones together. Recorded, never enforced.
    public struct ShadowDecision: Sendable, Codable, Equatable {
        public var decision: Decision
        public var determiningPolicies: [String]
        public var erroringPolicies: [String]
        /// Whether it differs from the decision of the policies in force.
        public var flipped: Bool

        public init(decision: Decision, determiningPolicies: [String], erroringPolicies: [String], flipped: Bool) {
            self.decision = decision
            self.determiningPolicies = determiningPolicies
            self.erroringPolicies = erroringPolicies
            self.flipped = flipped
        }
    }

    /// The agent an event is about, as it was at the time.
    public struct AgentRef: Sendable, Codable, Equatable {
        public var id: String
        public var model: String?
        public var version: String?
        public var configDigest: String?

        public init(id: String, model: String? = nil, version: String? = nil, configDigest: String? = nil) {
            self.id = id
            self.model = model
            self.version = version
            self.configDigest = configDigest
        }
    }

    /// What happened after an allowed call.
    public struct Outcome: Sendable, Codable, Equatable {
        /// The upstream status: an HTTP status code or a JSON-RPC outcome (`ok`, `error:-32603`).
        public var status: String
        /// Bytes returned to the agent.
        public var bytes: Int?

        public init(status: String, bytes: Int? = nil) {
            self.status = status
            self.bytes = bytes
        }
    }

    /// Unix time in nanoseconds.
    public var timeNanos: Int64
    /// Random, unique event id.
    public var id: String
    /// W3C trace id (from `traceparent`) when the caller sent one.
    public var traceID: String?
    public var kind: Kind
    public var agent: AgentRef?
    /// The human the agent acts for (the `sub` of a delegated token).
    public var onBehalfOf: String?
    /// Every agent hop, outermost actor first.
    public var delegationChain: [String]
    /// Who performed an admin action (administrator name or `system`).
    public var actor: String?
    /// The action: `call_tool`, `tools/list`, `agent.suspend`, `token.issue`, ...
    public var action: String
    /// The resource: a tool (`time.get_current_time`), an agent id, a URL.
    public var resource: String?
    /// Hex SHA-256 of the canonical arguments.
    public var argumentsDigest: String?
    /// Arguments after redaction, when the configuration asks to keep them.
    public var redactedArguments: JSONAny?
    public var decision: Decision?
    /// Policy ids that determined the decision.
    public var determiningPolicies: [String]
    /// Policy ids that errored during evaluation.
    public var erroringPolicies: [String]
    /// Obligations attached to the decision (for example `approval`).
    public var obligations: [String]
    /// Why the agent says it acted (MCP `_meta` `io.portcullis/reasoning`, HTTP `Portcullis-Reasoning`).
    public var reasoning: String?
    /// A human-readable reason for the decision or action.
    public var reason: String?
    public var outcome: Outcome?
    /// Time spent deciding and serving, in nanoseconds.
    public var latencyNanos: Int64?
    /// The session the call belonged to, if any.
    public var sessionID: String?
    /// The caller's address.
    public var sourceAddress: String?
    /// For decisions with shadow policies: what they would have decided.
    public var shadow: ShadowDecision?
    /// The Cedar request (principal, action, resource, context) and entities the policies decided on, and their
    /// verdict, for `portcullis policy replay`. Arguments are in it only as the audit log keeps them
    /// (`auditArguments`: after DLP redaction), otherwise left out.
    public var decisionInput: JSONAny?

    public init(timeNanos: Int64, id: String, traceID: String? = nil, kind: Kind, agent: AgentRef? = nil,
                onBehalfOf: String? = nil, delegationChain: [String] = [], actor: String? = nil, action: String,
                resource: String? = nil, argumentsDigest: String? = nil, redactedArguments: JSONAny? = nil,
                decision: Decision? = nil, determiningPolicies: [String] = [], erroringPolicies: [String] = [],
                obligations: [String] = [], reasoning: String? = nil, reason: String? = nil,
                outcome: Outcome? = nil, latencyNanos: Int64? = nil, sessionID: String? = nil,
                sourceAddress: String? = nil) {
        self.timeNanos = timeNanos
        self.id = id
        self.traceID = traceID
        self.kind = kind
        self.agent = agent
        self.onBehalfOf = onBehalfOf
        self.delegationChain = delegationChain
        self.actor = actor
        self.action = action
        self.resource = resource
        self.argumentsDigest = argumentsDigest
        self.redactedArguments = redactedArguments
        self.decision = decision
        self.determiningPolicies = determiningPolicies
        self.erroringPolicies = erroringPolicies
        self.obligations = obligations
        self.reasoning = reasoning
        self.reason = reason
        self.outcome = outcome
        self.latencyNanos = latencyNanos
        self.sessionID = sessionID
        self.sourceAddress = sourceAddress
    }
}

/// Where audit events go. `append` returns only once the event is durable; a thrown error
/// means the event was not recorded and the caller must fail closed.
public protocol AuditSink: Sendable {
    /// Appends one event and returns its index in the log (0-based) once it is durable.
    @discardableResult
    func append(_ event: AuditEvent) async throws -> UInt64
}

extension AuditSink {
    /// Appends, turning any failure into a `.storage` ``PortcullisError`` (HTTP 503 at the admin API),
    /// so that the action the event records is refused.
    public func record(_ event: AuditEvent) async throws {
        do {
            try await append(event)
        } catch {
            throw PortcullisError(.storage, "the audit log is unavailable: \(error)")
        }
    }
}
