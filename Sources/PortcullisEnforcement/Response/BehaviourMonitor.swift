import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import PortcullisCore
import Synchronization

/// Learns each agent's normal behaviour, raises scored alerts when it departs from it, keeps a
/// decaying risk score, and escalates the graduated response (docs/response.md).
///
/// Baselines live in memory and are written to the ``MonitorStore`` by ``flush()`` (every few
/// seconds and at shutdown); alerts and responses are written when they happen.
public final class BehaviourMonitor: Sendable {
    /// One decided tool call.
    public struct Observation: Sendable {
        public var agent: Agent
        /// Qualified tool name.
        public var tool: String
        public var upstream: String
        /// Whether the tool changes something (effect other than `read`) or is rated risk 3 or more.
        public var sensitive: Bool
        public var allowed: Bool
        /// Argument bytes sent upstream (0 when the call was not forwarded).
        public var bytesOut: Int

        public init(agent: Agent, tool: String, upstream: String, sensitive: Bool, allowed: Bool, bytesOut: Int) {
            self.agent = agent
            self.tool = tool
            self.upstream = upstream
            self.sensitive = sensitive
            self.allowed = allowed
            self.bytesOut = bytesOut
        }
    }

    /// What policies and enforcement see.
    public struct Risk: Sendable, Equatable {
        public var score: Int
        public var response: ResponseAction

        public init(score: Int, response: ResponseAction) {
            self.score = score
            self.response = response
        }
    }

    /// Applies `suspend` and `kill` (the server wires the registry and the kill switch here).
    public typealias Enforcer = @Sendable (_ agentID: String, _ action: ResponseAction, _ reason: String) async -> Void

    struct Tracker {
        var baseline: AgentBaseline
        var minute: Int64 = 0
        var minuteCalls = 0
        var minuteDenies = 0
        var minuteBytes = 0
        /// Detector → the minute it last fired.
        var fired: [MonitorAlert.Detector: Int64] = [:]
    }

    let store: any MonitorStore
    let audit: any AuditSink
    let metrics: GatewayMetrics
    let settings: MonitoringSettings.Effective
    let response: ResponseSettings
    let webhook: String?
    let clock: @Sendable () -> Date
    let logger: Logger
    private let trackers = Mutex<[String: Tracker]>([:])
    private let risks = Mutex<[String: AgentRiskState]>([:])
    private let dirty = Mutex<Set<String>>([])
    private let enforcer = Mutex<Enforcer?>(nil)
    private let riskAnnouncer = Mutex<(@Sendable (String) -> Void)?>(nil)
    /// Weight of the newest minute in the moving averages.
    static let alpha = 0.2

    public init(store: any MonitorStore, audit: any AuditSink, settings: MonitoringSettings, response: ResponseSettings,
                clock: @escaping @Sendable () -> Date, logger: Logger, metrics: GatewayMetrics = GatewayMetrics()) {
        self.metrics = metrics
        self.store = store
        self.audit = audit
        self.settings = settings.effective
        self.response = response
        self.webhook = settings.webhook
        self.clock = clock
        self.logger = logger
    }

    public var enabled: Bool { settings.enabled }

    public func setEnforcer(_ e: @escaping Enforcer) {
        enforcer.withLock { $0 = e }
    }

    /// Where a stored change of an agent's risk state is announced (to the other replicas); set once.
    public func onRiskChange(_ announce: @escaping @Sendable (String) -> Void) {
        riskAnnouncer.withLock { $0 = announce }
    }

    /// Reads an agent's risk state again from the store (another replica changed it).
    public func reload(agentID: String) async throws {
        let state = try await store.riskStates().first { $0.agentID == agentID }
        risks.withLock { table in table[agentID] = state }
    }

    private func announceRisk(_ agentID: String) {
        riskAnnouncer.withLock { $0 }?(agentID)
    }

    /// Loads the persisted risk states (call once at start).
    public func load() async throws {
        let states = try await store.riskStates()
        risks.withLock { table in for s in states { table[s.agentID] = s } }
    }

    /// The agent's current (decayed) risk score and the response in force.
    public func risk(_ agentID: String) -> Risk {
        let now = clock()
        return risks.withLock { table in
            guard let s = table[agentID] else { return Risk(score: 0, response: .none) }
            return Risk(score: Int(decayed(s, now).rounded()), response: s.response)
        }
    }

    private func decayed(_ s: AgentRiskState, _ now: Date) -> Double {
        let dt = max(0, now.timeIntervalSince(s.scoredAt))
        return s.score * pow(0.5, dt / settings.riskHalfLifeSeconds)
    }

    /// The baseline as it stands (in memory, else from the store).
    public func baseline(_ agentID: String) async throws -> AgentBaseline? {
        if let b = trackers.withLock({ $0[agentID]?.baseline }) { return b }
        return try await store.baseline(agentID: agentID)
    }

    /// Learns from one decided call; raises alerts and escalates the response when it departs from the baseline.
    /// Returns the alerts raised.
    @discardableResult
    public func observe(_ o: Observation) async -> [MonitorAlert] {
        guard settings.enabled else { return [] }
        let id = o.agent.id
        if trackers.withLock({ $0[id] == nil }) {
            var loaded: AgentBaseline?
            do { loaded = try await store.baseline(agentID: id) } catch {
                logger.error("baseline unreadable; starting a new one", metadata: ["agent": "\(id)", "error": "\(error)"])
            }
            let baseline = loaded ?? AgentBaseline(agentID: id, now: clock())
            trackers.withLock { t in if t[id] == nil { t[id] = Tracker(baseline: baseline) } }
        }
        let now = clock()
        let findings: [(MonitorAlert.Detector, Int, String)] = trackers.withLock { table in
            var t = table[id]!
            let found = Self.step(&t, o, now: now, settings: settings)
            table[id] = t
            return found
        }
        dirty.withLock { _ = $0.insert(id) }
        var raised: [MonitorAlert] = []
        for (detector, score, detail) in findings {
            raised.append(await raise(agentID: id, detector: detector, score: score, detail: detail, now: now))
        }
        return raised
    }

    /// One observation against the tracker: folds finished minutes into the moving averages, runs the
    /// detectors, then learns from the call. Pure, for tests.
    static func step(_ t: inout Tracker, _ o: Observation, now: Date, settings s: MonitoringSettings.Effective)
        -> [(MonitorAlert.Detector, Int, String)]
    {
        let minute = Int64((now.timeIntervalSince1970 / 60).rounded(.down))
        if minute != t.minute {
            if t.minuteCalls > 0 {
                let b = t.baseline
                let calls = Double(t.minuteCalls)
                t.baseline.ratePerMinute = b.ratePerMinute == 0 ? calls : alpha * calls + (1 - alpha) * b.ratePerMinute
                t.baseline.bytesOutPerMinute = b.bytesOutPerMinute == 0
                    ? Double(t.minuteBytes) : alpha * Double(t.minuteBytes) + (1 - alpha) * b.bytesOutPerMinute
                t.baseline.denyRatio = alpha * Double(t.minuteDenies) / calls + (1 - alpha) * b.denyRatio
            }
            t.minute = minute
            t.minuteCalls = 0
            t.minuteDenies = 0
            t.minuteBytes = 0
        }
        t.minuteCalls += 1
        if !o.allowed { t.minuteDenies += 1 }
        t.minuteBytes += o.bytesOut
        var found: [(MonitorAlert.Detector, Int, String)] = []
        func once(_ d: MonitorAlert.Detector, _ score: Int, _ detail: String) {
            guard t.fired[d] != minute else { return }
            t.fired[d] = minute
            found.append((d, score, detail))
        }
        let b = t.baseline
        let learned = b.calls >= s.learningCalls
        if b.ratePerMinute > 0, t.minuteCalls >= s.burstMinimum, Double(t.minuteCalls) >= s.burstFactor * b.ratePerMinute {
            once(.burst, 40, "\(t.minuteCalls) calls this minute against a baseline of \(String(format: "%.1f", b.ratePerMinute))/min")
        }
        if learned, b.tools[o.tool] == nil {
            let newUpstream = b.upstreams[o.upstream] == nil ? " on upstream `\(o.upstream)`, also new" : ""
            found.append((.firstTimeTool, o.sensitive ? 30 : 15,
                          "first use of \(o.sensitive ? "sensitive " : "")tool `\(o.tool)`\(newUpstream)"))
        }
        let hour = Calendar.utc.component(.hour, from: now)
        let total = b.hours.reduce(0, +)
        if learned, total > 0, Double(b.hours[hour]) / Double(total) < s.offHoursShare {
            once(.offHours, 25, "activity at \(hour):00 UTC, an hour with \(b.hours[hour]) of \(total) past calls")
        }
        if t.minuteDenies >= s.denySpikeMinimum, Double(t.minuteDenies) / Double(t.minuteCalls) >= s.denySpikeRatio {
            once(.denySpike, 30, "\(t.minuteDenies) of \(t.minuteCalls) calls denied this minute (baseline deny ratio \(String(format: "%.2f", b.denyRatio)))")
        }
        if t.minuteBytes >= s.exfilMinimumBytes, Double(t.minuteBytes) >= s.exfilFactor * max(b.bytesOutPerMinute, 1) {
            once(.exfiltration, 50, "\(t.minuteBytes) bytes sent upstream this minute against a baseline of \(Int(b.bytesOutPerMinute))/min")
        }
        if let digest = o.agent.configDigest, let seen = b.configDigest, digest != seen {
            found.append((.configDrift, 60, "configuration digest changed from \(seen.prefix(12))… to \(digest.prefix(12))…"))
        }
        // Learn.
        t.baseline.calls += 1
        t.baseline.hours[hour] += 1
        if t.baseline.tools[o.tool] == nil { t.baseline.tools[o.tool] = now }
        if t.baseline.upstreams[o.upstream] == nil { t.baseline.upstreams[o.upstream] = now }
        if let digest = o.agent.configDigest { t.baseline.configDigest = digest }
        t.baseline.updatedAt = now
        return found
    }

    /// Scores an alert into the agent's risk, escalates the response if a rule says so, and delivers it.
    private func raise(agentID: String, detector: MonitorAlert.Detector, score: Int, detail: String, now: Date) async
        -> MonitorAlert
    {
        metrics.count(GatewayMetrics.Name.alerts, ("detector", detector.rawValue))
        let (state, escalatedFrom): (AgentRiskState, ResponseAction?) = risks.withLock { table in
            var s = table[agentID] ?? AgentRiskState(agentID: agentID, scoredAt: now)
            s.score = min(100, decayed(s, now) + Double(score))
            s.scoredAt = now
            let wanted = response.action(for: Int(s.score.rounded()))
            var from: ResponseAction?
            if wanted > s.response {
                from = s.response
                s.response = wanted
                s.responseAt = now
            }
            table[agentID] = s
            return (s, from)
        }
        let alert = MonitorAlert(id: "alr_" + Hex.random(10), agentID: agentID, detector: detector, score: score,
                                 riskScore: Int(state.score.rounded()), response: state.response, detail: detail, at: now)
        logger.warning("behaviour alert", metadata: [
            "agent": "\(agentID)", "detector": "\(detector.rawValue)", "score": "\(score)",
            "risk": "\(alert.riskScore)", "response": "\(state.response.rawValue)", "detail": "\(detail)",
        ])
        do {
            try await store.appendAlert(alert)
            try await store.saveRiskState(state)
            announceRisk(agentID)
        } catch {
            logger.critical("alert or risk state not stored", metadata: ["agent": "\(agentID)", "error": "\(error)"])
        }
        await record(AuditEvent(timeNanos: AuditEvent.nowNanos(), id: AuditEvent.newID(), kind: .alert,
                                agent: AuditEvent.AgentRef(id: agentID), actor: "monitor", action: "monitor.\(detector.rawValue)",
                                resource: agentID, reason: "score \(score), risk \(alert.riskScore): \(detail)"))
        if let from = escalatedFrom, state.response != .alert {
            let reason = "automatic response: risk score \(alert.riskScore) reached the `\(state.response.rawValue)` rule (was \(from.rawValue)); last alert \(detector.rawValue): \(detail)"
            await record(AuditEvent(timeNanos: AuditEvent.nowNanos(), id: AuditEvent.newID(), kind: .alert,
                                    agent: AuditEvent.AgentRef(id: agentID), actor: "monitor",
                                    action: "response.\(state.response.rawValue)", resource: agentID,
                                    decision: .deny, reason: reason))
            if state.response == .suspend || state.response == .kill, let enforce = enforcer.withLock({ $0 }) {
                await enforce(agentID, state.response, reason)
            }
        }
        deliver(alert)
        return alert
    }

    /// An alert that is not about behaviour (an overdue access review): stored, audited, counted and delivered like the
    /// detectors' alerts, but it adds nothing to the risk score. Throws when the alert cannot be stored.
    @discardableResult
    public func notify(agentID: String, detector: MonitorAlert.Detector, detail: String, actor: String) async throws
        -> MonitorAlert
    {
        let now = clock()
        let current = risk(agentID)
        let alert = MonitorAlert(id: "alr_" + Hex.random(10), agentID: agentID, detector: detector, score: 0,
                                 riskScore: current.score, response: current.response, detail: detail, at: now)
        metrics.count(GatewayMetrics.Name.alerts, ("detector", detector.rawValue))
        logger.warning("alert", metadata: ["agent": "\(agentID)", "detector": "\(detector.rawValue)", "detail": "\(detail)"])
        try await store.appendAlert(alert)
        await record(AuditEvent(timeNanos: AuditEvent.nowNanos(), id: AuditEvent.newID(), kind: .alert,
                                agent: AuditEvent.AgentRef(id: agentID), actor: actor, action: "\(actor).\(detector.rawValue)",
                                resource: agentID, reason: detail))
        deliver(alert)
        return alert
    }

    /// A person clears the automatic response: no response, risk score 0. Recorded.
    public func clear(agentID: String, actor: String, reason: String) async throws -> AgentRiskState {
        let now = clock()
        let state = AgentRiskState(agentID: agentID, scoredAt: now)
        try await audit.record(AuditEvent(timeNanos: AuditEvent.nowNanos(), id: AuditEvent.newID(), kind: .admin,
                                           agent: AuditEvent.AgentRef(id: agentID), actor: actor, action: "response.clear",
                                           resource: agentID, decision: .allow, reason: reason))
        risks.withLock { $0[agentID] = state }
        try await store.saveRiskState(state)
        announceRisk(agentID)
        return state
    }

    /// Writes the baselines changed since the last flush.
    public func flush() async {
        let ids = dirty.withLock { d -> Set<String> in
            let out = d
            d.removeAll()
            return out
        }
        guard !ids.isEmpty else { return }
        let baselines = trackers.withLock { t in ids.compactMap { t[$0]?.baseline } }
        do { try await store.saveBaselines(baselines) } catch {
            logger.error("baselines not saved; will retry", metadata: ["error": "\(error)"])
            dirty.withLock { $0.formUnion(ids) }
        }
    }

    private func record(_ event: AuditEvent) async {
        do { try await audit.append(event) } catch {
            logger.critical("monitor event could not be audited", metadata: ["action": "\(event.action)", "error": "\(error)"])
        }
    }

    /// POSTs the alert to the webhook (best effort, in the background).
    private func deliver(_ alert: MonitorAlert) {
        guard let webhook else { return }
        let logger = self.logger
        Task {
            do {
                let envelope: [String: Any] = ["type": "portcullis.alert", "alert": alert.jsonObject]
                var request = HTTPClientRequest(url: webhook)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(
                    withJSONObject: envelope, options: [.sortedKeys, .withoutEscapingSlashes])))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                if !(200..<300).contains(Int(response.status.code)) {
                    logger.warning("alert webhook answered \(response.status.code)", metadata: ["alert": "\(alert.id)"])
                }
            } catch {
                logger.warning("alert webhook failed", metadata: ["alert": "\(alert.id)", "error": "\(error)"])
            }
        }
    }
}

extension MonitorAlert {
    /// The alert as the admin API and the webhook show it.
    public var jsonObject: [String: Any] {
        ["id": id, "agent": agentID, "detector": detector.rawValue, "score": score, "risk_score": riskScore,
         "response": response.rawValue, "detail": detail, "at": at.formatted(.iso8601)]
    }
}

extension Calendar {
    static let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()
}
