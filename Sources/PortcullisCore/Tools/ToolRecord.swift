public import Foundation

/// A tool an upstream MCP server offers, as the gateway's registry knows it.
///
/// The registry pins the SHA-256 of the tool's definition (name, description, input and
/// output schemas, annotations). A tool is callable only while its current definition is the
/// approved one: a changed definition ("rug pull") or a poisoned description blocks it until
/// an administrator approves the new definition.
public struct ToolRecord: Sendable, Codable, Equatable {
    /// Where the tool stands.
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// The current definition is pinned and approved: the tool may be called (policies permitting).
        case approved
        /// Seen for the first time and held for an administrator (poisoning findings or manual approval).
        case pending
        /// The definition changed since it was approved: blocked until re-approved.
        case changed
        /// An administrator blocked the tool.
        case blocked
    }

    /// What calling the tool does, for policies.
    ///
    /// An upstream does not classify its own tools: the effect comes from the administrator's
    /// configuration or approval (or from the annotations of an upstream declared trusted for them).
    /// Until then it is ``unclassified``, which the default policies do not permit and the
    /// pipeline treats like a write (recorded durably before it is forwarded).
    public enum Effect: String, Sendable, Codable, CaseIterable {
        case read
        case write
        case destructive
        case unclassified
    }

    /// `<upstream>.<tool>`.
    public var qualifiedName: String
    public var upstream: String
    /// The tool's own name at its upstream.
    public var name: String
    /// The definition as last seen, canonical JSON.
    public var definition: String
    /// Hex SHA-256 of ``definition``.
    public var definitionHash: String
    /// Hex SHA-256 of the approved definition, if any.
    public var pinnedHash: String?
    public var status: Status
    public var effect: Effect
    /// 0 (harmless) to 5 (critical).
    public var risk: Int
    /// The kind of data the tool touches (`public`, `internal`, `source`, `pii`, ...).
    public var dataClass: String
    public var tags: [String]
    /// Poisoning findings in the description when first seen or changed.
    public var findings: [String]
    public var firstSeenAt: Date
    public var updatedAt: Date
    public var approvedBy: String?
    public var approvedAt: Date?
    /// Who set ``effect``: `config`, `annotations` (a trusted upstream's own), or `admin:<name>`; nil while unclassified.
    public var classifiedBy: String?
    /// The definition as it was approved (canonical JSON): shown beside ``definition`` when the upstream changed it.
    public var pinnedDefinition: String?

    public init(qualifiedName: String, upstream: String, name: String, definition: String, definitionHash: String,
                pinnedHash: String?, status: Status, effect: Effect, risk: Int, dataClass: String, tags: [String],
                findings: [String], firstSeenAt: Date, updatedAt: Date, approvedBy: String? = nil,
                approvedAt: Date? = nil, classifiedBy: String? = nil, pinnedDefinition: String? = nil) {
        self.pinnedDefinition = pinnedDefinition
        self.qualifiedName = qualifiedName
        self.upstream = upstream
        self.name = name
        self.definition = definition
        self.definitionHash = definitionHash
        self.pinnedHash = pinnedHash
        self.status = status
        self.effect = effect
        self.risk = risk
        self.dataClass = dataClass
        self.tags = tags
        self.findings = findings
        self.firstSeenAt = firstSeenAt
        self.updatedAt = updatedAt
        self.approvedBy = approvedBy
        self.approvedAt = approvedAt
        self.classifiedBy = classifiedBy
    }

    /// Whether the tool may be called now: approved, and the current definition is the pinned one.
    public var isCallable: Bool { status == .approved && pinnedHash == definitionHash }
}

/// The gateway's tool registry.
public protocol ToolStore: Sendable {
    /// Every tool, ordered by qualified name.
    func tools() async throws -> [ToolRecord]
    /// One tool, or nil.
    func tool(qualifiedName: String) async throws -> ToolRecord?
    /// Inserts or replaces a tool.
    func saveTool(_ tool: ToolRecord) async throws
}
