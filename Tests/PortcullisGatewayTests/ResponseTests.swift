import Foundation
import Logging
import PortcullisCore
import Synchronization
import Testing
import PortcullisTesting
@testable import PortcullisGateway
@testable import PortcullisEnforcement

@Suite struct ApprovalBrokerTests {
    let store = MemoryApprovalStore()
    let audit = MemoryAudit()
    let clock = Clock("2026-11-23T10:00:00Z")

    func broker(wait: Double = 0, expiry: Double = 600) -> ApprovalBroker {
        let c = clock
        return ApprovalBroker(store: store, audit: audit, settings: ApprovalSettings(waitSeconds: wait, expirySeconds: expiry),
                              clock: { c.now })
    }

    func request(args: String = "d1", session: String = "s_1") -> ApprovalBroker.Request {
        ApprovalBroker.Request(binding: Approval.Binding(agentID: "agt_1", tool: "web.save_note", argumentsDigest: args, session: session),
                               agent: testAgent(), tool: testTool(), reasons: ["writes need approval"])
    }

    @Test func approvedOnceThenANewRequest() async throws {
        let b = broker()
        guard case .pending(let first) = try await b.resolve(request()) else { Issue.record("not pending"); return }
        // Asking again joins the same request.
        guard case .pending(let again) = try await b.resolve(request()) else { Issue.record("not pending"); return }
        #expect(again.id == first.id)
        _ = try await b.decide(id: first.id, approve: true, approver: "bob", reason: "ok")
        guard case .proceed(let used) = try await b.resolve(request()) else { Issue.record("not proceeding"); return }
        #expect(used.id == first.id && used.status == .used)
        // A replay needs a new approval.
        guard case .pending(let second) = try await b.resolve(request()) else { Issue.record("replay not pending"); return }
        #expect(second.id != first.id)
        #expect(audit.actions == ["approval.request", "approval.approve", "approval.use", "approval.request"])
    }

    @Test func bindingIsExact() async throws {
        let b = broker()
        guard case .pending(let a) = try await b.resolve(request()) else { Issue.record("not pending"); return }
        _ = try await b.decide(id: a.id, approve: true, approver: "bob", reason: "ok")
        for other in [request(args: "d2"), request(session: "s_2")] {
            guard case .pending(let p) = try await b.resolve(other) else { Issue.record("other call not pending"); return }
            #expect(p.id != a.id)
        }
        guard case .proceed = try await b.resolve(request()) else { Issue.record("original not proceeding"); return }
    }

    @Test func deniedIsReportedOnceAndExpiredFails() async throws {
        let b = broker()
        guard case .pending(let a) = try await b.resolve(request()) else { Issue.record("not pending"); return }
        _ = try await b.decide(id: a.id, approve: false, approver: "bob", reason: "no")
        guard case .refused(let r) = try await b.resolve(request()) else { Issue.record("not refused"); return }
        #expect(r.id == a.id && r.status == .denied)
        guard case .pending(let fresh) = try await b.resolve(request()) else { Issue.record("not pending again"); return }
        clock.advance(601)
        guard case .refused(let expired) = try await b.resolve(request()) else { Issue.record("expired not refused"); return }
        #expect(expired.id == fresh.id && expired.status == .expired)
        await #expect(throws: PortcullisError.self) { try await b.decide(id: fresh.id, approve: true, approver: "bob", reason: "late") }
        await #expect(throws: PortcullisError.self) { try await b.decide(id: "apr_nope", approve: true, approver: "bob", reason: "x") }
        await #expect(throws: PortcullisError.self) { try await b.decide(id: fresh.id, approve: true, approver: "bob", reason: " ") }
    }

    @Test func aWaitingCallSeesTheDecision() async throws {
        let b = broker(wait: 10)
        let waiting = Task { try await b.resolve(request()) }
        var id: String?
        for _ in 0..<200 where id == nil {
            try await Task.sleep(for: .milliseconds(10))
            id = try await store.approvals(status: .pending, agentID: nil, limit: 1).first?.id
        }
        _ = try await b.decide(id: try #require(id), approve: true, approver: "bob", reason: "ok")
        guard case .proceed = try await waiting.value else { Issue.record("waiting call not approved"); return }
    }

    @Test func noDecisionWithoutARecord() async throws {
        let b = broker()
        guard case .pending(let a) = try await b.resolve(request()) else { Issue.record("not pending"); return }
        audit.failing.withLock { $0 = true }
        await #expect(throws: PortcullisError.self) { try await b.decide(id: a.id, approve: true, approver: "bob", reason: "ok") }
        #expect(try await store.approval(id: a.id)?.status == .pending)
        await #expect(throws: PortcullisError.self) { try await b.resolve(request(args: "new")) }
    }
}

@Suite struct BehaviourMonitorTests {
    let clock = Clock("2026-11-20T09:00:00Z")
    let store = MemoryMonitorStore()
    let audit = MemoryAudit()

    /// The escalation ladder these tests exercise (the shipped defaults are gentler; see `defaultsLetNewToolsThrough`).
    static let ladder: [ResponseSettings.Rule] = [
        .init(minScore: 1, action: .alert), .init(minScore: 40, action: .approveWrites), .init(minScore: 60, action: .readOnly),
        .init(minScore: 80, action: .suspend), .init(minScore: 95, action: .kill),
    ]

    func monitor(rules: [ResponseSettings.Rule]? = ladder) -> BehaviourMonitor {
        let c = clock
        return BehaviourMonitor(store: store, audit: audit,
                                settings: MonitoringSettings(learningCalls: 20, burstFactor: 5, burstMinimum: 20, denySpikeMinimum: 5,
                                                             exfilMinimumBytes: 10_000),
                                response: ResponseSettings(rules: rules), clock: { c.now }, logger: Logger(label: "test"))
    }

    func observe(_ m: BehaviourMonitor, _ agent: Agent = testAgent(), tool: String = "web.echo", sensitive: Bool = false,
                 allowed: Bool = true, bytes: Int = 100, times: Int = 1) async -> [MonitorAlert] {
        var out: [MonitorAlert] = []
        for _ in 0..<times {
            out += await m.observe(.init(agent: agent, tool: tool, upstream: String(tool.split(separator: ".")[0]),
                                         sensitive: sensitive, allowed: allowed, bytesOut: bytes))
        }
        return out
    }

    /// Business-hours baseline: 3 calls a minute for 10 minutes at 09:00-09:10.
    func learn(_ m: BehaviourMonitor) async {
        for _ in 0..<10 {
            #expect(await observe(m, times: 3).isEmpty)
            clock.advance(60)
        }
    }

    @Test func quietBehaviourRaisesNothing() async throws {
        let m = monitor()
        await learn(m)
        #expect(await observe(m, times: 3).isEmpty)
        #expect(m.risk("agt_1") == BehaviourMonitor.Risk(score: 0, response: .none))
    }

    @Test func burstEscalatesOncePerMinute() async throws {
        let m = monitor()
        await learn(m)
        let alerts = await observe(m, times: 40)
        #expect(alerts.map(\.detector) == [.burst])
        #expect(m.risk("agt_1") == BehaviourMonitor.Risk(score: 40, response: .approveWrites))
        #expect(audit.actions.contains("response.approve_writes"))
    }

    @Test func newSensitiveToolAtThreeInTheMorning() async throws {
        let m = monitor()
        await learn(m)
        clock.set("2026-11-21T03:00:00Z")
        let alerts = await observe(m, tool: "files.delete", sensitive: true)
        #expect(Set(alerts.map(\.detector)) == [.firstTimeTool, .offHours])
        #expect(alerts.first { $0.detector == .firstTimeTool }?.score == 30)
        // 30 + 25 = 55: approve_writes (>= 40), not yet read_only (>= 60).
        #expect(m.risk("agt_1").response == .approveWrites)
        let more = await observe(m, tool: "files.wipe", sensitive: true)
        #expect(more.map(\.detector) == [.firstTimeTool])
        #expect(m.risk("agt_1") == BehaviourMonitor.Risk(score: 85, response: .suspend))
    }

    @Test("the shipped defaults never suspend or kill, and a new tool or two only raise alerts")
    func defaultsLetNewToolsThrough() async throws {
        let m = monitor(rules: nil)
        #expect(ResponseSettings().effectiveRules.allSatisfy { $0.action < .suspend })
        #expect(MonitoringSettings().effective.learningCalls == 200)
        await learn(m)
        clock.set("2026-11-21T10:00:00Z")
        _ = await observe(m, tool: "files.delete", sensitive: true)
        #expect(m.risk("agt_1").response == .alert)
        for tool in ["files.wipe", "files.move", "files.copy", "files.chmod"] { _ = await observe(m, tool: tool, sensitive: true) }
        // Saturated: writes wait for a person, reads go on; nothing is suspended.
        #expect(m.risk("agt_1") == BehaviourMonitor.Risk(score: 100, response: .readOnly))
    }

    @Test func denySpikeExfiltrationAndDrift() async throws {
        let m = monitor()
        await learn(m)
        #expect(await observe(m, allowed: false, times: 5).map(\.detector) == [.denySpike])
        clock.advance(60)
        #expect(await observe(m, bytes: 20_000).map(\.detector) == [.exfiltration])
        clock.advance(60)
        _ = await observe(m, testAgent(digest: String(repeating: "a", count: 64)))
        let drift = await observe(m, testAgent(digest: String(repeating: "b", count: 64)))
        #expect(drift.map(\.detector) == [.configDrift])
    }

    @Test func riskDecaysAndAPersonClearsTheResponse() async throws {
        let m = monitor()
        await learn(m)
        _ = await observe(m, times: 40)
        clock.advance(3600)
        #expect(m.risk("agt_1") == BehaviourMonitor.Risk(score: 20, response: .approveWrites))
        _ = try await m.clear(agentID: "agt_1", actor: "admin:alice", reason: "investigated")
        #expect(m.risk("agt_1") == BehaviourMonitor.Risk(score: 0, response: .none))
        #expect(audit.actions.last == "response.clear")
    }

    @Test func suspendAndKillGoThroughTheEnforcer() async throws {
        let m = monitor(rules: [ResponseSettings.Rule(minScore: 30, action: .kill)])
        let enforced = Mutex<[String]>([])
        m.setEnforcer { id, action, _ in enforced.withLock { $0.append("\(id):\(action.rawValue)") } }
        await learn(m)
        _ = await observe(m, times: 40)
        #expect(enforced.withLock { $0 } == ["agt_1:kill"])
    }

    @Test func baselinesPersistAndReload() async throws {
        let m = monitor()
        await learn(m)
        await m.flush()
        let again = monitor()
        #expect(try await again.baseline("agt_1")?.calls == 30)
        #expect(try await again.baseline("agt_1")?.tools.keys.sorted() == ["web.echo"])
    }
}

@Suite struct KillSwitchTests {
    @Test func killCancelsCallsInFlightAndRefusesNewOnes() async throws {
        let k = KillSwitch()
        let slow = Task { await k.run(agentID: "a") { () async -> Int in
            try? await Task.sleep(for: .seconds(30))
            return 1
        } }
        let other = Task { await k.run(agentID: "b") { () async -> Int in 2 } }
        while k.inFlight("a") == 0 { try await Task.sleep(for: .milliseconds(5)) }
        // The body would return 1 after its sleep; nil means the kill cancelled it and dropped it.
        #expect(k.kill(["a"]) == 1)
        #expect(await slow.value == nil)
        #expect(await other.value == 2)
        #expect(await k.run(agentID: "a") { () async -> Int in 3 } == nil)
        k.revive("a")
        #expect(await k.run(agentID: "a") { () async -> Int in 4 } == 4)
    }

    @Test func responseConfigurationIsStrict() throws {
        let bad = #"{"upstreams": [], "monitoring": {"burstFactr": 3}}"#
        #expect(throws: (any Error).self) { try JSONDecoder().decode(GatewayConfiguration.self, from: Data(bad.utf8)) }
        let good = #"{"response": {"rules": [{"minScore": 10, "action": "read_only"}]}, "approvals": {"waitSeconds": 1}}"#
        let c = try JSONDecoder().decode(GatewayConfiguration.self, from: Data(good.utf8))
        #expect(c.effectiveResponse.action(for: 9) == ResponseAction.none && c.effectiveResponse.action(for: 10) == .readOnly)
        var invalid = c
        invalid.response = ResponseSettings(rules: [.init(minScore: 0, action: .kill)])
        #expect(throws: GatewayConfigurationError.self) { try invalid.validate() }
    }
}
