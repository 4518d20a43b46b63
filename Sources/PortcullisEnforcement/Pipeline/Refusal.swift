public import Cedar

/// Why the pipeline did not let a call through: a machine code and a human reason.
///
/// Refusals are values; each front end maps them to its protocol at the edge (a JSON-RPC error for
/// MCP, an HTTP status for the HTTP gateway). The reason is written for the agent's operator: it
/// says what was refused and, where there is one, what to do about it.
public struct Refusal: Error, Sendable, Equatable {
    /// What kind of refusal; front ends map it to their protocol's error codes.
    public enum Code: String, Sendable, CaseIterable {
        /// A policy denied the call (or no policy permitted it).
        case denied
        /// A rate limit was reached; ``Refusal/retryAfterSeconds`` says when to retry.
        case rateLimited = "rate_limited"
        /// The call waits for a person's approval (``Refusal/data`` carries the approval id).
        case approvalPending = "approval_pending"
        /// A person denied the approval, or it expired.
        case approvalRefused = "approval_refused"
        /// The agent was killed.
        case killed
        /// The agent is suspended, or the automatic response blocks what it asked for.
        case suspended
        /// The audit log could not make the record durable, so nothing was done.
        case auditUnavailable = "audit_unavailable"
        /// The upstream failed or could not be reached.
        case upstreamUnavailable = "upstream_unavailable"
        /// A determining policy carries an obligation no stage implements.
        case obligationUnknown = "obligation_unknown"
        /// The request itself is malformed or names nothing callable.
        case invalid
        /// The result was withheld by inspection.
        case withheld
        /// The upstream's credential acts for the user in the delegation chain, and there is none for this call
        /// (it acts for nobody, or its user has not connected the upstream): nothing was sent.
        case credentialUnavailable = "credential_unavailable"
        /// State shared across replicas (a rate limit's bucket) could not be read, so nothing was done.
        case stateUnavailable = "state_unavailable"
    }

    public var code: Code
    public var reason: String
    /// Answer as if the resource did not exist (the agent may not even see it).
    public var concealed: Bool
    /// Extra members for the error's data (approval id, status, expiry).
    public var data: [(String, JSONValue)]
    public var retryAfterSeconds: Int?

    public init(_ code: Code, _ reason: String, concealed: Bool = false, data: [(String, JSONValue)] = [],
                retryAfterSeconds: Int? = nil) {
        self.code = code
        self.reason = reason
        self.concealed = concealed
        self.data = data
        self.retryAfterSeconds = retryAfterSeconds
    }

    public static func == (a: Refusal, b: Refusal) -> Bool {
        a.code == b.code && a.reason == b.reason && a.concealed == b.concealed && a.retryAfterSeconds == b.retryAfterSeconds
            && a.data.map(\.0) == b.data.map(\.0)
    }
}

/// What a stage concluded about a call.
public enum StageVerdict: Sendable {
    /// The call may go on to the next stage.
    case proceed
    /// The call stops here.
    case refuse(Refusal)
}
