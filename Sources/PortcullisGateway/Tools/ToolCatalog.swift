public import Cedar
import Crypto
public import Foundation
public import Logging
public import PortcullisCore
public import PortcullisEnforcement
import Synchronization

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

    /// When each upstream was last listed, and whether its last listing failed.
    struct ListingState {
        var listedAt: Date?
        var failed = false
        /// Why the last listing failed, if it did.
        var error: String?
    }

    let upstreams: [String: any UpstreamTransport]
    let store: any ToolStore
    let classifications: [String: ToolClassification]
    /// Upstreams whose own annotations may classify their tools.
    let trustAnnotations: Set<String>
    let autoApprove: Bool
    let timeouts: [String: Double]
    /// How long a listing is trusted before it is listed again.
    let listLifetime: TimeInterval
    let logger: Logger
    let onAlert: @Sendable (_ tool: String, _ reason: String, _ findings: [String]) async -> Void
    let now: @Sendable () -> Date
    private let entries = Mutex<[String: Entry]>([:])
    private let listings = Mutex<[String: ListingState]>([:])

    public init(upstreams: [String: any UpstreamTransport], store: any ToolStore,
                classifications: [String: ToolClassification], trustAnnotations: Set<String> = [], autoApprove: Bool,
                timeouts: [String: Double], listLifetime: TimeInterval = 60,
                logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
                onAlert: @escaping @Sendable (_ tool: String, _ reason: String, _ findings: [String]) async -> Void) {
        self.upstreams = upstreams
        self.store = store
        self.classifications = classifications
        self.trustAnnotations = trustAnnotations
        self.autoApprove = autoApprove
        self.timeouts = timeouts
        self.listLifetime = listLifetime
        self.logger = logger
        self.now = now
        self.onAlert = onAlert
    }

    /// Whether `upstream`'s listing is missing or older than its lifetime.
    public func isStale(upstream: String) -> Bool {
        let at = now()
        return listings.withLock { table in
            guard let listed = table[upstream]?.listedAt else { return true }
            return at.timeIntervalSince(listed) > listLifetime
        }
    }

    /// Whether the last attempt to list `upstream` failed (after it announced a change): its tools are
    /// not callable until a listing succeeds, because their definitions can no longer be vouched for.
    public func listingFailed(upstream: String) -> Bool {
        listings.withLock { $0[upstream]?.failed == true }
    }

    /// Why `upstream` cannot be used, when it has never been listed and its last listing failed; nil otherwise.
    public func unreachable(upstream: String) -> String? {
        listings.withLock { table in
            guard let state = table[upstream], state.listedAt == nil, let error = state.error else { return nil }
            return error
        }
    }

    /// Lists `upstream` again if its listing is stale, or if it announced that its tools changed;
    /// otherwise does nothing. A failed listing after an announced change blocks the upstream's tools.
    public func refreshIfNeeded(upstream name: String) async {
        guard let upstream = upstreams[name] else { return }
        let changed = await upstream.takeToolsChangedPeek()
        guard changed || isStale(upstream: name) else { return }
        do {
            try await refresh(upstream: name)
        } catch {
            logger.warning("upstream could not list its tools", metadata: ["upstream": "\(name)", "error": "\(error)"])
            let reason = Self.describe(error, upstream: name)
            listings.withLock { table in
                table[name, default: ListingState()].error = reason
                if changed { table[name, default: ListingState()].failed = true }
            }
        }
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
        let at = now()
        listings.withLock { $0[name] = ListingState(listedAt: at, failed: false) }
    }

    /// What an administrator's approval of a tool would store: the definition the administrator
    /// reviewed (`hash`) pinned, and the effect they give it. Nothing is changed yet (see ``commit(_:)``),
    /// so that the change can be recorded before it acts.
    ///
    /// - Throws: `.notFound` for an unknown tool; `.conflict` when `hash` is not the tool's current
    ///   definition (it changed between the look and the approval: look again).
    public func prepareApproval(_ qualifiedName: String, hash: String, effect: ToolRecord.Effect?, by actor: String)
        async throws -> ToolRecord
    {
        guard var record = try await store.tool(qualifiedName: qualifiedName) else {
            throw PortcullisError(.notFound, "no tool `\(qualifiedName)`")
        }
        guard hash.lowercased() == record.definitionHash else {
            throw PortcullisError(.conflict, "the definition of `\(qualifiedName)` is \(record.definitionHash), not the \(hash) you reviewed; it changed since: review it again")
        }
        if let effect {
            guard effect != .unclassified else { throw PortcullisError(.invalidInput, "approve with an effect: read, write or destructive") }
            if let configured = classifications[qualifiedName]?.effect, configured != effect {
                throw PortcullisError(.conflict, "the configuration classifies `\(qualifiedName)` as `\(configured.rawValue)`; change it there")
            }
            record.effect = effect
            record.classifiedBy = actor
            if classifications[qualifiedName]?.risk == nil { record.risk = ToolClassification.defaultRisk(effect) }
        }
        record.pinnedHash = record.definitionHash
        record.pinnedDefinition = record.definition
        record.status = .approved
        record.approvedBy = actor
        record.approvedAt = now()
        record.updatedAt = now()
        return record
    }

    /// What blocking a tool would store (see ``commit(_:)``).
    public func prepareBlock(_ qualifiedName: String, by actor: String) async throws -> ToolRecord {
        guard var record = try await store.tool(qualifiedName: qualifiedName) else {
            throw PortcullisError(.notFound, "no tool `\(qualifiedName)`")
        }
        record.status = .blocked
        record.updatedAt = now()
        return record
    }

    /// Reads a tool's record again from the store (another replica changed it); a tool not listed here is left
    /// to the next listing.
    public func reload(_ qualifiedName: String) async throws {
        guard let record = try await store.tool(qualifiedName: qualifiedName) else { return }
        entries.withLock { table in table[qualifiedName]?.record = record }
    }

    /// Reads every listed tool's record again from the store (after the change feed was lost).
    public func reloadAll() async throws {
        let records = try await store.tools()
        entries.withLock { table in
            for record in records where table[record.qualifiedName] != nil { table[record.qualifiedName]?.record = record }
        }
    }

    /// Stores a prepared change and puts it in force.
    public func commit(_ record: ToolRecord) async throws {
        try await store.saveTool(record)
        entries.withLock { table in table[record.qualifiedName]?.record = record }
    }

    private func reconcile(qualified: String, upstream: String, toolName: String, definition: JSONValue) async throws
        -> Entry
    {
        let pinnable = Self.pinnableDefinition(definition)
        let canonical = pinnable.serialized
        let hash = Hex.encode(SHA256.hash(data: Array(canonical.utf8)))
        let at = now()
        let classification = classifications[qualified]
        var record: ToolRecord
        if let existing = try await store.tool(qualifiedName: qualified) {
            var updated = existing
            if existing.definitionHash != hash {
                // The approved definition, kept to be shown beside the new one (records pinned before it was kept).
                if updated.pinnedDefinition == nil, existing.pinnedHash == existing.definitionHash {
                    updated.pinnedDefinition = existing.definition
                }
                updated.definition = canonical
                updated.definitionHash = hash
                updated.updatedAt = at
                if existing.pinnedHash == hash {
                    // Back to the approved definition.
                    if existing.status == .changed { updated.status = .approved }
                } else if existing.status == .approved || existing.status == .changed {
                    updated.status = .changed
                    updated.findings = Self.poisoningFindings(definition)
                    logger.warning("tool definition changed; blocked until approved", metadata: ["tool": "\(qualified)"])
                    await onAlert(qualified, "the definition of `\(qualified)` changed since it was approved (possible rug pull); blocked until an administrator approves it", updated.findings)
                } else {
                    updated.findings = Self.poisoningFindings(definition)
                }
            }
            // The configuration is applied on every listing (it may have been edited).
            classify(&updated, classification: classification, annotations: definition["annotations"], upstream: upstream)
            record = updated
            // Written only when something changed: a listing that finds nothing new costs no write.
            if updated != existing { try await store.saveTool(record) }
        } else {
            let findings = Self.poisoningFindings(definition)
            let approve = autoApprove && findings.isEmpty
            record = ToolRecord(
                qualifiedName: qualified, upstream: upstream, name: toolName, definition: canonical, definitionHash: hash,
                pinnedHash: approve ? hash : nil, status: approve ? .approved : .pending, effect: .unclassified,
                risk: ToolClassification.defaultRisk(.unclassified), dataClass: "internal", tags: [], findings: findings,
                firstSeenAt: at, updatedAt: at, approvedBy: approve ? "auto (first seen)" : nil, approvedAt: approve ? at : nil,
                pinnedDefinition: approve ? canonical : nil)
            classify(&record, classification: classification, annotations: definition["annotations"], upstream: upstream)
            try await store.saveTool(record)
            if !findings.isEmpty {
                logger.warning("tool description looks poisoned; held for approval", metadata: ["tool": "\(qualified)"])
                await onAlert(qualified, "the description of `\(qualified)` looks poisoned; held until an administrator approves it", findings)
            }
        }
        return Entry(record: record, definition: definition)
    }

    /// Sets the effect from the configuration, else keeps an administrator's classification, else takes
    /// the annotations of an upstream trusted for them, else leaves the tool unclassified.
    func classify(_ record: inout ToolRecord, classification: ToolClassification?, annotations: JSONValue?, upstream: String) {
        if let effect = classification?.effect {
            record.effect = effect
            record.classifiedBy = "config"
        } else if let by = record.classifiedBy, by.hasPrefix("admin") {
            // An administrator's classification stands.
        } else if trustAnnotations.contains(upstream) {
            record.effect = Self.effect(fromAnnotations: annotations)
            record.classifiedBy = "annotations"
        } else {
            record.effect = .unclassified
            record.classifiedBy = nil
        }
        record.risk = classification?.risk ?? (record.classifiedBy?.hasPrefix("admin") == true ? record.risk : ToolClassification.defaultRisk(record.effect))
        record.dataClass = classification?.dataClass ?? record.dataClass
        record.tags = classification?.tags ?? record.tags
    }

    /// An upstream failure in one sentence that names the upstream.
    static func describe(_ error: UpstreamError, upstream: String) -> String {
        switch error {
        case .timeout(let s), .unavailable(let s), .protocolViolation(let s):
            s.contains("`\(upstream)`") ? s : "upstream `\(upstream)`: \(s)"
        case .rpcError(let code, let message, _):
            "upstream `\(upstream)` refused to list its tools (\(code): \(Printable.clip(message)))"
        }
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


    /// MCP tool names: 1–128 characters of `A-Z a-z 0-9 _ - .`.
    static func isValidToolName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 128 && s.utf8.allSatisfy {
            DLPScanner.isAlnum($0) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E
        }
    }
}
