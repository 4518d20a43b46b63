public import Cedar
import Crypto
public import Foundation
public import Logging
public import PortcullisCore
import Synchronization

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

/// The tools the upstreams offer, pinned in the registry.
///
/// Every listing of an upstream is compared with the registry: a new tool is scanned for
/// poisoning and pinned (approved at once when the scan is clean and auto-approval is on,
/// otherwise held as `pending`); a tool whose definition hash differs from the pinned one is
/// marked `changed` and blocked until an administrator approves the new definition. Alerts go to
/// `onAlert`.
public final class ToolCatalog: Sendable {
    /// A tool as listed by its upstream, with its registry record.
    public struct Entry: Sendable {
        public var record: ToolRecord
        /// The upstream's definition as listed (served to agents with the name adjusted).
        public var definition: JSONValue
    }

    let upstreams: [String: any UpstreamTransport]
    let store: any ToolStore
    let classifications: [String: ToolClassification]
    let autoApprove: Bool
    let timeouts: [String: Double]
    let logger: Logger
    let onAlert: @Sendable (_ tool: String, _ reason: String, _ findings: [String]) async -> Void
    let now: @Sendable () -> Date
    private let entries = Mutex<[String: Entry]>([:])

    public init(upstreams: [String: any UpstreamTransport], store: any ToolStore,
                classifications: [String: ToolClassification], autoApprove: Bool, timeouts: [String: Double],
                logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
                onAlert: @escaping @Sendable (_ tool: String, _ reason: String, _ findings: [String]) async -> Void) {
        self.upstreams = upstreams
        self.store = store
        self.classifications = classifications
        self.autoApprove = autoApprove
        self.timeouts = timeouts
        self.logger = logger
        self.now = now
        self.onAlert = onAlert
    }

    /// The listed tools of `upstream` (or every upstream), ordered by qualified name.
    public func entries(upstream: String?) -> [Entry] {
        entries.withLock { table in
            table.values.filter { upstream == nil || $0.record.upstream == upstream }
                .sorted { $0.record.qualifiedName < $1.record.qualifiedName }
        }
    }

    public func entry(_ qualifiedName: String) -> Entry? {
        entries.withLock { $0[qualifiedName] }
    }

    /// Lists `upstream` again and reconciles the registry. Throws when the upstream cannot list.
    public func refresh(upstream name: String) async throws(UpstreamError) {
        guard let upstream = upstreams[name] else { throw .unavailable("no upstream `\(name)`") }
        _ = await upstream.takeToolsChanged()
        var listed: [JSONValue] = []
        var cursor: JSONValue? = nil
        var pages = 0
        repeat {
            let params: JSONValue? = cursor.map { .object([("cursor", $0)]) }
            let result = try await upstream.call(method: "tools/list", params: params, timeoutSeconds: timeouts[name] ?? 30)
            guard case .array(let tools)? = result["tools"] else { throw .protocolViolation("tools/list result has no tools array") }
            listed.append(contentsOf: tools)
            cursor = result["nextCursor"].flatMap { $0 == .null ? nil : $0 }
            pages += 1
        } while cursor != nil && pages < 50

        var seen = Set<String>()
        var fresh: [String: Entry] = [:]
        for definition in listed {
            guard case .string(let toolName)? = definition["name"] else { continue }
            guard Self.isValidToolName(toolName) else {
                logger.warning("upstream tool with an invalid name skipped", metadata: ["upstream": "\(name)"])
                await onAlert("\(name).?", "upstream `\(name)` offers a tool with an invalid name", [])
                continue
            }
            // A name listed twice by one upstream: the first definition wins, deterministically.
            guard seen.insert(toolName).inserted else {
                await onAlert("\(name).\(toolName)", "upstream `\(name)` lists `\(toolName)` more than once; the first is used", [])
                continue
            }
            let qualified = "\(name).\(toolName)"
            do {
                fresh[qualified] = try await reconcile(qualified: qualified, upstream: name, toolName: toolName,
                                                       definition: definition)
            } catch {
                logger.error("tool registry unavailable", metadata: ["tool": "\(qualified)", "error": "\(error)"])
                // Without the registry the tool cannot be checked: leave it out (fail closed).
            }
        }
        entries.withLock { table in
            for key in table.keys where table[key]?.record.upstream == name && fresh[key] == nil {
                table.removeValue(forKey: key)
            }
            for (k, v) in fresh { table[k] = v }
        }
    }

    /// Approves the current definition of a tool: it is pinned and callable.
    public func approve(_ qualifiedName: String, by actor: String) async throws -> ToolRecord {
        guard var record = try await store.tool(qualifiedName: qualifiedName) else {
            throw PortcullisError(.notFound, "no tool `\(qualifiedName)`")
        }
        record.pinnedHash = record.definitionHash
        record.status = .approved
        record.approvedBy = actor
        record.approvedAt = now()
        record.updatedAt = now()
        try await store.saveTool(record)
        let saved = record
        entries.withLock { table in table[qualifiedName]?.record = saved }
        return record
    }

    /// Blocks a tool until it is approved again.
    public func block(_ qualifiedName: String, by actor: String) async throws -> ToolRecord {
        guard var record = try await store.tool(qualifiedName: qualifiedName) else {
            throw PortcullisError(.notFound, "no tool `\(qualifiedName)`")
        }
        record.status = .blocked
        record.updatedAt = now()
        try await store.saveTool(record)
        let saved = record
        entries.withLock { table in table[qualifiedName]?.record = saved }
        return record
    }

    private func reconcile(qualified: String, upstream: String, toolName: String, definition: JSONValue) async throws
        -> Entry
    {
        let pinnable = Self.pinnableDefinition(definition)
        let canonical = pinnable.serialized
        let hash = Hex.encode(SHA256.hash(data: Array(canonical.utf8)))
        let at = now()
        let classification = classifications[qualified]
        let effect = classification?.effect ?? Self.effect(fromAnnotations: definition["annotations"])
        var record: ToolRecord
        if var existing = try await store.tool(qualifiedName: qualified) {
            if existing.definitionHash != hash {
                existing.definition = canonical
                existing.definitionHash = hash
                existing.updatedAt = at
                if existing.pinnedHash == hash {
                    // Back to the approved definition.
                    if existing.status == .changed { existing.status = .approved }
                } else if existing.status == .approved || existing.status == .changed {
                    existing.status = .changed
                    existing.findings = Self.poisoningFindings(definition)
                    logger.warning("tool definition changed; blocked until approved", metadata: ["tool": "\(qualified)"])
                    await onAlert(qualified, "the definition of `\(qualified)` changed since it was approved (possible rug pull); blocked until an administrator approves it", existing.findings)
                } else {
                    existing.findings = Self.poisoningFindings(definition)
                }
            }
            // Configuration classification is applied on every listing (it may have been edited).
            existing.effect = effect
            existing.risk = classification?.risk ?? existing.risk
            existing.dataClass = classification?.dataClass ?? existing.dataClass
            existing.tags = classification?.tags ?? existing.tags
            record = existing
            try await store.saveTool(record)
        } else {
            let findings = Self.poisoningFindings(definition)
            let approve = autoApprove && findings.isEmpty
            record = ToolRecord(
                qualifiedName: qualified, upstream: upstream, name: toolName, definition: canonical, definitionHash: hash,
                pinnedHash: approve ? hash : nil, status: approve ? .approved : .pending, effect: effect,
                risk: classification?.risk ?? Self.defaultRisk(effect), dataClass: classification?.dataClass ?? "internal",
                tags: classification?.tags ?? [], findings: findings, firstSeenAt: at, updatedAt: at,
                approvedBy: approve ? "auto (first seen)" : nil, approvedAt: approve ? at : nil)
            try await store.saveTool(record)
            if !findings.isEmpty {
                logger.warning("tool description looks poisoned; held for approval", metadata: ["tool": "\(qualified)"])
                await onAlert(qualified, "the description of `\(qualified)` looks poisoned; held until an administrator approves it", findings)
            }
        }
        return Entry(record: record, definition: definition)
    }

    /// The pinned part of a definition: name, title, description, schemas, annotations; canonical.
    static func pinnableDefinition(_ d: JSONValue) -> JSONValue {
        var members: [(String, JSONValue)] = []
        for key in ["name", "title", "description", "inputSchema", "outputSchema", "annotations"] {
            if let v = d[key] { members.append((key, v)) }
        }
        return JSONValue.object(members).canonical
    }

    /// Injection markers anywhere in the definition's text (description, schema descriptions, titles).
    static func poisoningFindings(_ d: JSONValue) -> [String] {
        InjectionScanner.findings(inStringsOf: JSONStrings.all(pinnableDefinition(d)))
    }

    /// MCP annotations: `readOnlyHint` → read; `destructiveHint: false` → write; otherwise destructive
    /// (the MCP default for a tool that is not read-only).
    static func effect(fromAnnotations a: JSONValue?) -> ToolRecord.Effect {
        if a?["readOnlyHint"]?.boolValue == true { return .read }
        if a?["destructiveHint"]?.boolValue == false { return .write }
        return .destructive
    }

    static func defaultRisk(_ e: ToolRecord.Effect) -> Int {
        switch e {
        case .read: 1
        case .write: 3
        case .destructive: 5
        }
    }

    /// MCP tool names: 1–128 characters of `A-Z a-z 0-9 _ - .`.
    static func isValidToolName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 128 && s.utf8.allSatisfy {
            DLPScanner.isAlnum($0) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E
        }
    }
}
