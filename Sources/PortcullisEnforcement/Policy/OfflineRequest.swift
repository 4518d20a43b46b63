public import Cedar
public import Foundation
public import PortcullisCore

/// A gateway decision described in a JSON file, for `portcullis policy test`: the same Cedar
/// request the gateway would build, without a server.
///
/// ```json
/// {"agent": {"id": "agt_1", "owner": "alice", "trust_level": 1, "teams": ["payments"]},
///  "tool": {"name": "git.git_commit", "effect": "write"},
///  "arguments": {"message": "fix"}, "session": {"tainted": true}, "user": "alice@example.com"}
/// ```
///
/// An HTTP gateway request (`action` `http_request`) describes its endpoint instead of a tool; `query` and `body`
/// become the arguments, as the gateway builds them:
///
/// ```json
/// {"action": "http_request", "agent": {"trust_level": 3},
///  "http": {"upstream": "payments", "method": "POST", "path": "/refunds", "operation_id": "createRefund",
///           "data_class": "confidential", "query": {}, "body": {"amount": 120}},
///  "session": {"data_classes": ["confidential"]}, "user": "alice@example.com"}
/// ```
///
/// Provenance: `intent` is the user's task statement and `results` what the agent read before
/// (`[{"source": "mail.read_inbox", "trusted": false, "text": "…"}]`); the arguments are labelled against them.
public struct OfflineRequest: Sendable {
    public var caller: GatewayCaller
    public var action: CedarMapping.Action
    public var tool: ToolRecord?
    public var upstream: String
    public var arguments: JSONValue
    public var session: SessionSnapshot
    public var listing: Bool
    public var time: Date
    public var http: HTTPRequestFacts?
    /// Results the agent read before the call (`results`: source, trusted, text), for provenance.
    public var results: [(source: String, trusted: Bool, text: String)] = []

    /// Reads the JSON description; errors name the field.
    public static func parse(_ text: String) throws(GatewayConfigurationError) -> OfflineRequest {
        let json: JSONValue
        do {
            json = try JSONValue.parse(text)
        } catch {
            throw GatewayConfigurationError("request file: \(error.message)")
        }
        guard case .object = json else { throw GatewayConfigurationError("request file must hold a JSON object") }
        let agentJSON = json["agent"] ?? .object([])
        func str(_ v: JSONValue?, _ field: String, default d: String) throws(GatewayConfigurationError) -> String {
            guard let v else { return d }
            guard case .string(let s) = v else { throw GatewayConfigurationError("`\(field)` must be a string") }
            return s
        }
        func int(_ v: JSONValue?, _ field: String, default d: Int) throws(GatewayConfigurationError) -> Int {
            guard let v else { return d }
            guard case .number(let n) = v, let i = Int(n) else { throw GatewayConfigurationError("`\(field)` must be an integer") }
            return i
        }
        func strings(_ v: JSONValue?, _ field: String) throws(GatewayConfigurationError) -> [String] {
            guard let v else { return [] }
            guard case .array(let items) = v else { throw GatewayConfigurationError("`\(field)` must be an array of strings") }
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else { throw GatewayConfigurationError("`\(field)` must be an array of strings") }
                out.append(s)
            }
            return out
        }
        let agent = Agent(
            id: try str(agentJSON["id"], "agent.id", default: "agt_test"), name: try str(agentJSON["name"], "agent.name", default: "test"),
            owner: try str(agentJSON["owner"], "agent.owner", default: "owner"),
            purpose: try str(agentJSON["purpose"], "agent.purpose", default: ""),
            modelProvider: try str(agentJSON["model_provider"], "agent.model_provider", default: ""),
            modelName: try str(agentJSON["model"], "agent.model", default: ""),
            modelVersion: try str(agentJSON["model_version"], "agent.model_version", default: ""), createdAt: Date(),
            trustLevel: try int(agentJSON["trust_level"], "agent.trust_level", default: 1),
            teams: try strings(agentJSON["teams"], "agent.teams"))
        let actionName = try str(json["action"], "action", default: "call_tool")
        guard let action = CedarMapping.Action(rawValue: actionName) else {
            throw GatewayConfigurationError("`action` must be one of \(CedarMapping.Action.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var tool: ToolRecord?
        var upstream = try str(json["upstream"], "upstream", default: "*")
        if let t = json["tool"] {
            let name = try str(t["name"], "tool.name", default: "")
            guard let dot = name.firstIndex(of: "."), dot != name.startIndex else {
                throw GatewayConfigurationError("`tool.name` must be `<upstream>.<tool>`")
            }
            let effectText = try str(t["effect"], "tool.effect", default: "destructive")
            guard let effect = ToolRecord.Effect(rawValue: effectText) else {
                throw GatewayConfigurationError("`tool.effect` must be read, write or destructive")
            }
            upstream = String(name[..<dot])
            tool = ToolRecord(
                qualifiedName: name, upstream: upstream, name: String(name[name.index(after: dot)...]), definition: "{}",
                definitionHash: "", pinnedHash: "", status: .approved, effect: effect,
                risk: try int(t["risk"], "tool.risk", default: ToolClassification.defaultRisk(effect)),
                dataClass: try str(t["data_class"], "tool.data_class", default: "internal"), tags: try strings(t["tags"], "tool.tags"),
                findings: [], firstSeenAt: Date(), updatedAt: Date())
        }
        var arguments = json["arguments"] ?? .object([])
        var facts: HTTPRequestFacts?
        if let h = json["http"] {
            guard action == .httpRequest, tool == nil else {
                throw GatewayConfigurationError("`http` describes an `http_request`: set `action` to it and give no `tool`")
            }
            upstream = try str(h["upstream"], "http.upstream", default: "")
            guard !upstream.isEmpty else { throw GatewayConfigurationError("`http.upstream` is required") }
            let method = try str(h["method"], "http.method", default: "GET").uppercased()
            guard HTTPUpstreamConfiguration.methods.contains(method) else {
                throw GatewayConfigurationError("`http.method` must be one of \(HTTPUpstreamConfiguration.methods.sorted().joined(separator: ", "))")
            }
            let template = try str(h["path"], "http.path", default: "/")
            guard template.hasPrefix("/") else { throw GatewayConfigurationError("`http.path` must start with /") }
            var effect = HTTPUpstreamConfiguration.defaultEffect(method: method)
            if let e = h["effect"] {
                guard let parsed = ToolRecord.Effect(rawValue: try str(e, "http.effect", default: "")), parsed != .unclassified else {
                    throw GatewayConfigurationError("`http.effect` must be read, write or destructive")
                }
                effect = parsed
            }
            let dataClassText = try str(h["data_class"], "http.data_class", default: "internal")
            guard DataClass(rawValue: dataClassText) != nil else {
                throw GatewayConfigurationError("`http.data_class` must be public, internal, confidential or restricted")
            }
            func pairs(_ v: JSONValue?, _ field: String) throws(GatewayConfigurationError) -> [(String, String)] {
                guard let v else { return [] }
                guard case .object(let members) = v else { throw GatewayConfigurationError("`\(field)` must be an object of strings") }
                var out: [(String, String)] = []
                for (k, value) in members {
                    guard case .string(let text) = value else { throw GatewayConfigurationError("`\(field)` must be an object of strings") }
                    out.append((k, text))
                }
                return out
            }
            let parameters = try pairs(h["path_parameters"], "http.path_parameters")
            let query = try pairs(h["query"], "http.query")
            let now = Date()
            tool = ToolRecord(
                qualifiedName: "\(upstream):\(method) \(template)", upstream: upstream, name: "\(method) \(template)",
                definition: "", definitionHash: "", pinnedHash: nil, status: .approved, effect: effect,
                risk: try int(h["risk"], "http.risk", default: ToolClassification.defaultRisk(effect)),
                dataClass: dataClassText, tags: try strings(h["tags"], "http.tags"), findings: [], firstSeenAt: now,
                updatedAt: now, classifiedBy: "config")
            facts = HTTPRequestFacts(method: method, pathTemplate: template,
                                     operationID: try h["operation_id"].map { v throws(GatewayConfigurationError) in try str(v, "http.operation_id", default: "") },
                                     dataClass: dataClassText,
                                     pathParameters: Dictionary(parameters, uniquingKeysWith: { _, last in last }),
                                     query: Dictionary(query, uniquingKeysWith: { _, last in last }))
            var members: [(String, JSONValue)] = [("query", .object(query.map { ($0.0, .string($0.1)) }))]
            if let body = h["body"] { members.append(("body", body)) }
            members.append(("path", .object(parameters.sorted { $0.0 < $1.0 }.map { ($0.0, .string($0.1)) })))
            arguments = .object(members)
        } else if action == .httpRequest {
            throw GatewayConfigurationError("an `http_request` needs an `http` object describing the endpoint")
        }
        let s = json["session"] ?? .object([])
        let session = SessionSnapshot(tainted: s["tainted"]?.boolValue ?? false,
                                      taintSources: try strings(s["taint_sources"], "session.taint_sources"),
                                      calls: try int(s["calls"], "session.calls", default: 0),
                                      ageSeconds: try int(s["age_seconds"], "session.age_seconds", default: 0),
                                      dataClasses: try strings(s["data_classes"], "session.data_classes"),
                                      injected: s["injected"]?.boolValue ?? false,
                                      history: try Self.history(s["history"]))
        var time = Date()
        if let t = json["time"] {
            let text = try str(t, "time", default: "")
            guard let parsed = ISO8601DateFormatter().date(from: text) else {
                throw GatewayConfigurationError("`time` must be an ISO 8601 date-time such as 2026-11-23T03:00:00Z")
            }
            time = parsed
        }
        var details: [JSONAny] = []
        if let d = json["authorization_details"] {
            guard case .array = d, let decoded = try? JSONDecoder().decode([JSONAny].self, from: Data(d.serialized.utf8)) else {
                throw GatewayConfigurationError("`authorization_details` must be an array of objects (RFC 9396)")
            }
            details = decoded
        }
        let caller = GatewayCaller(
            agent: agent, tokenID: "offline",
            scopes: try strings(json["scopes"], "scopes"), actors: try strings(json["actors"], "actors"),
            onBehalfOf: try json["user"].map { v throws(GatewayConfigurationError) in try str(v, "user", default: "") },
            authorizationDetails: details,
            sourceAddress: try json["source_address"].map { v throws(GatewayConfigurationError) in try str(v, "source_address", default: "") },
            intent: try json["intent"].map { v throws(GatewayConfigurationError) in try str(v, "intent", default: "") })
        var results: [(source: String, trusted: Bool, text: String)] = []
        if let r = json["results"] {
            guard case .array(let items) = r else { throw GatewayConfigurationError("`results` must be an array of {source, trusted, text}") }
            for item in items {
                guard case .object = item, let text = item["text"]?.stringValue else {
                    throw GatewayConfigurationError("each of `results` needs a `text` string")
                }
                results.append((try str(item["source"], "results.source", default: "offline"),
                                item["trusted"]?.boolValue ?? false, text))
            }
        }
        return OfflineRequest(caller: caller, action: action, tool: tool, upstream: upstream,
                              arguments: arguments, session: session,
                              listing: json["listing"]?.boolValue ?? false, time: time, http: facts, results: results)
    }

    /// `session.history`: `{"counts": {"tool": n}, "effects": {"write": n}, "recent": ["tool", …], "amounts": {"tool": n}}`.
    static func history(_ value: JSONValue?) throws(GatewayConfigurationError) -> HistorySnapshot {
        guard let value else { return HistorySnapshot() }
        guard case .object = value else { throw GatewayConfigurationError("`session.history` must be an object") }
        func counts(_ field: String) throws(GatewayConfigurationError) -> [String: Int] {
            guard let v = value[field] else { return [:] }
            guard case .object(let members) = v else { throw GatewayConfigurationError("`session.history.\(field)` must be an object of integers") }
            var out: [String: Int] = [:]
            for (k, n) in members {
                guard case .number(let text) = n, let i = Int(text), i >= 0 else {
                    throw GatewayConfigurationError("`session.history.\(field)` must be an object of non-negative integers")
                }
                out[k] = i
            }
            return out
        }
        var recent: [String] = []
        if let r = value["recent"] {
            guard case .array(let items) = r else { throw GatewayConfigurationError("`session.history.recent` must be an array of tool names") }
            for item in items {
                guard let name = item.stringValue else { throw GatewayConfigurationError("`session.history.recent` must be an array of tool names") }
                recent.append(name)
            }
        }
        var c = try counts("counts")
        for tool in recent where c[tool] == nil { c[tool] = 1 }
        return HistorySnapshot(counts: c, effects: try counts("effects"), recent: recent,
                               amounts: try counts("amounts").mapValues(Int64.init))
    }

    /// Decides the request against `engine` exactly as the gateway would: the same stages up to the
    /// decision and its conditions (argument inspection and DLP, Cedar, obligations), without the ones
    /// that need a running gateway (kill switch, rate limits, the approval wait). A decision whose
    /// obligations are all understood and that needs an approval is reported as allowed with the
    /// `approval` obligation (the CLI shows it as pending).
    public func decide(with engine: PolicyEngine, dlp: GatewayConfiguration.DLP = GatewayConfiguration.DLP()) async
        -> GatewayDecision
    {
        var call = GatewayCall(kind: http == nil ? .mcp : .http, action: action, caller: caller, upstream: upstream,
                               tool: tool, arguments: arguments, session: session, listing: listing, http: http)
        let fixed = time
        let ledger = ProvenanceLedger(lifetime: 86_400)
        for r in results {
            ledger.record(ValueExtractor.values(in: r.text), from: ProvenanceLedger.Source(name: r.source, trusted: r.trusted, dataClass: "internal"),
                          agentID: caller.agent.id, user: caller.onBehalfOf, now: fixed)
        }
        let decider = DecideStage(policies: engine, risk: { _ in BehaviourMonitor.Risk(score: 0, response: .none) },
                                  clock: { fixed })
        let stages = EnforcementPipeline.decisionStages(dlp: dlp, decider: decider, understood: [ApprovalStage.obligation],
                                                        provenance: ProvenanceStage(ledger: ledger, clock: { fixed }))
        for stage in stages {
            if case .refuse(let refusal) = await stage.apply(to: &call) {
                var decision = call.decision ?? GatewayDecision(allowed: false, determining: [], erroring: [], reasons: [],
                                                                obligations: [])
                if decision.allowed || decision.reasons.isEmpty { decision.refuse(refusal.reason) }
                return decision
            }
        }
        return call.decision ?? GatewayDecision(allowed: false, determining: [], erroring: [], reasons: ["not decided"],
                                                obligations: [])
    }
}
