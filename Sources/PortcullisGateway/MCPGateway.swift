import AsyncHTTPClient
public import Cedar
import Crypto
public import Foundation
public import Logging
public import Tracing
public import PortcullisCore
public import PortcullisEnforcement
public import PortcullisVault

/// An HTTP request to `/mcp` or `/mcp/<upstream>`, already authenticated by the server.
public struct GatewayHTTPRequest: Sendable {
    public var method: String
    /// The upstream of `/mcp/<upstream>`, nil for `/mcp`.
    public var scope: String?
    /// Header names lowercased, in arrival order (duplicates kept).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var caller: GatewayCaller
    /// Where notifications about this request go before its answer (the route streams them as server-sent events):
    /// set when the client accepts `text/event-stream`.
    public var notify: (@Sendable (JSONValue) async -> Void)?

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

/// The MCP front end: protocol revisions, sessions, the JSON-RPC envelope, list filtering and error
/// mapping. Every enforcement decision is the shared ``EnforcementPipeline``'s.
///
/// Every JSON-RPC message is first admitted by the pipeline (kill switch, the agent's rate limit
/// over all methods); `initialize`/`server/discover` are decided as `connect`, `tools/list` as
/// `list_tools` (and the list is filtered call by call), `tools/call` walks the whole pipeline;
/// `ping` and lifecycle notifications are answered by the gateway itself; anything else is refused
/// and recorded.
public final class MCPGateway: Sendable {
    public let configuration: GatewayConfiguration
    /// The enforcement every front end shares.
    public let pipeline: EnforcementPipeline
    public let catalog: ToolCatalog
    public let sessions: SessionTable
    let upstreams: [String: any UpstreamTransport]
    let upstreamConfigurations: [String: UpstreamConfiguration]
    /// Where people decide approvals (`<issuer>/console/approvals`): named in an approval's error, so automation can
    /// send a person there.
    let approvalsURL: String?
    let logger: Logger
    let now: @Sendable () -> Date

    public var policies: PolicyEngine { pipeline.policies }
    /// Which agents are killed, and their calls in flight.
    public var killSwitch: KillSwitch { pipeline.killSwitch }
    /// Behavioural baselines, alerts, risk and the graduated response.
    public var monitor: BehaviourMonitor { pipeline.monitor }
    /// Human approvals of exact calls.
    public var approvals: ApprovalBroker { pipeline.approvals }

    /// A gateway with its own pipeline.
    public convenience init(configuration: GatewayConfiguration, upstreams: [String: any UpstreamTransport],
                            toolStore: any ToolStore, policies: PolicyEngine, audit: any AuditSink,
                            approvalStore: any ApprovalStore, monitorStore: any MonitorStore, logger: Logger,
                            now: @escaping @Sendable () -> Date = { Date() },
                            responseClock: (@Sendable () -> Date)? = nil,
                            metrics: GatewayMetrics = GatewayMetrics(),
                            rateBudget: (any RateBudget)? = nil, tracer: (any Tracer)? = nil,
                            approvalsURL: String? = nil) throws(GatewayConfigurationError) {
        try configuration.validate()
        let pipeline = EnforcementPipeline(configuration: configuration, policies: policies, audit: audit,
                                           approvalStore: approvalStore, monitorStore: monitorStore, logger: logger,
                                           now: now, responseClock: responseClock, metrics: metrics, rateBudget: rateBudget,
                                           tracer: tracer)
        try self.init(pipeline: pipeline, upstreams: upstreams, toolStore: toolStore, audit: audit, logger: logger, now: now,
                      approvalsURL: approvalsURL)
    }

    /// A front end on a shared pipeline.
    public init(pipeline: EnforcementPipeline, upstreams: [String: any UpstreamTransport], toolStore: any ToolStore,
                audit: any AuditSink, logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
                approvalsURL: String? = nil)
        throws(GatewayConfigurationError)
    {
        self.approvalsURL = approvalsURL
        let configuration = pipeline.configuration
        try configuration.validate()
        self.configuration = configuration
        self.pipeline = pipeline
        self.upstreams = upstreams
        self.upstreamConfigurations = Dictionary(configuration.upstreams.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.logger = logger
        self.now = now
        self.sessions = SessionTable()
        let timeouts = Dictionary(configuration.upstreams.map { ($0.name, $0.timeoutSeconds ?? 30) }, uniquingKeysWith: { a, _ in a })
        self.catalog = ToolCatalog(
            upstreams: upstreams, store: toolStore, classifications: configuration.tools ?? [:],
            trustAnnotations: Set(configuration.upstreams.filter { $0.trustAnnotations == true }.map(\.name)),
            autoApprove: configuration.approveNewTools ?? true, timeouts: timeouts,
            listLifetime: configuration.effectiveToolListSeconds, logger: logger, now: now
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
    /// - Parameter injector: resolves `vault:<secret>` header and environment values (nil: no vault; an upstream
    ///   that needs one then fails its calls with a clear reason).
    public static func connectUpstreams(_ configuration: GatewayConfiguration, logger: Logger,
                                        injector: CredentialInjector? = nil) -> [String: any UpstreamTransport] {
        var out: [String: any UpstreamTransport] = [:]
        for u in configuration.upstreams {
            if let command = u.command {
                out[u.name] = StdioUpstream(name: u.name, command: command, environment: u.env ?? [:],
                                            passEnvironment: u.passEnvironment ?? [], logger: logger, injector: injector)
            } else if let url = u.url {
                out[u.name] = HTTPUpstream(name: u.name, url: url, headers: u.headers ?? [:], logger: logger,
                                           injector: injector)
            }
        }
        return out
    }

    /// Lists every upstream once so that tools are pinned before the first agent arrives.
    public func warmUp() async {
        await withTaskGroup(of: Void.self) { group in
            for name in upstreams.keys {
                group.addTask { await self.catalog.refreshIfNeeded(upstream: name) }
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
        switch request.method {
        case "POST":
            return await post(request)
        case "DELETE":
            if let refusal = await pipeline.admit(request.caller, method: "DELETE") {
                return reply(failure(refusal, id: nil), status: refusal.code == .rateLimited ? 429 : 403)
            }
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
        // A JSON-RPC message is JSON: a form, text or multipart body is refused before it is read, so
        // that no parser guesses at it (other gateways' authorization was bypassed that way).
        let contentTypes = request.headers.filter { $0.name == "content-type" }.map(\.value)
        guard contentTypes.count == 1, Self.isJSON(contentTypes[0]) else {
            let got = contentTypes.isEmpty ? "none" : contentTypes.joined(separator: ", ")
            return reply(RPCFailure(id: nil, code: RPCErrorCode.invalidRequest,
                                    message: "Content-Type must be application/json (got \(Printable.clip(got, 80)))"), status: 415)
        }
        let message: RPCMessage
        switch RPCMessage.parse(request.body) {
        case .success(let m): message = m
        case .failure(let f): return reply(f, status: 400)
        }
        if let refusal = await pipeline.admit(request.caller, method: message.method) {
            // A request gets the refusal as a JSON-RPC error the client can show; a notification has no id to answer.
            return reply(failure(refusal, id: message.id), status: message.id == nil ? (refusal.code == .rateLimited ? 429 : 403) : 200)
        }
        let envelopeVersion = message.params?["_meta"]?[MCPVersion.protocolVersionMetaKey]
        let headerVersion = request.header("mcp-protocol-version")
        let modern = envelopeVersion != nil
            || (message.method != "initialize" && request.header("mcp-session-id") == nil
                && headerVersion.map(MCPVersion.modern.contains) == true)
        return modern ? await modernRequest(message, request, started: started)
                      : await legacyRequest(message, request, started: started)
    }

    /// `application/json`, with parameters (`; charset=utf-8`) allowed.
    static func isJSON(_ contentType: String) -> Bool {
        HTTPText.mediaType(contentType) == "application/json"
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
            let requested = m[param: "protocolVersion"]?.stringValue ?? ""
            let version = MCPVersion.handshake.contains(requested) ? requested : MCPVersion.handshake[0]
            var call = GatewayCall(kind: .mcp, action: .connect, caller: caller, upstream: r.scope ?? "*",
                                   session: pipeline.snapshot(SessionSnapshot(), caller: caller),
                                   reasoning: Self.reasoning(m, r), started: started)
            let session: GatewaySession
            do {
                session = try sessions.create(agentID: caller.agent.id, scope: r.scope, protocolVersion: version,
                                              limit: caller.agent.maxConcurrentSessions,
                                              maxAge: Double(caller.agent.maxSessionSeconds), now: now())
            } catch {
                let refusal = Refusal(.rateLimited, "the agent has \(caller.agent.maxConcurrentSessions) sessions open (its limit); end one (DELETE) or wait for it to expire")
                let recorded = await pipeline.recordRefusal(call, refusal)
                return reply(failure(recorded ?? refusal, id: id), status: 200)
            }
            call = GatewayCall(kind: .mcp, action: .connect, caller: caller, upstream: r.scope ?? "*", session: call.session,
                               sessionRef: Self.sessionRef(session.id), reasoning: call.reasoning, started: started)
            if let refusal = await pipeline.authorize(&call) {
                sessions.remove(session.id)
                return reply(failure(refusal, id: id), status: 200)
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

    /// A call value for an upstream-level action of this session.
    private func upstreamCall(_ action: CedarMapping.Action, _ m: RPCMessage, _ r: GatewayHTTPRequest, session: GatewaySession,
                              started: ContinuousClock.Instant, resource: String? = nil) -> GatewayCall {
        GatewayCall(kind: .mcp, action: action, caller: r.caller, upstream: r.scope ?? "*", resourceName: resource,
                    session: pipeline.snapshot(session.snapshot(now: now()), caller: r.caller),
                    sessionRef: Self.sessionRef(session.id), reasoning: Self.reasoning(m, r), started: started)
    }

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
            var call = upstreamCall(.connect, m, r, session: session, started: started)
            if let refusal = await pipeline.authorize(&call) { return .failure(failure(refusal, id: m.id)) }
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
            let call = upstreamCall(.connect, m, r, session: session, started: started)
            let refusal = Refusal(.invalid, "method `\(Printable.clip(m.method))` is not supported by the gateway")
            if let failed = await pipeline.recordRefusal(call, refusal) { return .failure(failure(failed, id: m.id)) }
            return .failure(RPCFailure(id: m.id, code: RPCErrorCode.methodNotFound, message: "Method not found: \(Printable.clip(m.method))",
                                       data: .object([("reason", .string(refusal.reason)), ("refusal", .string(refusal.code.rawValue))])))
        }
    }

    private func listTools(_ m: RPCMessage, _ r: GatewayHTTPRequest, session: GatewaySession, modern: Bool,
                           started: ContinuousClock.Instant) async -> Outcome {
        var call = upstreamCall(.listTools, m, r, session: session, started: started)
        if let refusal = await pipeline.authorize(&call) { return .failure(failure(refusal, id: m.id)) }
        // Upstreams are listed again only when their listing is stale or they announced a change.
        let names = r.scope.map { [$0] } ?? upstreams.keys.sorted()
        await withTaskGroup(of: Void.self) { group in
            for name in names { group.addTask { await self.catalog.refreshIfNeeded(upstream: name) } }
        }
        var tools: [JSONValue] = []
        for entry in catalog.entries(upstream: r.scope)
        where entry.record.isCallable && !catalog.listingFailed(upstream: entry.record.upstream)
            && pipeline.isVisible(entry.record, caller: r.caller)
        {
            let exposed = r.scope == nil ? entry.record.qualifiedName : entry.record.name
            tools.append(entry.definition.setting("name", .string(exposed)).removing("_meta"))
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
        let qualified = r.scope.map { "\($0).\(requested)" } ?? requested
        let unknown = RPCFailure(id: id, code: RPCErrorCode.invalidParams, message: "Unknown tool: \(Printable.clip(requested))")
        let upstreamName = qualified.firstIndex(of: ".").map { String(qualified[..<$0]) } ?? ""
        let upstream = upstreams[upstreamName]
        var entry: ToolCatalog.Entry?
        if upstream != nil {
            // Listed again only when stale or announced changed: unknown names do not make the gateway re-list.
            await catalog.refreshIfNeeded(upstream: upstreamName)
            entry = catalog.entry(qualified)
        }
        if entry == nil, upstream != nil, let problem = catalog.unreachable(upstream: upstreamName) {
            // The upstream was never listed: say so at once, naming it, instead of "unknown tool".
            let call = upstreamCall(.callTool, m, r, session: session, started: started, resource: Printable.clip(qualified))
            let refusal = Refusal(.upstreamUnavailable, problem)
            if let failed = await pipeline.recordRefusal(call, refusal) { return .failure(failure(failed, id: id)) }
            return .failure(failure(refusal, id: id))
        }
        guard let entry, let upstream, entry.record.isCallable,
              !catalog.listingFailed(upstream: upstreamName) else {
            let call = upstreamCall(.callTool, m, r, session: session, started: started, resource: Printable.clip(qualified))
            let refusal = Refusal(.invalid, "no callable tool `\(Printable.clip(qualified))`", concealed: true)
            if let failed = await pipeline.recordRefusal(call, refusal) { return .failure(failure(failed, id: id)) }
            return .failure(unknown)
        }
        let tool = entry.record
        var traced = caller
        // A trace context in the message (`params._meta.traceparent`) is the call's, over the request's header.
        if let text = m.params?["_meta"]?["traceparent"]?.stringValue, let parent = TraceParent(text) { traced.traceParent = parent }
        var call = GatewayCall(kind: .mcp, action: .callTool, caller: traced, upstream: upstreamName, tool: tool,
                               arguments: arguments, session: pipeline.snapshot(session.snapshot(now: now()), caller: caller),
                               sessionRef: Self.sessionRef(session.id), reasoning: Self.reasoning(m, r), started: started)
        let timeout = upstreamConfigurations[upstreamName]?.timeoutSeconds ?? 30
        // A client that asked for progress (`_meta.progressToken`) is told while the call waits for a person.
        if let notify = r.notify, let token = m.params?["_meta"]?["progressToken"], Self.isProgressToken(token) {
            let approvalsURL = approvalsURL
            call.waiting = { approval, waited in
                let seconds = Double(waited.components.seconds) + Double(waited.components.attoseconds) / 1e18
                var message = "waiting for a person to approve \(approval.id) (`\(approval.tool)`) until \(approval.expiresAt.formatted(.iso8601))"
                if let approvalsURL { message += ": \(approvalsURL)#\(approval.id)" }
                await notify(.object([
                    ("jsonrpc", .string("2.0")), ("method", .string("notifications/progress")),
                    ("params", .object([("progressToken", token), ("progress", .number(String(Int(seconds)))),
                                        ("message", .string(message))])),
                ]))
            }
        }
        let sessions = sessions
        let sessionID = session.id
        let outcome = await pipeline.execute(call) { call in
            sessions.update(sessionID) { $0.calls += 1 }
            var members: [(String, JSONValue)] = [("name", .string(tool.name)), ("arguments", call.forwardedArguments ?? .object([]))]
            // The upstream joins the trace (MCP `_meta.traceparent`); nothing else of the agent's `_meta` is forwarded.
            if let traceparent = call.upstreamTraceParent { members.append(("_meta", .object([("traceparent", .string(traceparent))]))) }
            let params: JSONValue = .object(members)
            do throws(UpstreamError) {
                return .result(try await upstream.call(method: "tools/call", params: params, timeoutSeconds: timeout))
            } catch {
                switch error {
                case .rpcError(let code, let message, let data): return .error(code: code, message: message, data: data)
                default: return .failure("upstream `\(upstreamName)` failed: \(error)")
                }
            }
        }
        switch outcome {
        case .result(let value):
            return .result(value.removing("_meta"), headers: [])
        case .upstreamError(let code, let message, let data):
            return .failure(RPCFailure(id: id, code: code, message: message, data: data))
        case .refused(let refusal):
            return .failure(refusal.concealed ? unknown : failure(refusal, id: id))
        }
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
    /// When the request's entities cannot be built the answer is a deny.
    public func authorizeApprover(_ approver: String, approval: Approval, approve: Bool) -> GatewayDecision {
        do {
            let (request, entities) = try CedarMapping.approvalRequest(approver: approver, approval: approval, approve: approve)
            let (response, snapshot) = policies.authorize(request, entities: entities)
            return GatewayDecision(response, snapshot: snapshot)
        } catch {
            return GatewayDecision(allowed: false, determining: [], erroring: [],
                                   reasons: ["the approval's entities could not be built (\(error)); denied"], obligations: [])
        }
    }

    // MARK: - Errors

    /// A refusal as the JSON-RPC error the agent sees: a code, a message it can show, and
    /// `data.reason` and `data.refusal` for automation.
    func failure(_ r: Refusal, id: JSONValue?) -> RPCFailure {
        let code: Int
        let message: String
        switch r.code {
        case .rateLimited:
            code = RPCErrorCode.limited
            message = "Rate limited by Portcullis: \(r.reason)"
        case .approvalPending:
            code = RPCErrorCode.approvalPending
            message = r.reason
        case .auditUnavailable:
            code = RPCErrorCode.auditUnavailable
            message = r.reason
        case .stateUnavailable:
            code = RPCErrorCode.denied
            message = "Refused by Portcullis: \(r.reason)"
        case .upstreamUnavailable:
            code = RPCErrorCode.upstreamUnavailable
            message = r.reason
        case .invalid:
            code = RPCErrorCode.invalidParams
            message = r.reason
        case .denied, .approvalRefused, .killed, .suspended, .obligationUnknown, .withheld, .credentialUnavailable:
            code = RPCErrorCode.denied
            message = "Denied by Portcullis: \(r.reason)"
        }
        var data: [(String, JSONValue)] = [("reason", .string(r.reason)), ("refusal", .string(r.code.rawValue))]
        data.append(contentsOf: r.data)
        if let approvalsURL, case .string(let approval)? = r.data.first(where: { $0.0 == "approvalId" })?.1 {
            data.append(("approvalURL", .string("\(approvalsURL)#\(approval)")))
        }
        if let retry = r.retryAfterSeconds { data.append(("retryAfterSeconds", .number(String(retry)))) }
        return RPCFailure(id: id, code: code, message: message, data: .object(data))
    }

    /// A progress token is a string or a number (MCP).
    static func isProgressToken(_ value: JSONValue) -> Bool {
        switch value {
        case .string, .number: true
        default: false
        }
    }

    /// Session ids are bearer secrets: the log keeps a digest.
    static func sessionRef(_ id: String) -> String {
        "s_" + Hex.encode(SHA256.hash(data: Array(id.utf8)).prefix(8))
    }

    /// The agent's stated reasoning: `_meta["io.portcullis/reasoning"]`, else the `Portcullis-Reasoning` header.
    static func reasoning(_ m: RPCMessage, _ r: GatewayHTTPRequest) -> String? {
        let text = m.params?["_meta"]?[MCPVersion.reasoningMetaKey]?.stringValue ?? r.header("portcullis-reasoning")
        return text.map { Printable.clip($0, 4096) }
    }

    /// Every error the gateway sends says why, for people and for automation: `data.reason` and
    /// `data.refusal` are added where the error does not carry them yet.
    private func reply(_ f: RPCFailure, status: Int) -> GatewayHTTPResponse {
        if f.id == nil && status == 202 { return GatewayHTTPResponse(status: 202) }
        var f = f
        if f.data == nil {
            let refusal: Refusal.Code = switch f.code {
            case RPCErrorCode.limited: .rateLimited
            case RPCErrorCode.auditUnavailable: .auditUnavailable
            case RPCErrorCode.upstreamUnavailable: .upstreamUnavailable
            case RPCErrorCode.approvalPending: .approvalPending
            case RPCErrorCode.denied: .denied
            default: .invalid
            }
            f.data = .object([("reason", .string(f.message)), ("refusal", .string(refusal.rawValue))])
        }
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
