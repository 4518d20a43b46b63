import Foundation
import PortcullisCore
import Testing
@testable import PortcullisStore

@Suite("Approvals, approvers, baselines, risk and alerts (SQLite and PostgreSQL)")
struct ResponseStoreTests {
    func approval(_ id: String, status: Approval.Status = .pending, args: String = "d1", at: Double = 1_000) -> Approval {
        Approval(id: id, agentID: "agt_1", agentOwner: "owner@x", tool: "web.save_note", effect: "write", risk: 2,
                 argumentsDigest: args, session: "s_1", status: status, reasons: ["needs approval", "é🚀"],
                 createdAt: Date(timeIntervalSince1970: at), expiresAt: Date(timeIntervalSince1970: at + 600))
    }

    @Test("approvals round-trip; lookups by binding and status; compare-and-set refuses a stale status",
          arguments: StoreKind.allCases)
    func approvals(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        let a = approval("apr_a"), b = approval("apr_b", args: "d2", at: 1_001), c = approval("apr_c", at: 1_002)
        for x in [a, b, c] { try await store.saveApproval(x) }
        #expect(try await store.approval(id: "apr_a") == a)
        #expect(try await store.approval(id: "apr_zz") == nil)
        #expect(try await store.approvals(binding: a.binding).map(\.id) == ["apr_c", "apr_a"])
        var approved = a
        approved.status = .approved
        approved.decidedBy = "bob"
        #expect(try await store.updateApproval(approved, expecting: .pending))
        // The same transition again finds the status changed: refused, nothing written.
        var denied = a
        denied.status = .denied
        #expect(try await !store.updateApproval(denied, expecting: .pending))
        #expect(try await store.approval(id: "apr_a") == approved)
        #expect(try await store.approvals(status: .pending, agentID: nil, limit: 10).map(\.id) == ["apr_c", "apr_b"])
        #expect(try await store.approvals(status: nil, agentID: "agt_1", limit: 2).map(\.id) == ["apr_c", "apr_b"])
        #expect(try await store.approvals(status: nil, agentID: "agt_other", limit: 10).isEmpty)
    }

    @Test("approvers and administrators: unique names, found by token digest, roles kept, removable", arguments: StoreKind.allCases)
    func approvers(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        let alice = Approver(name: "alice", tokenDigest: String(repeating: "a", count: 64),
                             createdAt: Date(timeIntervalSince1970: 5), createdBy: "admin")
        try await store.saveApprover(alice)
        await #expect(throws: PortcullisError.self) { try await store.saveApprover(alice) }
        #expect(try await store.approver(tokenDigest: alice.tokenDigest) == alice)
        #expect(try await store.approver(tokenDigest: String(repeating: "b", count: 64)) == nil)
        #expect(try await store.approvers() == [alice])
        // A named administrator keeps the role (docs/console.md).
        let bob = Approver(name: "bob", tokenDigest: String(repeating: "c", count: 64), createdAt: Date(timeIntervalSince1970: 6),
                           createdBy: "admin", role: .administrator)
        try await store.saveApprover(bob)
        #expect(try await store.approver(tokenDigest: bob.tokenDigest)?.role == .administrator)
        #expect(try await store.approvers().map(\.role) == [.approver, .administrator])
        #expect(try await store.removeApprover(name: "bob"))
        #expect(try await store.removeApprover(name: "alice"))
        #expect(try await !store.removeApprover(name: "alice"))
        #expect(try await store.approver(tokenDigest: alice.tokenDigest) == nil)
    }

    @Test("baselines, risk states and alerts survive reopening the database")
    func monitoringPersists() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("p.sqlite")
        var baseline = AgentBaseline(agentID: "agt_1", now: Date(timeIntervalSince1970: 10))
        baseline.calls = 7
        baseline.hours[3] = 7
        baseline.tools = ["web.echo": Date(timeIntervalSince1970: 11)]
        baseline.ratePerMinute = 2.5
        let risk = AgentRiskState(agentID: "agt_1", score: 42.5, scoredAt: Date(timeIntervalSince1970: 12), response: .approveWrites,
                                  responseAt: Date(timeIntervalSince1970: 12))
        let alerts = (0..<3).map {
            MonitorAlert(id: "alr_\($0)", agentID: $0 == 2 ? "agt_2" : "agt_1", detector: .burst, score: 40, riskScore: 40,
                         response: .approveWrites, detail: "d\($0)", at: Date(timeIntervalSince1970: Double(20 + $0)))
        }
        do {
            let store = try SQLiteStore(path: path)
            try await store.saveBaselines([baseline])
            try await store.saveRiskState(risk)
            for a in alerts { try await store.appendAlert(a) }
            await #expect(throws: PortcullisError.self) { try await store.appendAlert(alerts[0]) }
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.baseline(agentID: "agt_1") == baseline)
        #expect(try await reopened.baseline(agentID: "agt_2") == nil)
        #expect(try await reopened.riskStates() == [risk])
        #expect(try await reopened.alerts(agentID: nil, limit: 10).map(\.id) == ["alr_2", "alr_1", "alr_0"])
        #expect(try await reopened.alerts(agentID: "agt_1", limit: 1) == [alerts[1]])
    }

    @Test("an unreadable stored record is a storage error, not a silent default", arguments: StoreKind.allCases)
    func corruptBody(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        try await store.saveApproval(approval("apr_x"))
        try await opened.execute(sql: "UPDATE approvals SET body = '{not json' WHERE id = 'apr_x'")
        await #expect(throws: PortcullisError.self) { try await store.approval(id: "apr_x") }
    }
}
