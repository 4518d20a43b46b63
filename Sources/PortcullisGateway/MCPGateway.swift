import AsyncHTTPClient
public import Cedar
import Crypto
public import Foundation
public import Logging
public import PortcullisCore

/// An HTTP request to `/mcp` or `/mcp/<upstream>`, already authenticated by the server.
public struct GatewayHTTPRequest: Sendable {
    public var method: String
    /// The upstream of `/mcp/<upstream>`, nil for `/mcp`.
    public var scope: String?
    /// Header names lowercased, in arrival order (duplicates kept).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var caller: GatewayCaller

    public init(method: String, scope: String?, headers: [(name: String, value: String)], body: [UInt8],
                caller: GatewayCaller) {
        self.method = method
        self.scope = scope
        self.headers = headers
        self.body = body
        self.caller = caller
    }

    public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    func headerCount(_ name: String) -> Int { headers.filter { $0.name == name }.count }
}

/// The answer to send.
public struct GatewayHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// The MCP policy enforcement point between agents and upstream MCP servers.
///
/// Every JSON-RPC method is decided: `initialize`/`server/discover` as `connect`, `tools/list` as
/// `list_tools` (and the list is filtered call by call), `tools/call` as `call_tool`; `ping` and
/// lifecycle notifications are answered by the gateway itself; anything else is refused.
/// Every decision is appended to the audit log before its effect; when the log cannot take it,
/// the call fails (fail closed).
public final class MCPGateway: Sendable {
    public let configuration: GatewayConfiguration
    public let catalog: ToolCatalog
    public let policies: PolicyEngine
    public let sessions: SessionTable
    /// Which agents are killed, and their calls in flight (issue #6).
    public let killSwitch = KillSwitch()
    /// Behavioural baselines, alerts, risk and the graduated response.
    public let monitor: BehaviourMonitor
    /// Human approvals of exact calls.
    public let approvals: ApprovalBroker
    let rateLimiter = RateLimiter()
    let audit: any AuditSink
    let upstreams: [String: any UpstreamTransport]
    let upstreamConfigurations: [String: UpstreamConfiguration]
    let logger: Logger
    let now: @Sendable () -> Date

    public init(configuration: GatewayConfiguration, upstreams: [String: any UpstreamTransport], toolStore: any ToolStore,
                policies: PolicyEngine, audit: any AuditSink, approvalStore: any ApprovalStore, monitorStore: any MonitorStore,
                logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
                responseClock: (@Sendable () -> Date)? = nil) throws(GatewayConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.upstreams = upstreams
        self.upstreamConfigurations = Dictionary(configuration.upstreams.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.policies = policies
        self.audit = audit
        self.logger = logger
        self.now = now
        self.sessions = SessionTable()
        let clock = responseClock ?? now
        self.monitor = BehaviourMonitor(store: monitorStore, audit: audit, settings: configuration.effectiveMonitoring,
                                        response: configuration.effectiveResponse, clock: clock, logger: logger)
        self.approvals = ApprovalBroker(store: approvalStore, audit: audit, settings: configuration.effectiveApprovals,
                                        clock: clock)
        let timeouts = Dictionary(configuration.upstreams.map { ($0.name, $0.timeoutSeconds ?? 30) }, uniquingKeysWith: { a, _ in a })
        self.catalog = ToolCatalog(
            upstreams: upstreams, store: toolStore, classifications: configuration.tools ?? [:],
            autoApprove: configuration.approveNewTools ?? true, timeouts: timeouts, logger: logger, now: now
        ) { tool, reason, findings in
            let event = AuditEvent(timeNanos: AuditEvent.nowNanos(now()), id: AuditEvent.newID(), kind: .alert,
                                   actor: "gateway", action: "tool.alert", resource: tool,
                                   reason: findings.isEmpty ? reason : "\(reason) [\(findings.joined(separator: ", "))]")
            do { try await audit.append(event) } catch {
                logger.critical("alert could not be audited", metadata: ["tool": "\(tool)", "error": "\(error)"])
            }
        }
    }

    /// Builds the upstream connections the configuration declares.
    public static func connectUpstreams(_ configuration: GatewayConfiguration, logger: Logger) -> [String: any UpstreamTransport] {
        var out: [String: any UpstreamTransport] = [:]
        for u in configuration.upstreams {
            if let command = u.command {
                out[u.name] = StdioUpstream(name: u.name, command: command, environment: u.env ?? [:], logger: logger)
            } else if let url = u.url {
                out[u.name] = HTTPUpstream(name: u.name, url: url, headers: u.headers ?? [:], logger: logger)
            }
        }
        return out
    }

    /// Lists every upstream once so that tools are pinned before the first agent arrives.
    public func warmUp() async {
        await withTaskGroup(of: Void.self) { group in
            for name in upstreams.keys {
                group.addTask {
                    do { try await self.catalog.refresh(upstream: name) } catch {
                        self.logger.warning("upstream not listed at start", metadata: ["upstream": "\(name)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    public func shutdown() async {
        for u in upstreams.values { await u.shutdown() }
    }

    /// Whether `/mcp/<name>` exists.
    public func hasUpstream(_ name: String) -> Bool { upstreams[name] != nil }

    // MARK: - HTTP

    public func handle(_ request: GatewayHTTPRequest) async -> GatewayHTTPResponse {
        if killSwitch.isKilled(request.caller.agent.id) {
            // Past authentication just before the kill landed: refused like every later request.
            return json(Self.killed(nil).response,
                        status: 403)
        }
        switch request.method {
        case "POST":
            return await post(request)
        case "DELETE":
            guard let id = request.header("mcp-session-id"),
                  sessions.lookup(id, agentID: request.caller.agent.id, scope: request.scope, now: now()) != nil else {
                return GatewayHTTPResponse(status: 404)
            }
            sessions.remove(id)
            return GatewayHTTPResponse(status: 204)
        default:
            // No server-initiated stream: the gateway never sends requests to agents.
            return GatewayHTTPResponse(status: 405, headers: [("allow", "POST, DELETE")])
        }
    }

    private func post(_ request: GatewayHTTPRequest) async -> GatewayHTTPResponse {
        let started = ContinuousClock.now
        let message: RPCMessage
        switch RPCMessage.parse(request.body) {
        case .success(let m): message = m
        case .failure(let f): return reply(f, status: 400)
        }
        let envelopeVersion = message.params?["_meta"]?[MCPVersion.protocolVersionMetaKey]
        let headerVersion = request.header("mcp-protocol-version")
        let modern = envelopeVersion != nil
            || (message.method != "initialize" && request.header("mcp-session-id") == nil
                && headerVersion.map(MCPVersion.modern.contains) == true)
        return modern ? await modernRequest(message, request, started: started)
                      : await legacyRequest(message, request, started: started)
    }

    // MARK: - Stateless revision (2026-07-28)

    private func modernRequest(_ m: RPCMessage, _ r: GatewayHTTPRequest, started: ContinuousClock.Instant) async
        -> GatewayHTTPResponse
    {
        if m.isNotification { return GatewayHTTPResponse(status: 202) }
        for name in ["mcp-protocol-version", "mcp-method", "mcp-name"] where r.headerCount(name) > 1 {
            return modernError(RPCFailure(id: m.id, code: RPCErrorCode.headerMismatch, message: "\(name) header sent more than once"))
        }
        guard let meta = m.params?["_meta"], case .object = meta,
              let version = meta[MCPVersion.protocolVersionMetaKey], meta[MCPVersion.clientCapabilitiesMetaKey] != nil else {
            return modernError(RPCFailure(id: m.id, code: RPCErrorCode.invalidParams,
                                          message: "params._meta must carry \(MCPVersion.protocolVersionMetaKey) and \(MCPVersion.clientCapabilitiesMetaKey)"))
        }
        guard let headerVersion = r.header("mcp-protocol-version"), .string(headerVersion) == version else {
            return modernError(RPCFailure(id: m.id, code: RPCErrorCode.headerMismatch,
                                          message: "MCP-Protocol-Version header does not match the request's protocol version"))
        }
        guard r.header("mcp-method") == m.method else {
            return modernError(RPCFailure(id: m.id, code: RPCErrorCode.headerMismatch,
                                          message: "Mcp-Method header does not match the request body's method"))
        }
        if m.method == "tools/call", let name = m[param: "name"]?.stringValue,
           HeaderValue.decode(r.header("mcp-name")) != name {
            return modernError(RPCFailure(id: m.id, code: RPCErrorCode.headerMismatch,
                                          message: "Mcp-Name header does not match the request body's name"))
        }
        guard case .string(let v) = version else {
            return modernError(RPCFailure(id: m.id, code: RPCErrorCode.invalidParams, message: "the protocol version must be a string"))
        }
        guard MCPVersion.modern.contains(v) else {
            return modernError(RPCFailure(
                id: m.id, code: RPCErrorCode.unsupportedProtocolVersion, message: "Unsupported protocol version",
                data: .object([("supported", .array(MCPVersion.modern.map(JSONValue.string))), ("requested", .string(v))])))
        }
        let session = sessions.implicitSession(tokenID: r.caller.tokenID, agentID: r.caller.agent.id, scope: r.scope, now: now())
        let outcome = await dispatch(m, r, session: session, modern: true, started: started)
        switch outcome {
        case .result(let value, let extraHeaders):
            return json(RPC.result(id: m.id!, complete(value)), status: 200, headers: extraHeaders)
        case .failure(let f):
            return modernError(f)
        case .accepted:
            return GatewayHTTPResponse(status: 202)
        }
    }

    /// HTTP status for a JSON-RPC error at 2026-07-28 (the SDK's table).
    private func modernError(_ f: RPCFailure) -> GatewayHTTPResponse {
        let status: Int = switch f.code {
        case RPCErrorCode.parseError, RPCErrorCode.invalidRequest, RPCErrorCode.invalidParams, RPCErrorCode.headerMismatch,
             RPCErrorCode.unsupportedProtocolVersion, -32021: 400
        case RPCErrorCode.methodNotFound: 404
        default: 200
        }
        return reply(f, status: status)
    }

    private func complete(_ result: JSONValue) -> JSONValue {
        result["resultType"] == nil ? result.setting("resultType", .string("complete")) : result
    }

    // MARK: - Session-based revisions (2025-06-18, 2025-11-25)

    private func legacyRequest(_ m: RPCMessage, _ r: GatewayHTTPRequest, started: ContinuousClock.Instant) async
        -> GatewayHTTPResponse
    {
        let caller = r.caller
        if m.method == "initialize" {
            guard let id = m.id else {
                return reply(RPCFailure(id: nil, code: RPCErrorCode.invalidRequest, message: "initialize must be a request"), status: 400)
            }
            let decision = decide(.connect, caller: caller, tool: nil, upstream: r.scope ?? "*", arguments: nil,
                                  session: SessionSnapshot(), dlp: [], listing: false)
            let reasoning = Self.reasoning(m, r)
            guard decision.allowed else {
                _ = await record(caller, session: nil, action: "connect", resource: r.scope ?? "*", decision: decision,
                                 reasoning: reasoning, started: started)
                return reply(denied(id, decision), status: 200)
            }
            let requested = m[param: "protocolVersion"]?.stringValue ?? ""
            let version = MCPVersion.handshake.contains(requested) ? requested : MCPVersion.handshake[0]
            let session: GatewaySession
            do {
                session = try sessions.create(agentID: caller.agent.id, scope: r.scope, protocolVersion: version,
                                              limit: caller.agent.maxConcurrentSessions,
                                              maxAge: Double(caller.agent.maxSessionSeconds), now: now())
            } catch {
                let refusal = GatewayDecision(allowed: false, determining: [], erroring: [],
                                              reasons: ["agent has \(caller.agent.maxConcurrentSessions) sessions open (its limit)"],
                                              obligations: [])
                _ = await record(caller, session: nil, action: "connect", resource: r.scope ?? "*", decision: refusal,
                                 reasoning: reasoning, started: started)
                return reply(RPCFailure(id: id, code: RPCErrorCode.limited, message: refusal.summary), status: 200)
            }
            if let failure = await record(caller, session: session, action: "connect", resource: r.scope ?? "*",
                                          decision: decision, reasoning: reasoning, started: started) {
                sessions.remove(session.id)
                return reply(failure.with(id: id), status: 200)
            }
            let result: JSONValue = .object([
                ("protocolVersion", .string(version)),
                ("capabilities", .object([("tools", .object([("listChanged", .bool(false))]))])),
                ("serverInfo", .object([("name", .string("portcullis")), ("version", .string("0.1.0"))])),
                ("instructions", .string("Tools are provided through the Portcullis gateway; every call is authorized and audited.")),
            ])
            return json(RPC.result(id: id, result), status: 200, headers: [("mcp-session-id", session.id)])
        }
        guard let sessionID = r.header("mcp-session-id") else {
            return reply(RPCFailure(id: m.id, code: RPCErrorCode.invalidRequest,
                                    message: "Mcp-Session-Id header is required (send initialize first)"), status: 400)
        }
        guard var session = sessions.lookup(sessionID, agentID: caller.agent.id, scope: r.scope, now: now()) else {
            return reply(RPCFailure(id: m.id, code: RPCErrorCode.invalidRequest, message: "session not found"), status: 404)
        }
        if let v = r.header("mcp-protocol-version"), !MCPVersion.handshake.contains(v) {
            return reply(RPCFailure(id: m.id, code: RPCErrorCode.invalidRequest,
                                    message: "unsupported MCP-Protocol-Version `\(v)`"), status: 400)
        }
        if now().timeIntervalSince(session.createdAt) > Double(caller.agent.maxSessionSeconds) {
            sessions.remove(sessionID)
            return reply(RPCFailure(id: m.id, code: RPCErrorCode.invalidRequest,
                                    message: "session expired (the agent's maximum session duration)"), status: 404)
        }
        session.lastSeen = now()
        let outcome = await dispatch(m, r, session: session, modern: false, started: started)
        switch outcome {
        case .result(let value, let extraHeaders):
            return json(RPC.result(id: m.id!, value), status: 200, headers: extraHeaders)
        case .failure(let f):
            return reply(f, status: m.isNotification ? 400 : 200)
        case .accepted:
            return GatewayHTTPResponse(status: 202)
        }
    }

    // MARK: - Methods

    enum Outcome {
        case result(JSONValue, headers: [(name: String, value: String)])
        case failure(RPCFailure)
        case accepted
    }

    static let acceptedNotifications: Set<String> = [
        "notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/roots/list_changed",
    ]

    private func dispatch(_ m: RPCMessage, _ r: GatewayHTTPRequest, session: GatewaySession, modern: Bool,
                          started: ContinuousClock.Instant) async -> Outcome {
        if m.isNotification {
            guard Self.acceptedNotifications.contains(m.method) else {
                return .failure(RPCFailure(id: nil, code: RPCErrorCode.methodNotFound, message: "notification `\(Printable.clip(m.method))` is not supported"))
            }
            return .accepted
        }
        switch m.method {
        case "ping":
            return .result(.object([]), headers: [])
        case "server/discover" where modern:
            let decision = decide(.connect, caller: r.caller, tool: nil, upstream: r.scope ?? "*", arguments: nil,
                                  session: session.snapshot(now: now()), dlp: [], listing: false)
            if let failure = await record(r.caller, session: session, action: "connect", resource: r.scope ?? "*",
                                          decision: decision, reasoning: Self.reasoning(m, r), started: started) {
                return .failure(failure.with(id: m.id))
            }
            guard decision.allowed else { return .failure(denied(m.id!, decision)) }
            return .result(.object([
                ("supportedVersions", .array(MCPVersion.modern.map(JSONValue.string))),
                ("capabilities", .object([("tools", .object([("listChanged", .bool(false))]))])),
                ("instructions", .string("Tools are provided through the Portcullis gateway; every call is authorized and audited.")),
                ("cacheScope", .string("private")), ("ttlMs", .number("0")),
                ("_meta", .object([("io.modelcontextprotocol/serverInfo",
                                    .object([("name", .string("portcullis")), ("version", .string("0.1.0"))]))])),
            ]), headers: [("cache-control", "private, no-store")])
        case "tools/list":
            return await listTools(m, r, session: session, modern: modern, started: started)
        case "tools/call":
            return await callTool(m, r, session: session, started: started)
        default:
            let refusal = GatewayDecision(allowed: false, determining: [], erroring: [],
                                          reasons: ["method `\(Printable.clip(m.method))` is not supported by the gateway"], obligations: [])
            _ = await record(r.caller, session: session, action: Printable.clip(m.method), resource: r.scope ?? "*",
                             decision: refusal, reasoning: Self.reasoning(m, r), started: started)
            return .failure(RPCFailure(id: m.id, code: RPCErrorCode.methodNotFound, message: "Method not found: \(Printable.clip(m.method))"))
        }
    }

    private func listTools(_ m: RPCMessage, _ r: GatewayHTTPRequest, session: GatewaySession, modern: Bool,
                           started: ContinuousClock.Instant) async -> Outcome {
        let snapshot = session.snapshot(now: now())
        let decision = decide(.listTools, caller: r.caller, tool: nil, upstream: r.scope ?? "*", arguments: nil,
                              session: snapshot, dlp: [], listing: false)
        guard decision.allowed else {
            _ = await record(r.caller, session: session, action: "list_tools", resource: r.scope ?? "*", decision: decision,
                             reasoning: Self.reasoning(m, r), started: started)
            return .failure(denied(m.id!, decision))
        }
        let names = r.scope.map { [$0] } ?? upstreams.keys.sorted()
        await withTaskGroup(of: Void.self) { group in
            for name in names {
                group.addTask {
                    do { try await self.catalog.refresh(upstream: name) } catch {
                        self.logger.warning("upstream could not list its tools", metadata: ["upstream": "\(name)", "error": "\(error)"])
                    }
                }
            }
        }
        var tools: [JSONValue] = []
        for entry in catalog.entries(upstream: r.scope) where entry.record.isCallable {
            // What the agent may call in principle: session state (taint), DLP and rate limits are
            // decided per call, where the denial can say why.
            let visible = decide(.callTool, caller: r.caller, tool: entry.record, upstream: entry.record.upstream,
                                 arguments: .object([]), session: SessionSnapshot(), dlp: [], listing: true)
            guard visible.allowed else { continue }
            let exposed = r.scope == nil ? entry.record.qualifiedName : entry.record.name
            tools.append(entry.definition.setting("name", .string(exposed)).removing("_meta"))
        }
        var listed = decision
        listed.reasons.append("\(tools.count) tools visible")
        if let failure = await record(r.caller, session: session, action: "list_tools", resource: r.scope ?? "*",
                                      decision: listed, reasoning: Self.reasoning(m, r), started: started) {
            return .failure(failure.with(id: m.id))
        }
        var result: JSONValue = .object([("tools", .array(tools))])
        if modern { result = result.setting("cacheScope", .string("private")).setting("ttlMs", .number("0")) }
        return .result(result, headers: [("cache-control", "private, no-store")])
    }

    private func callTool(_ m: RPCMessage, _ r: GatewayHTTPRequest, session: GatewaySession,
                          started: ContinuousClock.Instant) async -> Outcome {
        let caller = r.caller
        guard let id = m.id else { return .failure(RPCFailure(id: nil, code: RPCErrorCode.invalidRequest, message: "tools/call needs an id")) }
        guard case .string(let requested)? = m[param: "name"] else {
            return .failure(RPCFailure(id: id, code: RPCErrorCode.invalidParams, message: "params.name must be a string"))
        }
        let arguments = m[param: "arguments"] ?? .object([])
        guard case .object = arguments else {
            return .failure(RPCFailure(id: id, code: RPCErrorCode.invalidParams, message: "params.arguments must be an object"))
        }
        let unknown = RPCFailure(id: id, code: RPCErrorCode.invalidParams, message: "Unknown tool: \(Printable.clip(requested))")
        let qualified: String
        if let scope = r.scope {
            qualified = "\(scope).\(requested)"
        } else {
            qualified = requested
        }
        guard let dot = qualified.firstIndex(of: "."), let upstream = upstreams[String(qualified[..<dot])] else {
            await recordUnknown(caller, session, qualified, m, r, started)
            return .failure(unknown)
        }
        let upstreamName = String(qualified[..<dot])
        var entry = catalog.entry(qualified)
        let listChanged = await upstream.takeToolsChangedPeek()
        if entry == nil || listChanged {
            try? await catalog.refresh(upstream: upstreamName)
            entry = catalog.entry(qualified)
        }
        guard let entry, entry.record.isCallable else {
            await recordUnknown(caller, session, qualified, m, r, started)
            return .failure(unknown)
        }
        let tool = entry.record
        let (redactedArguments, dlpKinds) = JSONStrings.redacting(arguments)
        let argumentsDigest = Self.digest(arguments)
        let reasoning = Self.reasoning(m, r)
        let snapshot = session.snapshot(now: now())
        var decision = decide(.callTool, caller: caller, tool: tool, upstream: upstreamName, arguments: arguments,
                              session: snapshot, dlp: dlpKinds, listing: false)
        let argumentsAction = configuration.dlp?.arguments ?? .block
        if decision.allowed && !dlpKinds.isEmpty && argumentsAction == .block {
            decision = GatewayDecision(allowed: false, determining: [], erroring: [],
                                       reasons: ["the arguments contain \(dlpKinds.map(\.rawValue).joined(separator: ", "))"],
                                       obligations: [])
        }
        if decision.allowed {
            let limit = configuration.toolRateLimits?[qualified] ?? configuration.effectiveRateLimit
            let taken = rateLimiter.take("\(caller.agent.id)|\(qualified)", limit: limit, now: now())
            if !taken.allowed {
                decision = GatewayDecision(allowed: false, determining: [], erroring: [],
                                           reasons: ["rate limit for \(qualified) reached; retry in \(Int(taken.retryAfter.rounded(.up)))s"],
                                           obligations: [])
            }
        }
        // The automatic response in force (docs/response.md): `read_only` refuses writes, `approve_writes` asks a person.
        let risk = monitor.risk(caller.agent.id)
        var needsApproval = decision.allowed && decision.obligations.contains("approval")
        if decision.allowed && tool.effect != .read {
            if risk.response >= .readOnly {
                decision = GatewayDecision(allowed: false, determining: [], erroring: [],
                                           reasons: ["writes are blocked by the automatic response `\(risk.response.rawValue)` (risk score \(risk.score))"],
                                           obligations: [])
                needsApproval = false
            } else if risk.response == .approveWrites {
                needsApproval = true
                decision.reasons.append("writes need approval under the automatic response `approve_writes` (risk score \(risk.score))")
            }
        }
        let auditedArguments = configuration.auditArguments == true ? redactedArguments : nil
        let forwarded = argumentsAction == .redact ? redactedArguments : arguments
        var observation = BehaviourMonitor.Observation(
            agent: caller.agent, tool: qualified, upstream: upstreamName, sensitive: tool.effect != .read || tool.risk >= 3,
            allowed: decision.allowed, bytesOut: 0)
        if needsApproval {
            if let refusal = await awaitApproval(&decision, caller: caller, session: session, tool: tool,
                                                 argumentsDigest: argumentsDigest, redactedArguments: auditedArguments,
                                                 reasoning: reasoning, started: started, id: id) {
                observation.allowed = false
                await monitor.observe(observation)
                return .failure(refusal)
            }
        }
        if decision.allowed {
            observation.bytesOut = forwarded.serialized.utf8.count
        }
        await monitor.observe(observation)
        guard decision.allowed else {
            // A tool the agent may not even see answers exactly like a tool that does not exist.
            let visible = decide(.callTool, caller: caller, tool: tool, upstream: upstreamName, arguments: .object([]),
                                 session: SessionSnapshot(), dlp: [], listing: true)
            if let failure = await record(caller, session: session, action: "call_tool", resource: qualified, decision: decision,
                                          argumentsDigest: argumentsDigest, redactedArguments: auditedArguments,
                                          reasoning: reasoning, started: started) {
                return .failure(failure.with(id: id))
            }
            return .failure(visible.allowed ? denied(id, decision) : unknown)
        }
        // A write is recorded before it happens; a read's record waits for its outcome, but the
        // result is released only once the record is durable.
        if tool.effect != .read {
            if let failure = await record(caller, session: session, action: "call_tool", resource: qualified, decision: decision,
                                          argumentsDigest: argumentsDigest, redactedArguments: auditedArguments,
                                          reasoning: reasoning, started: started) {
                return .failure(failure.with(id: id))
            }
        }
        let timeout = upstreamConfigurations[upstreamName]?.timeoutSeconds ?? 30
        let params: JSONValue = .object([("name", .string(tool.name)), ("arguments", forwarded)])
        // Cancelled at once if the agent is killed meanwhile; then nothing of it is released.
        let called: Result<JSONValue, UpstreamError>? = await killSwitch.run(agentID: caller.agent.id) {
            do throws(UpstreamError) {
                return .success(try await upstream.call(method: "tools/call", params: params, timeoutSeconds: timeout))
            } catch {
                return .failure(error)
            }
        }
        guard let upstreamResult = called, !killSwitch.isKilled(caller.agent.id) else {
            var killed = decision
            killed.allowed = false
            killed.reasons = ["the agent was killed while the call was in flight; its result was dropped"]
            _ = await record(caller, session: session, action: tool.effect == .read ? "call_tool" : "call_tool.result",
                             resource: qualified, decision: killed, argumentsDigest: argumentsDigest,
                             redactedArguments: auditedArguments, reasoning: reasoning,
                             outcome: AuditEvent.Outcome(status: "cancelled:killed"), started: started)
            return .failure(Self.killed(id))
        }
        sessions.update(session.id) { $0.calls += 1 }
        switch upstreamResult {
        case .failure(let error):
            let status: String
            let failure: RPCFailure
            switch error {
            case .rpcError(let code, let message, _):
                status = "error:\(code)"
                failure = RPCFailure(id: id, code: code, message: Printable.clip(message, 2000))
            default:
                status = "upstream:\(error)"
                failure = RPCFailure(id: id, code: RPCErrorCode.upstreamUnavailable, message: "upstream `\(upstreamName)` failed: \(error)")
            }
            if let auditFailure = await record(caller, session: session, action: tool.effect == .read ? "call_tool" : "call_tool.result",
                                               resource: qualified, decision: decision, argumentsDigest: argumentsDigest,
                                               redactedArguments: auditedArguments, reasoning: reasoning,
                                               outcome: AuditEvent.Outcome(status: status), started: started) {
                return .failure(auditFailure.with(id: id))
            }
            return .failure(failure)
        case .success(var result):
            let strings = JSONStrings.all(result)
            var injection = InjectionScanner.findings(inStringsOf: strings)
            if upstreamConfigurations[upstreamName]?.untrusted == true { injection.append("untrusted-upstream") }
            if !injection.isEmpty {
                sessions.update(session.id) { s in
                    s.tainted = true
                    if !s.taintSources.contains(qualified) { s.taintSources.append(qualified) }
                }
                logger.notice("session tainted", metadata: ["agent": "\(caller.agent.id)", "tool": "\(qualified)",
                                                            "findings": "\(injection.joined(separator: ","))"])
            }
            let resultsAction = configuration.dlp?.results ?? .redact
            var resultKinds: [DLPScanner.Kind] = []
            if resultsAction != .allow {
                let (redacted, kinds) = JSONStrings.redacting(result)
                resultKinds = kinds
                if !kinds.isEmpty {
                    if resultsAction == .redact {
                        result = redacted
                    }
                }
            }
            let withheld = resultsAction == .block && !resultKinds.isEmpty
            let body = result.serialized
            var notes: [String] = []
            if !injection.isEmpty { notes.append("result inspection: \(injection.joined(separator: ", ")); session tainted") }
            if !resultKinds.isEmpty {
                notes.append("result DLP: \(resultKinds.map(\.rawValue).joined(separator: ", ")) \(withheld ? "withheld" : "redacted")")
            }
            var outcomeDecision = decision
            outcomeDecision.reasons.append(contentsOf: notes)
            let status = withheld ? "withheld" : (result["isError"]?.boolValue == true ? "tool_error" : "ok")
            if let failure = await record(caller, session: session, action: tool.effect == .read ? "call_tool" : "call_tool.result",
                                          resource: qualified, decision: outcomeDecision, argumentsDigest: argumentsDigest,
                                          redactedArguments: auditedArguments, reasoning: reasoning,
                                          outcome: AuditEvent.Outcome(status: status, bytes: body.utf8.count), started: started) {
                return .failure(failure.with(id: id))
            }
            if killSwitch.isKilled(caller.agent.id) {
                return .failure(Self.killed(id))
            }
            if withheld {
                return .failure(RPCFailure(id: id, code: RPCErrorCode.denied,
                                           message: "the result was withheld: it contains \(resultKinds.map(\.rawValue).joined(separator: ", "))"))
            }
            return .result(result.removing("_meta"), headers: [])
        }
    }

    /// Resolves a call that needs a person's approval. Returns nil when an approval was consumed (the
    /// decision then names it), else the failure to send (after recording it).
    private func awaitApproval(_ decision: inout GatewayDecision, caller: GatewayCaller, session: GatewaySession,
                               tool: ToolRecord, argumentsDigest: String, redactedArguments: JSONValue?, reasoning: String?,
                               started: ContinuousClock.Instant, id: JSONValue) async -> RPCFailure? {
        let request = ApprovalBroker.Request(
            binding: Approval.Binding(agentID: caller.agent.id, tool: tool.qualifiedName, argumentsDigest: argumentsDigest,
                                      session: Self.sessionRef(session.id)),
            agent: caller.agent, tool: tool, reasons: decision.reasons)
        let broker = approvals
        let outcome: Result<ApprovalBroker.Resolution, any Error>? = await killSwitch.run(agentID: caller.agent.id) {
            do { return .success(try await broker.resolve(request)) } catch { return .failure(error) }
        }
        var refused = decision
        refused.allowed = false
        func fail(_ reason: String, _ failure: RPCFailure, pending: Bool = false) async -> RPCFailure {
            refused.reasons = decision.reasons + [reason]
            if let auditFailure = await record(caller, session: session, action: "call_tool", resource: tool.qualifiedName,
                                               decision: refused, argumentsDigest: argumentsDigest,
                                               redactedArguments: redactedArguments, reasoning: reasoning, started: started,
                                               pending: pending) {
                return auditFailure.with(id: id)
            }
            return failure
        }
        switch outcome {
        case nil:
            return await fail("the agent was killed while waiting for approval",
                              Self.killed(id))
        case .failure(let error)?:
            logger.error("approval could not be processed; denying", metadata: ["error": "\(error)"])
            return await fail("the approval could not be processed (\(error)); denied",
                              RPCFailure(id: id, code: RPCErrorCode.denied, message: "Denied by Portcullis: the approval could not be processed"))
        case .success(.proceed(let a))?:
            decision.reasons.append("approved by \(a.decidedBy ?? "?") (\(a.id)): \(a.decisionReason ?? "")")
            return nil
        case .success(.pending(let a))?:
            let reason = "approval \(a.id) is pending until \(Self.iso(a.expiresAt)); retry the same call once it is approved"
            return await fail(reason, RPCFailure(
                id: id, code: RPCErrorCode.approvalPending,
                message: "Approval required: \(decision.summary). \(reason)",
                data: .object([("approvalId", .string(a.id)), ("status", .string("pending")),
                               ("expiresAt", .string(Self.iso(a.expiresAt))), ("reason", .string(decision.summary))])),
                pending: true)
        case .success(.refused(let a))?:
            let why = a.status == .denied
                ? "approval \(a.id) was denied by \(a.decidedBy ?? "?"): \(a.decisionReason ?? "")"
                : "approval \(a.id) is \(a.status.rawValue)"
            return await fail(why, RPCFailure(
                id: id, code: RPCErrorCode.denied, message: "Denied by Portcullis: \(why)",
                data: .object([("approvalId", .string(a.id)), ("status", .string(a.status.rawValue)), ("reason", .string(why))])))
        }
    }

    /// What a killed agent's request or call gets.
    static func killed(_ id: JSONValue?) -> RPCFailure {
        RPCFailure(id: id, code: RPCErrorCode.denied, message: "Denied by Portcullis: the agent was killed")
    }

    static func iso(_ d: Date) -> String {
        d.formatted(.iso8601)
    }

    // MARK: - Kill switch and approvers

    /// Kills agents at the gateway: refuses their requests, cancels their calls in flight, closes their sessions.
    public func kill(_ agentIDs: [String]) -> (sessionsClosed: Int, callsCancelled: Int) {
        let cancelled = killSwitch.kill(agentIDs)
        return (closeSessions(agentIDs), cancelled)
    }

    /// Cancels agents' calls in flight and closes their sessions, without killing them (a suspension).
    public func disconnect(_ agentIDs: [String]) -> (sessionsClosed: Int, callsCancelled: Int) {
        let cancelled = killSwitch.cancelCalls(agentIDs)
        return (closeSessions(agentIDs), cancelled)
    }

    private func closeSessions(_ agentIDs: [String]) -> Int {
        agentIDs.reduce(0) { $0 + sessions.removeAll(agentID: $1) }
    }

    /// Whether `approver` may decide `approval` (Cedar `Action::"approve"`; see docs/response.md).
    public func authorizeApprover(_ approver: String, approval: Approval, approve: Bool) -> GatewayDecision {
        let (request, entities) = CedarMapping.approvalRequest(approver: approver, approval: approval, approve: approve)
        let (response, snapshot) = policies.authorize(request, entities: entities)
        return GatewayDecision(response, snapshot: snapshot)
    }

    private func recordUnknown(_ caller: GatewayCaller, _ session: GatewaySession, _ name: String, _ m: RPCMessage,
                               _ r: GatewayHTTPRequest, _ started: ContinuousClock.Instant) async {
        let refusal = GatewayDecision(allowed: false, determining: [], erroring: [],
                                      reasons: ["no callable tool `\(Printable.clip(name))`"], obligations: [])
        _ = await record(caller, session: session, action: "call_tool", resource: Printable.clip(name), decision: refusal,
                         argumentsDigest: m[param: "arguments"].map(Self.digest), reasoning: Self.reasoning(m, r),
                         started: started)
    }

    // MARK: - Decisions and records

    func decide(_ action: CedarMapping.Action, caller: GatewayCaller, tool: ToolRecord?, upstream: String,
                arguments: JSONValue?, session: SessionSnapshot, dlp: [DLPScanner.Kind], listing: Bool) -> GatewayDecision {
        let (request, entities) = CedarMapping.request(action: action, caller: caller, tool: tool, upstream: upstream,
                                                       arguments: arguments, session: session, dlpKinds: dlp,
                                                       listing: listing, now: now(), risk: monitor.risk(caller.agent.id))
        let (response, snapshot) = policies.authorize(request, entities: entities)
        return GatewayDecision(response, snapshot: snapshot)
    }

    private func denied(_ id: JSONValue, _ d: GatewayDecision) -> RPCFailure {
        var data: [(String, JSONValue)] = [("reason", .string(d.summary))]
        if !d.obligations.isEmpty { data.append(("obligations", .array(d.obligations.map(JSONValue.string)))) }
        return RPCFailure(id: id, code: RPCErrorCode.denied, message: "Denied by Portcullis: \(d.summary)", data: .object(data))
    }

    /// Appends the decision to the audit log; returns the failure to send when it could not be recorded.
    private func record(_ caller: GatewayCaller, session: GatewaySession?, action: String, resource: String,
                        decision: GatewayDecision, argumentsDigest: String? = nil, redactedArguments: JSONValue? = nil,
                        reasoning: String?, outcome: AuditEvent.Outcome? = nil, started: ContinuousClock.Instant,
                        pending: Bool = false) async -> RPCFailure?
    {
        let elapsed = ContinuousClock.now - started
        let latency = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        let event = AuditEvent(
            timeNanos: AuditEvent.nowNanos(now()), id: AuditEvent.newID(), traceID: caller.traceID, kind: .decision,
            agent: AuditEvent.AgentRef(id: caller.agent.id, model: caller.agent.modelName, version: caller.agent.modelVersion,
                                       configDigest: caller.agent.configDigest),
            onBehalfOf: caller.onBehalfOf, delegationChain: caller.chain, action: action, resource: resource,
            argumentsDigest: argumentsDigest,
            redactedArguments: redactedArguments.flatMap { try? JSONDecoder().decode(JSONAny.self, from: Data($0.serialized.utf8)) },
            decision: pending ? .pending : decision.allowed ? .allow : .deny, determiningPolicies: decision.determining,
            erroringPolicies: decision.erroring, obligations: decision.obligations, reasoning: reasoning,
            reason: decision.summary, outcome: outcome, latencyNanos: latency, sessionID: session.map { Self.sessionRef($0.id) },
            sourceAddress: caller.sourceAddress)
        do {
            try await audit.append(event)
            return nil
        } catch {
            logger.critical("audit log unavailable; failing closed", metadata: ["error": "\(error)"])
            return RPCFailure(id: nil, code: RPCErrorCode.auditUnavailable,
                              message: "the audit log is unavailable, so the call was not made")
        }
    }

    /// Session ids are bearer secrets: the log keeps a digest.
    static func sessionRef(_ id: String) -> String {
        "s_" + Hex.encode(SHA256.hash(data: Array(id.utf8)).prefix(8))
    }

    /// Hex SHA-256 of the canonical JSON of the arguments.
    public static func digest(_ arguments: JSONValue) -> String {
        Hex.encode(SHA256.hash(data: Array(arguments.canonical.serialized.utf8)))
    }

    /// The agent's stated reasoning: `_meta["io.portcullis/reasoning"]`, else the `Portcullis-Reasoning` header.
    static func reasoning(_ m: RPCMessage, _ r: GatewayHTTPRequest) -> String? {
        let text = m.params?["_meta"]?[MCPVersion.reasoningMetaKey]?.stringValue ?? r.header("portcullis-reasoning")
        return text.map { Printable.clip($0, 4096) }
    }

    private func reply(_ f: RPCFailure, status: Int) -> GatewayHTTPResponse {
        if f.id == nil && status == 202 { return GatewayHTTPResponse(status: 202) }
        return json(f.response, status: status)
    }

    private func json(_ value: JSONValue, status: Int, headers: [(name: String, value: String)] = []) -> GatewayHTTPResponse {
        GatewayHTTPResponse(status: status, headers: [("content-type", "application/json")] + headers,
                            body: Array(value.serialized.utf8))
    }
}

extension RPCFailure {
    func with(id: JSONValue?) -> RPCFailure {
        var copy = self
        copy.id = id
        return copy
    }
}

/// Keeps untrusted text short in messages and logs.
enum Printable {
    static func clip(_ s: String, _ limit: Int = 200) -> String {
        s.count <= limit ? s : String(s.prefix(limit)) + "…"
    }
}

/// `Mcp-Name` header values: plain, or `=?base64?…?=` for values that are not header-safe.
enum HeaderValue {
    static func decode(_ value: String?) -> String? {
        guard let value else { return nil }
        if value.hasPrefix("=?base64?"), value.hasSuffix("?="), value.count >= 11 {
            let inner = String(value.dropFirst(9).dropLast(2))
            guard let data = Data(base64Encoded: inner) else { return nil }
            return String(data: data, encoding: .utf8)
        }
        return value
    }
}
