public import Cedar
public import Foundation
public import Logging
public import PortcullisCore
import Synchronization
import CoreMetrics
public import Tracing

/// What an upstream answered, as a front end hands it back to the pipeline.
public enum UpstreamReply: Sendable {
    /// A result.
    case result(JSONValue)
    /// The upstream's own protocol error (for MCP, a JSON-RPC error reply).
    case error(code: Int, message: String, data: JSONValue?)
    /// The upstream could not be reached or broke the protocol; the reason names the upstream.
    case failure(String)
    /// The front end refused to send the call after the decision (no credential for the user it acts for).
    case refused(Refusal)
}

/// What the pipeline lets the front end send to the agent.
public enum CallOutcome: Sendable {
    /// The (inspected) result.
    case result(JSONValue)
    /// The upstream's (inspected) protocol error.
    case upstreamError(code: Int, message: String, data: JSONValue?)
    /// The call was refused, before or after it was forwarded.
    case refused(Refusal)
}

/// The one place where a gateway call is inspected, decided, recorded, forwarded and inspected again.
///
/// Every front end (MCP today, HTTP and agent-to-agent next) builds a ``GatewayCall`` and calls
/// ``execute(_:forward:)``; the stages run in order (kill, inspect arguments, decide, arguments DLP,
/// automatic response, obligations, rate limit, approval), then the decision is made durable in the
/// audit log, then the call is forwarded, the answer inspected (injection taints the agent, DLP
/// redacts or withholds), and the outcome made durable before anything is released. Any error
/// along the way refuses the call. docs/architecture.md draws the path.
public final class EnforcementPipeline: Sendable {
    public let configuration: GatewayConfiguration
    public let policies: PolicyEngine
    /// Which agents are killed, and their calls in flight.
    public let killSwitch: KillSwitch
    /// Behavioural baselines, alerts, risk and the graduated response.
    public let monitor: BehaviourMonitor
    /// Human approvals of exact calls.
    public let approvals: ApprovalBroker
    /// Which agents (and the users they act for) have read untrusted input.
    public let taint: TaintLedger
    /// The values agents have read, by source: what provenance labels arguments against.
    public let provenance: ProvenanceLedger
    /// What each agent (for each user) has been allowed to do lately: `context.session.history`.
    public let history: SessionHistory
    /// Aggregated refusals before any decision.
    public let refusals: RefusalTally
    /// The stages, in order.
    public let stages: [any CallStage]
    /// Every obligation some stage implements.
    public let understoodObligations: Set<String>
    let decider: DecideStage
    /// Rate-limit buckets: this process's, or shared by every replica.
    let rateLimiter: any RateBudget
    /// False after an append failed, until one succeeds: meanwhile reads too wait for their record.
    private let auditHealthy = Mutex(true)
    let audit: any AuditSink
    /// Decisions, stage and audit latencies, refusals, upstream errors (docs/observability.md).
    public let metrics: GatewayMetrics
    /// Each stage's timer, resolved once (aligned with ``stages``).
    let stageTimers: [CoreMetrics.Timer]
    let clock: @Sendable () -> Date
    let logger: Logger
    /// Where the calls' spans go (OpenTelemetry, docs/observability.md); nil: calls are not traced.
    let tracer: (any Tracer)?

    public init(configuration: GatewayConfiguration, policies: PolicyEngine, audit: any AuditSink,
                approvalStore: any ApprovalStore, monitorStore: any MonitorStore, logger: Logger,
                now: @escaping @Sendable () -> Date = { Date() }, responseClock: (@Sendable () -> Date)? = nil,
                metrics: GatewayMetrics = GatewayMetrics(), rateBudget: (any RateBudget)? = nil, tracer: (any Tracer)? = nil) {
        self.metrics = metrics
        self.tracer = tracer
        let rateLimiter = rateBudget ?? RateLimiter()
        self.rateLimiter = rateLimiter
        self.configuration = configuration
        self.policies = policies
        self.audit = audit
        self.logger = logger
        self.clock = now
        let clock = responseClock ?? now
        let killSwitch = KillSwitch()
        self.killSwitch = killSwitch
        let monitor = BehaviourMonitor(store: monitorStore, audit: audit, settings: configuration.effectiveMonitoring,
                                       response: configuration.effectiveResponse, clock: clock, logger: logger, metrics: metrics)
        self.monitor = monitor
        let approvals = ApprovalBroker(store: approvalStore, audit: audit, settings: configuration.effectiveApprovals, clock: clock)
        self.approvals = approvals
        taint = TaintLedger(lifetime: configuration.effectiveTaintSeconds)
        let provenance = ProvenanceLedger(lifetime: configuration.effectiveTaintSeconds)
        self.provenance = provenance
        let history = SessionHistory(lifetime: configuration.effectiveTaintSeconds)
        self.history = history
        refusals = RefusalTally(audit: audit, clock: now, logger: logger)
        let decider = DecideStage(policies: policies, risk: { monitor.risk($0) }, clock: now)
        self.decider = decider
        let implementing: [any CallStage] = [ApprovalStage(broker: approvals, killSwitch: killSwitch)]
        let understood = Set(implementing.flatMap(\.obligations))
        understoodObligations = understood
        stages = [KillStage(killSwitch: killSwitch)]
            + Self.decisionStages(dlp: configuration.dlp ?? GatewayConfiguration.DLP(), decider: decider, understood: understood,
                                  provenance: ProvenanceStage(ledger: provenance, clock: now))
            + [RateLimitStage(limiter: rateLimiter, defaultLimit: configuration.effectiveRateLimit,
                              toolLimits: configuration.toolRateLimits ?? [:], clock: now)]
            + implementing
            + [HistoryStage(history: history, policies: policies, clock: now)]
        stageTimers = stages.map { metrics.timer(GatewayMetrics.Name.stageDuration, ("stage", $0.name)) }
    }

    /// The stages that make the decision and its conditions, in order: the gateway runs them between
    /// the kill switch and the limits, and `portcullis policy test` runs exactly these, so that the two
    /// decide alike.
    public static func decisionStages(dlp: GatewayConfiguration.DLP, decider: DecideStage,
                                      understood: Set<String>, provenance: ProvenanceStage) -> [any CallStage] {
        [
            InspectArgumentsStage(action: dlp.arguments ?? .block),
            provenance,
            decider,
            ArgumentsDLPStage(action: dlp.arguments ?? .block),
            AutomaticResponseStage(),
            ObligationsStage(understood: understood),
        ]
    }

    // MARK: - Admission

    /// Admits one message from an agent, whatever its method: refuses a killed agent and applies the
    /// agent's rate limit over all methods. A refusal here leaves an aggregated trace.
    public func admit(_ caller: GatewayCaller, method: String) async -> Refusal? {
        let agent = caller.agent.id
        if killSwitch.isKilled(agent) {
            refusals.note(action: "gateway.refused", subject: agent, reason: "killed")
            return .killed
        }
        let limit = configuration.effectiveAgentRateLimit
        let taken: (allowed: Bool, retryAfter: TimeInterval)
        do {
            taken = try await rateLimiter.take("\(agent)|*", perMinute: limit.perMinute, burst: limit.burst, now: clock())
        } catch {
            refusals.note(action: "gateway.refused", subject: agent, reason: "rate limit unavailable")
            return Refusal(.stateUnavailable, "the agent's rate limit cannot be checked, so `\(Printable.clip(method, 64))` was refused: \(error)")
        }
        guard taken.allowed else {
            let seconds = Int(taken.retryAfter.rounded(.up))
            refusals.note(action: "gateway.refused", subject: agent, reason: "agent rate limit")
            return Refusal(.rateLimited, "the agent's rate limit (\(Int(limit.perMinute))/min over all methods, burst \(Int(limit.burst))) is reached; retry in \(seconds)s (`\(Printable.clip(method, 64))` was refused)",
                           retryAfterSeconds: seconds)
        }
        return nil
    }

    /// The time on the pipeline's clock (the testing clock when one is set).
    public var now: Date { clock() }

    /// The session snapshot with the agent's taint folded in.
    public func snapshot(_ session: SessionSnapshot, caller: GatewayCaller) -> SessionSnapshot {
        var s = session
        taint.apply(to: &s, agentID: caller.agent.id, user: caller.onBehalfOf, now: clock())
        s.history = history.snapshot(agentID: caller.agent.id, user: caller.onBehalfOf, now: clock())
        return s
    }

    // MARK: - Decisions

    /// Whether `tool` appears in `caller`'s listing: what the agent may call in principle (taint, DLP
    /// and limits are decided per call, where the refusal can say why).
    public func isVisible(_ tool: ToolRecord, caller: GatewayCaller) -> Bool {
        let call = GatewayCall(kind: .mcp, action: .callTool, caller: caller, upstream: tool.upstream, tool: tool,
                               arguments: .object([]), listing: true)
        return decider.decide(call).allowed
    }

    /// The decision the policies in force make on a call, without running it or recording anything (the console's
    /// policy test).
    public func evaluate(_ call: GatewayCall) -> GatewayDecision { decider.decide(call) }

    /// Runs the stages and makes the decision durable. Returns nil when the call may proceed, else the
    /// refusal (already recorded; when even that record fails, the refusal says the audit log is unavailable).
    public func authorize(_ call: inout GatewayCall) async -> Refusal? {
        let trace = tracer.map { CallTrace(tracer: $0, call: call) }
        if let refusal = await decide(&call, trace: trace) {
            trace?.finish(refusal: refusal)
            return refusal
        }
        let refusal = await traced(trace, "audit-record") { await record(call, refusal: nil) }
        trace?.finish(refusal: refusal)
        return refusal
    }

    /// Runs `body` inside a child span of the call's, when the call is traced.
    func traced<T>(_ trace: CallTrace?, _ name: String, _ body: () async -> T) async -> T {
        guard let trace else { return await body() }
        let start = DefaultTracerClock.now
        let value = await body()
        trace.child(name, from: start, to: DefaultTracerClock.now, failed: (value as? Refusal)?.code.rawValue)
        return value
    }

    /// Runs the stages. Returns the refusal (already recorded), or nil when the call may proceed; an
    /// allowed decision is not recorded yet (the caller decides when, see ``execute(_:forward:)``).
    func decide(_ call: inout GatewayCall, trace: CallTrace? = nil) async -> Refusal? {
        var refusal: Refusal?
        for (i, stage) in stages.enumerated() {
            let started = ContinuousClock.now
            let spanStart = trace == nil ? nil : DefaultTracerClock.now
            let verdict = await stage.apply(to: &call)
            GatewayMetrics.record(stageTimers[i], ContinuousClock.now - started)
            if case .refuse(let r) = verdict {
                refusal = r
            }
            if let trace, let spanStart {
                trace.child(stage.name, from: spanStart, to: DefaultTracerClock.now, failed: refusal?.code.rawValue)
            }
            if refusal != nil { break }
        }
        if call.action == .callTool || call.action == .httpRequest, let tool = call.tool, call.decision != nil {
            await monitor.observe(BehaviourMonitor.Observation(
                agent: call.caller.agent, tool: tool.qualifiedName, upstream: tool.upstream,
                sensitive: tool.effect != .read || tool.risk >= 3, allowed: refusal == nil,
                bytesOut: refusal == nil ? call.argumentBytes.count : 0))
        }
        if var r = refusal {
            if r.code == .denied, let tool = call.tool, !isVisible(tool, caller: call.caller) {
                // A tool the agent may not even see answers exactly like a tool that does not exist.
                r.concealed = true
            }
            if let failure = await traced(trace, "audit-record", { await record(call, refusal: r) }) { return failure }
            return r
        }
        return nil
    }

    /// The whole path of a forwarded call: stages, durable decision, forward, inspection, durable outcome.
    public func execute(_ call: GatewayCall, forward: @escaping @Sendable (GatewayCall) async -> UpstreamReply) async
        -> CallOutcome
    {
        let trace = tracer.map { CallTrace(tracer: $0, call: call) }
        let outcome = await execute(call, trace: trace, forward: forward)
        if let trace {
            if case .refused(let refusal) = outcome { trace.finish(refusal: refusal) } else { trace.finish(refusal: nil) }
        }
        return outcome
    }

    private func execute(_ call: GatewayCall, trace: CallTrace?, forward: @escaping @Sendable (GatewayCall) async -> UpstreamReply) async
        -> CallOutcome
    {
        var call = call
        if let refusal = await decide(&call, trace: trace) { return .refused(refusal) }
        let agent = call.caller.agent.id
        // The upstream's span: the upstream joins the trace with it as parent.
        let upstreamSpan = trace?.start("upstream \(call.upstream)", kind: .client)
        call.upstreamTraceParent = upstreamSpan?.traceparent
        let frozen = call
        let killSwitch = killSwitch
        // Cancelled at once if the agent is killed meanwhile; then nothing of it is released.
        let send: @Sendable () async -> UpstreamReply? = { await killSwitch.run(agentID: agent) { await forward(frozen) } }
        let reply: UpstreamReply?
        if call.changesState || !auditHealthy.withLock({ $0 }) {
            // A call that may change something is forwarded only once its decision is durable; so is
            // every call while the audit log is known to be failing.
            if let failure = await traced(trace, "audit-record", { await record(call, refusal: nil) }) {
                upstreamSpan?.span.end()
                return .refused(failure)
            }
            reply = await send()
        } else {
            // A read's decision record is written while the read is in flight, from the decision and
            // before the upstream answers; its result waits for the record (docs/architecture.md).
            async let recorded = traced(trace, "audit-record") { await record(frozen, refusal: nil) }
            let answer = await send()
            if let failure = await recorded {
                upstreamSpan?.span.end()
                return .refused(failure)
            }
            reply = answer
        }
        if let upstreamSpan {
            if case .failure(let reason)? = reply { upstreamSpan.span.setStatus(SpanStatus(code: .error, message: reason)) }
            upstreamSpan.span.end()
        }
        guard let reply, !killSwitch.isKilled(agent) else {
            _ = await record(call, refusal: Refusal(.killed, "the agent was killed while the call was in flight; its result was dropped"),
                             outcome: AuditEvent.Outcome(status: "cancelled:killed"))
            return .refused(.killed)
        }
        let outcome: CallOutcome
        let status: String
        var notes: [String] = []
        /// What the agent reads of the answer (result or error reply), as inspected.
        var read: Inspected?
        var bytes: Int?
        switch reply {
        case .failure(let reason):
            status = "upstream_unavailable"
            outcome = .refused(Refusal(.upstreamUnavailable, reason))
            metrics.count(GatewayMetrics.Name.upstreamErrors, ("upstream", call.upstream), ("kind", "unavailable"))
        case .refused(let refusal):
            status = refusal.code.rawValue
            outcome = .refused(refusal)
        case .result(let value):
            // What was read carries its label (the HTTP upstream's, or the tool's) into the agent's later calls.
            if let dataClass = call.http?.dataClass ?? call.tool?.dataClass {
                taint.noteRead(agentID: agent, user: call.caller.onBehalfOf, dataClass: dataClass, now: clock())
            }
            let inspectStart = trace == nil ? nil : DefaultTracerClock.now
            let inspected = inspect(value, call: call, notes: &notes)
            if let trace, let inspectStart {
                trace.child("inspect-result", from: inspectStart, to: DefaultTracerClock.now,
                            failed: inspected.withheld.map { "withheld: \($0)" })
            }
            read = inspected
            if let withheld = inspected.withheld {
                status = "withheld"
                outcome = .refused(Refusal(.withheld, "the result was withheld: it contains \(withheld)"))
            } else {
                status = value["isError"]?.boolValue == true ? "tool_error" : "ok"
                bytes = inspected.value.serialized.utf8.count
                outcome = .result(inspected.value)
            }
        case .error(let code, let message, let data):
            // An error reply is text the agent reads, like a result: it is inspected the same way.
            var members: [(String, JSONValue)] = [("message", .string(message))]
            if let data { members.append(("data", data)) }
            let inspected = inspect(.object(members), call: call, notes: &notes)
            read = inspected
            status = "error:\(code)"
            if let withheld = inspected.withheld {
                outcome = .refused(Refusal(.withheld, "the upstream's error was withheld: it contains \(withheld)"))
            } else {
                outcome = .upstreamError(code: code, message: Printable.clip(inspected.value["message"]?.stringValue ?? "", 2000),
                                         data: inspected.value["data"])
            }
        }
        var decided = call
        decided.decision?.reasons.append(contentsOf: notes)
        // The answer's values are remembered by source while its outcome record is made durable (they overlap), and
        // before anything is released: the agent's next call is labelled against them.
        async let durable = traced(trace, "audit-outcome") {
            await record(decided, refusal: nil, outcome: AuditEvent.Outcome(status: status, bytes: bytes))
        }
        if let read { remember(read, call: call) }
        if let failure = await durable {
            return .refused(failure)
        }
        if killSwitch.isKilled(agent) { return .refused(.killed) }
        return outcome
    }

    // MARK: - Inspection of answers

    struct Inspected {
        var value: JSONValue
        /// The DLP kinds, when the answer must be withheld.
        var withheld: String?
        /// Every string of the answer as it arrived (what provenance remembers).
        var strings: [String]
        /// Whether it is untrusted input: its tool's results are third-party content, or the scanner found
        /// instructions in it.
        var untrusted: Bool
    }

    /// Injection markers taint the agent; DLP findings are redacted or withheld as configured.
    func inspect(_ value: JSONValue, call: GatewayCall, notes: inout [String]) -> Inspected {
        let strings = JSONStrings.all(value)
        var injection = InjectionScanner.findings(inStringsOf: strings)
        let injected = !injection.isEmpty
        if configuration.resultsUntrusted(upstream: call.upstream, tool: call.tool?.qualifiedName, http: call.http != nil) {
            injection.append("untrusted-results")
        }
        var inspected = Inspected(value: value, strings: strings, untrusted: !injection.isEmpty)
        let now = clock()
        if !injection.isEmpty {
            taint.taint(agentID: call.caller.agent.id, user: call.caller.onBehalfOf, source: call.resourceName,
                        injected: injected, now: now)
            notes.append("result inspection: \(injection.joined(separator: ", ")); the agent is tainted")
            logger.notice("agent tainted", metadata: ["agent": "\(call.caller.agent.id)", "tool": "\(call.resourceName)",
                                                     "findings": "\(injection.joined(separator: ","))"])
        }
        let action = configuration.dlp?.results ?? .redact
        guard action != .allow else { return inspected }
        let (redacted, kinds) = JSONStrings.redacting(value)
        guard !kinds.isEmpty else { return inspected }
        let list = kinds.map(\.rawValue).joined(separator: ", ")
        if action == .block {
            notes.append("result DLP: \(list) withheld")
            inspected.withheld = list
            return inspected
        }
        notes.append("result DLP: \(list) redacted")
        inspected.value = redacted
        return inspected
    }

    // MARK: - Provenance

    /// Remembers the values of an answer the agent read, by source: trusted only when the tool's results are
    /// classified trusted and the scanner found no instructions in them.
    func remember(_ read: Inspected, call: GatewayCall) {
        guard provenance.enabled.load(ordering: .relaxed) else { return }
        // The agent's own values reflected back (an echo, a search that repeats its query) are not the source's; the
        // provenance stage extracted them already.
        let own = call.provenance?.argumentValues
            ?? Set((call.arguments.map(JSONStrings.all) ?? []).flatMap { ValueExtractor.values(in: $0).map(\.exact) })
        provenance.record(strings: read.strings, except: own,
                          from: ProvenanceLedger.Source(name: call.resourceName, trusted: !read.untrusted,
                                                        dataClass: call.tool?.dataClass ?? "internal"),
                          agentID: call.caller.agent.id, user: call.caller.onBehalfOf, now: clock())
    }

    // MARK: - Records

    /// Appends a decision record for a refusal (or a standalone record of the front end's own, e.g.
    /// an unknown tool or method). Returns the refusal to send when it could not be recorded.
    public func recordRefusal(_ call: GatewayCall, _ refusal: Refusal) async -> Refusal? {
        await record(call, refusal: refusal)
    }

    /// Appends the call's record; returns a refusal when the audit log could not make it durable.
    func record(_ call: GatewayCall, refusal: Refusal?, outcome: AuditEvent.Outcome? = nil) async -> Refusal? {
        let elapsed = ContinuousClock.now - call.started
        let latency = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        var decision = call.decision ?? GatewayDecision(allowed: refusal == nil, determining: [], erroring: [],
                                                        reasons: [], obligations: [])
        if refusal == nil, let credential = call.credential, outcome == nil {
            decision.reasons.append("credential vault:\(credential) injected")
        }
        if outcome == nil, let provenance = call.provenance, !provenance.arguments.isEmpty {
            decision.reasons.append(provenance.summary)
            if !call.session.taintSources.isEmpty {
                decision.reasons.append("session tainted by " + call.session.taintSources.joined(separator: ", "))
            }
        }
        if let refusal, decision.allowed || decision.reasons.isEmpty {
            decision.refuse(refusal.reason)
        } else if let refusal, !decision.reasons.contains(refusal.reason), refusal.code != .denied {
            decision.reasons.append(refusal.reason)
        }
        let caller = call.caller
        let audited: JSONAny? = configuration.auditArguments == true
            ? call.redactedArguments.map(JSONAny.init)
            : nil
        let verdict: AuditEvent.Decision = refusal?.code == .approvalPending ? .pending : (refusal == nil ? .allow : .deny)
        var event = AuditEvent(
            timeNanos: AuditEvent.nowNanos(clock()), id: AuditEvent.newID(), traceID: caller.traceID, kind: .decision,
            agent: AuditEvent.AgentRef(id: caller.agent.id, model: caller.agent.modelName, version: caller.agent.modelVersion,
                                       configDigest: caller.agent.configDigest),
            onBehalfOf: caller.onBehalfOf, delegationChain: caller.chain,
            action: outcome == nil ? call.auditAction : call.auditAction + ".result", resource: call.resourceName,
            argumentsDigest: call.argumentsDigest, redactedArguments: audited, decision: verdict,
            determiningPolicies: decision.determining, erroringPolicies: decision.erroring, obligations: decision.obligations,
            reasoning: call.reasoning, reason: decision.summary, outcome: outcome, latencyNanos: latency,
            sessionID: call.sessionRef, sourceAddress: caller.sourceAddress)
        if outcome == nil {
            event.shadow = decision.shadow
            if configuration.auditDecisionInputs ?? true { event.decisionInput = decision.input?.recorded(arguments: audited) }
        }
        let appendStarted = ContinuousClock.now
        do {
            try await audit.append(event)
            metrics.time(GatewayMetrics.Name.auditAppendDuration, ("kind", "decision"), nil, ContinuousClock.now - appendStarted)
            auditHealthy.withLock { $0 = true }
            // Counted once recorded: the metrics say what the audit log holds.
            if outcome == nil {
                metrics.count(GatewayMetrics.Name.decisions, ("action", call.auditAction), ("decision", verdict.rawValue))
                if let refusal { metrics.count(GatewayMetrics.Name.refusals, ("reason", refusal.code.rawValue)) }
                if decision.shadow?.flipped == true { metrics.count(GatewayMetrics.Name.shadowFlips, ("action", call.auditAction)) }
            } else if let status = outcome?.status, status.hasPrefix("error:") {
                metrics.count(GatewayMetrics.Name.upstreamErrors, ("upstream", call.upstream), ("kind", "jsonrpc_error"))
            }
            return nil
        } catch {
            metrics.count(GatewayMetrics.Name.auditAppendFailures)
            auditHealthy.withLock { $0 = false }
            logger.critical("audit log unavailable; failing closed", metadata: ["error": "\(error)"])
            return Refusal(.auditUnavailable, outcome == nil ? "the audit log is unavailable, so the call was not made"
                                                             : "the audit log is unavailable, so the result was not released")
        }
    }
}
