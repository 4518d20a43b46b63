public import Cedar
import Crypto
public import Foundation
public import PortcullisCore

/// One call an agent asks a gateway to make, as it walks the enforcement stages.
///
/// A front end builds it from its protocol (an MCP `tools/call`, an HTTP request) and hands it to
/// ``EnforcementPipeline``; every stage reads it and may add to it (findings, the decision, notes).
/// The canonical bytes of the arguments are computed once, here, and serve the digest, the byte
/// count and the audit record.
public struct GatewayCall: Sendable {
    /// Which front end the call came through.
    public enum Kind: String, Sendable {
        case mcp
        case http
        case a2a
    }

    public let kind: Kind
    /// The Cedar action (`connect`, `list_tools`, `call_tool`).
    public let action: CedarMapping.Action
    public let caller: GatewayCaller
    /// The upstream the call is for (`*` for the whole gateway).
    public let upstream: String
    /// The tool, for `call_tool`; nil for upstream-level actions.
    public let tool: ToolRecord?
    /// The resource as the audit log names it.
    public let resourceName: String
    public let arguments: JSONValue?
    /// Canonical JSON of ``arguments``; empty without arguments.
    public let argumentBytes: [UInt8]
    /// Hex SHA-256 of ``argumentBytes``; nil without arguments.
    public let argumentsDigest: String?
    /// The session the call belongs to, as the audit log names it (a digest, never the id).
    public let sessionRef: String?
    /// The agent's stated reasoning, kept in the audit record.
    public let reasoning: String?
    public let started: ContinuousClock.Instant

    /// Session state when the call was decided: the agent's taint (shared by all its sessions) and the session's counters.
    public var session: SessionSnapshot
    /// The automatic response and risk in force for the agent.
    public var risk: BehaviourMonitor.Risk = BehaviourMonitor.Risk(score: 0, response: .none)
    /// DLP findings in the arguments.
    public var findings: [DLPScanner.Kind] = []
    /// The arguments with DLP findings redacted (what the audit log may keep).
    public var redactedArguments: JSONValue?
    /// What goes upstream: the arguments, or their redacted form when DLP says redact.
    public var forwardedArguments: JSONValue?
    /// The decision, once the decide stage has run.
    public var decision: GatewayDecision?
    /// Whether the call was decided listing-only (`tools/list` filtering): nothing is forwarded.
    public let listing: Bool
    /// The HTTP gateway's facts about the request (nil for MCP).
    public let http: HTTPRequestFacts?
    /// The vault secret the front end will inject upstream (its name, never its value), kept in the audit record.
    public var credential: String?
    /// Where the argument values came from (set by ``ProvenanceStage`` for calls with arguments).
    public var provenance: ProvenanceReport?
    /// The `traceparent` for the upstream (the gateway's span of the round trip), when the call is traced.
    public var upstreamTraceParent: String?
    /// Told while the call waits for a person's approval (at once, then every few seconds): a front end passes it
    /// on to the agent (MCP progress notifications).
    public var waiting: (@Sendable (Approval, Duration) async -> Void)?

    public init(kind: Kind, action: CedarMapping.Action, caller: GatewayCaller, upstream: String, tool: ToolRecord? = nil,
                resourceName: String? = nil, arguments: JSONValue? = nil, session: SessionSnapshot = SessionSnapshot(),
                sessionRef: String? = nil, reasoning: String? = nil, listing: Bool = false,
                started: ContinuousClock.Instant = .now, http: HTTPRequestFacts? = nil) {
        self.http = http
        self.kind = kind
        self.action = action
        self.caller = caller
        self.upstream = upstream
        self.tool = tool
        self.resourceName = resourceName ?? tool?.qualifiedName ?? upstream
        self.arguments = arguments
        if let arguments {
            let bytes = Self.canonicalBytes(arguments)
            argumentBytes = bytes
            argumentsDigest = Self.digest(bytes)
        } else {
            argumentBytes = []
            argumentsDigest = nil
        }
        self.forwardedArguments = arguments
        self.session = session
        self.sessionRef = sessionRef
        self.reasoning = reasoning
        self.listing = listing
        self.started = started
    }

    /// Whether the call may change something: a write, a destructive or an unclassified tool.
    /// Such a call is forwarded only after its decision record is durable.
    public var changesState: Bool {
        guard action == .callTool || action == .httpRequest, let tool else { return false }
        return tool.effect != .read
    }

    /// The canonical JSON of arguments (members sorted, as RFC 8785), as bytes.
    public static func canonicalBytes(_ arguments: JSONValue) -> [UInt8] {
        Array(arguments.canonical.serialized.utf8)
    }

    /// Hex SHA-256 of canonical argument bytes: what the audit log and approvals bind to.
    public static func digest(_ canonicalBytes: [UInt8]) -> String {
        Hex.encode(SHA256.hash(data: canonicalBytes))
    }

    /// Hex SHA-256 of the canonical JSON of `arguments`.
    public static func digest(of arguments: JSONValue) -> String {
        digest(canonicalBytes(arguments))
    }

    /// The audit action of the decision record.
    public var auditAction: String { action.rawValue }
}
