public import Cedar
public import Foundation
public import PortcullisCore
import PortcullisEnforcement
public import PortcullisGateway
public import Synchronization

/// Unit-test doubles; the SQLite versions are tested in PortcullisStoreTests and end to end in Tests/Interop.
public final class MemoryAudit: AuditSink {
    public let events = Mutex<[AuditEvent]>([])
    public let failing = Mutex(false)
    /// Fails only the appends this says (e.g. only outcome records).
    public let failWhen = Mutex<(@Sendable (AuditEvent) -> Bool)?>(nil)
    public init() {}
    public func append(_ event: AuditEvent) async throws -> UInt64 {
        if failing.withLock({ $0 }) { throw PortcullisError(.storage, "audit down") }
        if let predicate = failWhen.withLock({ $0 }), predicate(event) { throw PortcullisError(.storage, "audit down for this record") }
        return events.withLock { $0.append(event); return UInt64($0.count - 1) }
    }
    public var actions: [String] { events.withLock { $0.map(\.action) } }
}

public final class MemoryApprovalStore: ApprovalStore {
    public init() {}
    public let rows = Mutex<[String: Approval]>([:])
    public func saveApproval(_ a: Approval) async throws { rows.withLock { $0[a.id] = a } }
    public func approval(id: String) async throws -> Approval? { rows.withLock { $0[id] } }
    public func approvals(status: Approval.Status?, agentID: String?, limit: Int) async throws -> [Approval] {
        rows.withLock { Array($0.values) }.filter { (status == nil || $0.status == status) && (agentID == nil || $0.agentID == agentID) }
            .sorted { $0.createdAt > $1.createdAt }.prefix(limit).map { $0 }
    }
    public func approvals(binding: Approval.Binding) async throws -> [Approval] {
        rows.withLock { Array($0.values) }.filter { $0.binding == binding }.sorted { $0.createdAt > $1.createdAt }
    }
    public func updateApproval(_ a: Approval, expecting expected: Approval.Status) async throws -> Bool {
        rows.withLock { t in
            guard t[a.id]?.status == expected else { return false }
            t[a.id] = a
            return true
        }
    }
    public func saveApprover(_ approver: Approver) async throws {}
    public func approvers() async throws -> [Approver] { [] }
    public func approver(tokenDigest: String) async throws -> Approver? { nil }
    public func removeApprover(name: String) async throws -> Bool { false }
}

public final class MemoryMonitorStore: MonitorStore {
    public init() {}
    public let baselines = Mutex<[String: AgentBaseline]>([:])
    public let risk = Mutex<[String: AgentRiskState]>([:])
    public let stored = Mutex<[MonitorAlert]>([])
    public func baseline(agentID: String) async throws -> AgentBaseline? { baselines.withLock { $0[agentID] } }
    public func saveBaselines(_ b: [AgentBaseline]) async throws { baselines.withLock { t in for x in b { t[x.agentID] = x } } }
    public func riskStates() async throws -> [AgentRiskState] { risk.withLock { Array($0.values) } }
    public func saveRiskState(_ s: AgentRiskState) async throws { risk.withLock { $0[s.agentID] = s } }
    public func appendAlert(_ a: MonitorAlert) async throws { stored.withLock { $0.append(a) } }
    public func alerts(agentID: String?, limit: Int) async throws -> [MonitorAlert] { stored.withLock { $0.reversed() } }
}

/// A clock that moves only when the test says.
public final class Clock: Sendable {
    public let t: Mutex<Date>
    public init(_ iso: String) { t = Mutex(try! Date(iso, strategy: .iso8601)) }
    public var now: Date { t.withLock { $0 } }
    public func advance(_ s: Double) { t.withLock { $0 = $0.addingTimeInterval(s) } }
    public func set(_ iso: String) { t.withLock { $0 = try! Date(iso, strategy: .iso8601) } }
}

public func testAgent(_ id: String = "agt_1", owner: String = "olga", digest: String? = nil) -> Agent {
    Agent(id: id, name: "n", owner: owner, purpose: "p", modelProvider: "m", modelName: "m", modelVersion: "1",
          createdAt: Date(timeIntervalSince1970: 0), configDigest: digest)
}

public func testTool(_ name: String = "web.save_note", effect: ToolRecord.Effect = .write, risk: Int = 2) -> ToolRecord {
    ToolRecord(qualifiedName: name, upstream: String(name.split(separator: ".")[0]), name: String(name.split(separator: ".")[1]),
               definition: "{}", definitionHash: "h", pinnedHash: "h", status: .approved, effect: effect, risk: risk,
               dataClass: "internal", tags: [], findings: [], firstSeenAt: Date(), updatedAt: Date())
}


/// In-memory registry (a unit-test double; the SQLite registry is tested through the server).
public final class MemoryToolStore: ToolStore {
    public init() {}
    public let rows = Mutex<[String: ToolRecord]>([:])
    public func tools() async throws -> [ToolRecord] { rows.withLock { $0.values.sorted { $0.qualifiedName < $1.qualifiedName } } }
    public func tool(qualifiedName: String) async throws -> ToolRecord? { rows.withLock { $0[qualifiedName] } }
    /// How many times a row was written.
    public let saves = Mutex(0)
    public func saveTool(_ tool: ToolRecord) async throws {
        saves.withLock { $0 += 1 }
        rows.withLock { $0[tool.qualifiedName] = tool }
    }
}

/// An upstream whose tool list the test sets.
public final class ScriptedUpstream: UpstreamTransport {
    public init() {}
    public let listing = Mutex<String>("[]")
    public func call(method: String, params: JSONValue?, timeoutSeconds: Double) async throws(UpstreamError) -> JSONValue {
        guard method == "tools/list", let tools = try? JSONValue.parse(listing.withLock { $0 }) else {
            throw .rpcError(code: -32601, message: "no", data: nil)
        }
        return .object([("tools", tools)])
    }
    public func takeToolsChanged() async -> Bool { false }
    public func takeToolsChangedPeek() async -> Bool { false }
    public func shutdown() async {}
}


/// An upstream MCP server in memory: lists the tools it is given, records every `tools/call` it
/// receives (the evidence that something was or was not forwarded), and answers what the test says.
public final class RecordingUpstream: UpstreamTransport {
    /// The tools it lists (MCP definitions).
    public let tools: Mutex<[JSONValue]>
    /// What `tools/call` answers, by tool name; the default echoes the arguments as text.
    public let answers = Mutex<[String: Result<JSONValue, UpstreamError>]>([:])
    /// Every `tools/call` received: tool name and arguments.
    public let calls = Mutex<[(name: String, arguments: JSONValue)]>([])
    /// How long a call takes.
    public let delay = Mutex<Duration>(.zero)
    public let changed = Mutex(false)
    /// How many `tools/list` it answered.
    public let listings = Mutex(0)

    public init(tools: [JSONValue]) {
        self.tools = Mutex(tools)
    }

    /// A tool definition with a name and optional annotations.
    public static func tool(_ name: String, annotations: JSONValue? = nil, description: String = "A tool.") -> JSONValue {
        var members: [(String, JSONValue)] = [("name", .string(name)), ("description", .string(description)),
                                             ("inputSchema", .object([("type", .string("object"))]))]
        if let annotations { members.append(("annotations", annotations)) }
        return .object(members)
    }

    public var callCount: Int { calls.withLock { $0.count } }

    public func call(method: String, params: JSONValue?, timeoutSeconds: Double) async throws(UpstreamError) -> JSONValue {
        switch method {
        case "tools/list":
            listings.withLock { $0 += 1 }
            return .object([("tools", .array(tools.withLock { $0 }))])
        case "tools/call":
            guard case .string(let name)? = params?["name"] else { throw .protocolViolation("no name") }
            let arguments = params?["arguments"] ?? .object([])
            calls.withLock { $0.append((name, arguments)) }
            let wait = delay.withLock { $0 }
            if wait > .zero { try? await Task.sleep(for: wait) }
            if let answer = answers.withLock({ $0[name] }) { return try answer.get() }
            return .object([("content", .array([.object([("type", .string("text")), ("text", .string(arguments.serialized))])]))])
        default:
            throw .rpcError(code: -32601, message: "Method not found", data: nil)
        }
    }

    public func takeToolsChanged() async -> Bool { changed.withLock { c in defer { c = false }; return c } }
    public func takeToolsChangedPeek() async -> Bool { changed.withLock { $0 } }
    public func shutdown() async {}
}

/// SplitMix64: a fixed-seed generator for property and fuzz tests, so that a failure reproduces.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
