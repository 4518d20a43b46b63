public import Cedar
public import Foundation
public import PortcullisCore

/// Who is calling: the agent, the token it presented and the delegation it carries.
public struct GatewayCaller: Sendable {
    public var agent: Agent
    /// The access token's `jti`.
    public var tokenID: String
    public var scopes: [String]
    /// Agents that acted before this one (`act` chain), outermost first.
    public var actors: [String]
    /// The human the agent acts for, when the token was exchanged from a user's token.
    public var onBehalfOf: String?
    /// The RFC 9396 `authorization_details` the token carries.
    public var authorizationDetails: [JSONAny]
    public var sourceAddress: String?
    /// W3C trace id from `traceparent`.
    public var traceID: String?
    /// The whole trace context, when the agent sent one (`traceparent`, or MCP `_meta.traceparent` per call):
    /// the call's spans join the agent's trace.
    public var traceParent: TraceParent? {
        didSet { if let traceParent { traceID = traceParent.traceID } }
    }
    /// The user's task statement, signed into the delegation when the user's token was exchanged (never set by an
    /// agent): what provenance calls the intent, with `authorizationDetails`.
    public var intent: String?

    public init(agent: Agent, tokenID: String, scopes: [String], actors: [String] = [],
                onBehalfOf: String? = nil, authorizationDetails: [JSONAny] = [], sourceAddress: String? = nil,
                traceID: String? = nil, intent: String? = nil, traceParent: TraceParent? = nil) {
        self.intent = intent
        self.traceParent = traceParent
        self.agent = agent
        self.tokenID = tokenID
        self.scopes = scopes
        self.actors = actors
        self.onBehalfOf = onBehalfOf
        self.authorizationDetails = authorizationDetails
        self.sourceAddress = sourceAddress
        self.traceID = traceParent?.traceID ?? traceID
    }

    /// The whole chain: every actor, then this agent.
    public var chain: [String] { actors + [agent.id] }
}

/// What a session looked like when a call was decided.
public struct SessionSnapshot: Sendable, Equatable {
    public var tainted: Bool
    public var taintSources: [String]
    public var calls: Int
    public var ageSeconds: Int
    /// The data classes of every upstream the agent (for this user) has read from lately: labels that follow
    /// the data, so a policy can keep what was read from a `confidential` upstream away from a `public` one.
    public var dataClasses: [String]
    /// Whether the injection scanner found instructions in something the agent read (a stronger signal than
    /// reading untrusted content, which every mail or web page is).
    public var injected: Bool
    /// What the agent, for this user, has done lately.
    public var history: HistorySnapshot

    public init(tainted: Bool = false, taintSources: [String] = [], calls: Int = 0, ageSeconds: Int = 0,
                dataClasses: [String] = [], injected: Bool = false, history: HistorySnapshot = HistorySnapshot()) {
        self.injected = injected
        self.history = history
        self.tainted = tainted
        self.taintSources = taintSources
        self.calls = calls
        self.ageSeconds = ageSeconds
        self.dataClasses = dataClasses
    }
}

/// Builds Cedar requests and entities from gateway calls. See docs/gateway.md for the model.
public enum CedarMapping {
    public enum Action: String, Sendable, CaseIterable {
        case connect
        case listTools = "list_tools"
        case callTool = "call_tool"
        /// An agent's API call through the HTTP gateway.
        case httpRequest = "http_request"
    }

    public static func agentUID(_ id: String) -> EntityUID { EntityUID("Agent", id) }
    public static func toolUID(_ qualifiedName: String) -> EntityUID { EntityUID("Tool", qualifiedName) }
    public static func upstreamUID(_ name: String) -> EntityUID { EntityUID("Upstream", name) }
    public static func endpointUID(_ name: String) -> EntityUID { EntityUID("Endpoint", name) }

    /// An HTTP endpoint: the tool record the pipeline keeps for it (effect, risk, tags) and the request's facts.
    public static func endpointEntity(_ t: ToolRecord, _ http: HTTPRequestFacts) -> Entity {
        var attributes: [CedarString: Value] = [
            "upstream": .string(t.upstream), "method": .string(http.method), "path": .string(http.pathTemplate),
            "effect": .string(t.effect.rawValue), "risk": .long(Int64(t.risk)), "dataClass": .string(http.dataClass),
            "tags": .set(Set(t.tags.map { Value.string($0) })),
        ]
        if let id = http.operationID { attributes["operationId"] = .string(id) }
        return Entity(uid: endpointUID(t.qualifiedName), attributes: attributes, parents: [upstreamUID(t.upstream)])
    }

    public static func agentEntity(_ a: Agent) -> Entity {
        Entity(uid: agentUID(a.id), attributes: [
            "owner": .string(a.owner), "purpose": .string(a.purpose), "trustLevel": .long(Int64(a.trustLevel)),
            "model": .string(a.modelName), "modelProvider": .string(a.modelProvider),
            "modelVersion": .string(a.modelVersion), "status": .string(a.status.rawValue),
            "name": .string(a.name),
        ], parents: Set(a.teams.map { EntityUID("Team", $0) }))
    }

    public static func toolEntity(_ t: ToolRecord) -> Entity {
        Entity(uid: toolUID(t.qualifiedName), attributes: [
            "upstream": .string(t.upstream), "name": .string(t.name), "effect": .string(t.effect.rawValue),
            "risk": .long(Int64(t.risk)), "dataClass": .string(t.dataClass),
            "tags": .set(Set(t.tags.map { Value.string($0) })),
        ], parents: [upstreamUID(t.upstream)])
    }

    /// The request and entities for one decision.
    public static func request(action: Action, caller: GatewayCaller, tool: ToolRecord?, upstream: String,
                               arguments: JSONValue?, session: SessionSnapshot, dlpKinds: [DLPScanner.Kind],
                               listing: Bool, now: Date,
                               risk: BehaviourMonitor.Risk = BehaviourMonitor.Risk(score: 0, response: .none),
                               http: HTTPRequestFacts? = nil, provenance: ProvenanceReport? = nil) throws(CedarError)
        -> (Request, Entities)
    {
        var context: [CedarString: Value] = [
            "listing": .bool(listing),
            "upstream": .string(upstream),
            "chain": .set(Set(caller.chain.map { Value.string($0) })),
            "depth": .long(Int64(caller.actors.count)),
            "delegated": .bool(caller.onBehalfOf != nil || !caller.actors.isEmpty),
            "scopes": .set(Set(caller.scopes.map { Value.string($0) })),
            "purpose": .string(caller.agent.purpose),
            "arguments": arguments.map(cedarValue) ?? .record([:]),
            "session": .record([
                "tainted": .bool(session.tainted),
                "taintSources": .set(Set(session.taintSources.map { Value.string($0) })),
                "calls": .long(Int64(session.calls)),
                "ageSeconds": .long(Int64(session.ageSeconds)),
                "dataClasses": .set(Set(session.dataClasses.map { Value.string($0) })),
                "injected": .bool(session.injected),
                "history": historyValue(session.history),
            ]),
            "time": timeRecord(now),
            "dlp": .record([
                "findings": .set(Set(dlpKinds.map { Value.string($0.rawValue) })),
                "secrets": .bool(dlpKinds.contains(where: \.isSecret)),
                "count": .long(Int64(dlpKinds.count)),
            ]),
            "authorizationDetails": .set(Set(caller.authorizationDetails.compactMap(cedarValue))),
            "risk": .record(["score": .long(Int64(risk.score)), "response": .string(risk.response.rawValue)]),
        ]
        if let user = caller.onBehalfOf { context["user"] = .string(user) }
        if let payment = paymentBounds(caller.authorizationDetails) { context["payment"] = payment }
        if let provenance { context["provenance"] = provenance.cedarValue }
        if let address = caller.sourceAddress, let ip = IPAddress.parse(address) { context["sourceAddress"] = .ext(.ipaddr(ip)) }
        var resource = tool.map { toolUID($0.qualifiedName) } ?? upstreamUID(upstream)
        var entities = [agentEntity(caller.agent)]
        if let http, let tool {
            context["method"] = .string(http.method)
            context["pathParameters"] = .record(Dictionary(uniqueKeysWithValues: http.pathParameters.map { (CedarString($0.key), Value.string($0.value)) }))
            context["query"] = .record(Dictionary(uniqueKeysWithValues: http.query.map { (CedarString($0.key), Value.string($0.value)) }))
            resource = endpointUID(tool.qualifiedName)
            entities.append(endpointEntity(tool, http))
        } else if let tool {
            entities.append(toolEntity(tool))
        }
        let request = Request(principal: agentUID(caller.agent.id), action: EntityUID("Action", action.rawValue),
                              resource: resource, context: context)
        // When the entities cannot be built nothing is known about the caller: the error denies the call.
        return (request, try Entities(entities))
    }

    /// `context.session.history`: `counts` and `amounts` per tool, `effects` (read, write and destructive always
    /// present), `tools` (every tool called), `recent` (the last calls' tools), `last` (when there was a call),
    /// `amountTotal`.
    static func historyValue(_ h: HistorySnapshot) -> Value {
        var effects: [CedarString: Value] = ["read": .long(0), "write": .long(0), "destructive": .long(0)]
        for (k, v) in h.effects { effects[CedarString(k)] = .long(Int64(v)) }
        var record: [CedarString: Value] = [
            "counts": .record(Dictionary(uniqueKeysWithValues: h.counts.map { (CedarString($0.key), Value.long(Int64($0.value))) })),
            "amounts": .record(Dictionary(uniqueKeysWithValues: h.amounts.map { (CedarString($0.key), Value.long($0.value)) })),
            "effects": .record(effects),
            "tools": .set(Set(h.counts.keys.map { Value.string($0) })),
            "recent": .set(Set(h.recent.map { Value.string($0) })),
            "amountTotal": .long(h.amountTotal),
            "calls": .long(Int64(h.effects.values.reduce(0, +))),
        ]
        if let last = h.recent.last { record["last"] = .string(last) }
        return .record(record)
    }

    /// What the delegated `payment` authorization details allow, in a form Cedar can compare (it has no quantifier
    /// over the set): `recipients` (the recipients named), `currencies`, and `maxAmount` (the largest `max_amount`,
    /// a whole number; absent when a detail sets no maximum or a fractional one, so that a policy comparing with it
    /// errors and denies). With several payment details the bounds are their union: delegate one detail per token
    /// when recipients have different limits. Nil when the token delegates no payment.
    static func paymentBounds(_ details: [JSONAny]) -> Value? {
        let payments = details.filter { $0["type"]?.stringValue == "payment" }
        guard !payments.isEmpty else { return nil }
        var recipients = Set<Value>()
        var currencies = Set<Value>()
        var maximum: Int64? = Int64.min
        for p in payments {
            if let r = p["recipient"]?.stringValue { recipients.insert(.string(r)) }
            if let c = p["currency"]?.stringValue { currencies.insert(.string(c)) }
            let amount: Int64? = switch p["max_amount"] {
            case .int(let n)?: n
            case .double(let d)? where d.rounded() == d && abs(d) < 9e15: Int64(d)
            case .string(let text)?: Int64(text)
            default: nil
            }
            maximum = amount.flatMap { a in maximum.map { max($0, a) } }
        }
        var record: [CedarString: Value] = ["recipients": .set(recipients), "currencies": .set(currencies)]
        if let maximum { record["maxAmount"] = .long(maximum) }
        return .record(record)
    }

    /// An approver deciding an approval: `Approver::"name"` `Action::"approve"` `Approval::"apr_…"`.
    public static func approvalRequest(approver: String, approval a: Approval, approve: Bool) throws(CedarError)
        -> (Request, Entities)
    {
        let approvalUID = EntityUID("Approval", a.id)
        let entities = [
            Entity(uid: EntityUID("Approver", approver), attributes: ["name": .string(approver)], parents: []),
            Entity(uid: approvalUID, attributes: [
                "agent": .entity(agentUID(a.agentID)), "agentOwner": .string(a.agentOwner), "tool": .string(a.tool),
                "effect": .string(a.effect), "risk": .long(Int64(a.risk)), "argumentsDigest": .string(a.argumentsDigest),
            ], parents: []),
        ]
        let request = Request(principal: EntityUID("Approver", approver), action: EntityUID("Action", "approve"),
                              resource: approvalUID, context: ["decision": .string(approve ? "approve" : "deny")])
        return (request, try Entities(entities))
    }

    static func timeRecord(_ now: Date) -> Value {
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        // Hour and weekday by arithmetic on the epoch (UTC has no offsets): no Calendar per call.
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let hour = (seconds - days * 86_400) / 3600
        // 1970-01-01 was a Thursday (5 in 1 = Sunday … 7 = Saturday).
        let weekday = ((days + 4) % 7 + 7) % 7 + 1
        return .record([
            "epochSeconds": .long(seconds),
            "hourUTC": .long(hour),
            // 1 = Sunday … 7 = Saturday.
            "weekday": .long(weekday),
            "now": .ext(.datetime(CedarDatetime(milliseconds: Int64(now.timeIntervalSince1970 * 1000)))),
        ])
    }

    /// JSON → Cedar: integers are Longs, other numbers their text, arrays sets, objects records; nulls are left out.
    public static func cedarValue(_ json: JSONValue) -> Value {
        switch json {
        case .null: return .record([:])
        case .bool(let b): return .bool(b)
        case .number(let n): return Int64(n).map(Value.long) ?? .string(n)
        case .string(let s): return .string(s)
        case .array(let items): return .set(Set(items.compactMap { $0 == .null ? nil : cedarValue($0) }))
        case .object(let members):
            var record: [CedarString: Value] = [:]
            for (k, v) in members where v != .null { record[CedarString(k)] = cedarValue(v) }
            return .record(record)
        }
    }

    static func cedarValue(_ json: JSONAny) -> Value? {
        switch json {
        case .null: return nil
        case .bool(let b): return .bool(b)
        case .int(let i): return .long(i)
        case .double(let d): return .string(String(d))
        case .string(let s): return .string(s)
        case .array(let items): return .set(Set(items.compactMap(cedarValue)))
        case .object(let members):
            var record: [CedarString: Value] = [:]
            for (k, v) in members { if let c = cedarValue(v) { record[CedarString(k)] = c } }
            return .record(record)
        }
    }
}
