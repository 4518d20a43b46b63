import Foundation
import HTTPTypes
import Hummingbird
import PortcullisAudit
import HummingbirdTesting
import PortcullisCore
import PortcullisIdentity
import Testing
@testable import PortcullisServer

@Suite("Governance: access reviews, overdue suspension, owner offboarding, reports")
struct GovernanceTests {

    /// A node on the manual clock, started at the wall clock's now (review dates are computed from it).
    func node(grace: Int = 7) async throws -> TestNode {
        try await TestNode { config in
            config.testing = .init(manualClock: Date().formatted(.iso8601))
            config.governance.reviewGraceDays = grace
        }
    }

    func call(_ client: some TestClientProtocol, _ node: TestNode, _ method: HTTPRequest.Method, _ uri: String,
              _ body: [String: Any]? = nil, actor: String? = nil) async throws -> (HTTPResponse.Status, Any?) {
        var headers = node.adminHeaders
        if let actor { headers[HTTPField.Name("X-Portcullis-Actor")!] = actor }
        let buffer = try body.map { ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: $0)) }
        return try await client.execute(uri: uri, method: method, headers: headers, body: buffer) { response in
            (response.status, try? JSONSerialization.jsonObject(with: Data(buffer: response.body)))
        }
    }

    /// Registers an agent (scopes `mcp` and `tools.write`) and obtains a token for it.
    func agent(_ node: TestNode, _ client: some TestClientProtocol, owner: String = "alice@example.com",
               extra: [String: Any] = [:]) async throws -> (id: String, token: String) {
        var fields: [String: Any] = ["owner": owner, "scopes": ["mcp", "tools.write"]]
        fields.merge(extra) { _, new in new }
        return try await node.mcpAgent(client, extra: fields)
    }

    func tokenWorks(_ node: TestNode, _ token: String) async -> Bool { await node.refusal(of: token) == nil }

    func status(_ node: TestNode, _ id: String) async throws -> AgentStatus? {
        try await node.services.registry.agents.agent(id: id)?.status
    }

    @Test("an overdue review raises one alert, suspends after the grace period, and a review resumes the agent")
    func overdueReview() async throws {
        let node = try await node(grace: 7)
        defer { node.remove() }
        let clock = try #require(node.services.manualClock)
        try await node.app().test(.router) { client in
            let (id, token) = try await agent(node, client, extra: ["review_cadence_days": 30])
            let (other, _) = try await agent(node, client, extra: ["review_cadence_days": 365])
            var report = try await node.services.governance.sweep()
            #expect(report.alerted.isEmpty && report.suspended.isEmpty)

            clock.advance(31 * 86_400)
            report = try await node.services.governance.sweep()
            #expect(report.alerted == [id] && report.suspended.isEmpty)
            #expect(try await status(node, id) == .active)
            // Alerted once per review date.
            report = try await node.services.governance.sweep()
            #expect(report.alerted.isEmpty)
            let alerts = try await node.services.monitorStore.alerts(agentID: id, limit: 10)
            #expect(alerts.count == 1 && alerts.first?.detector == .reviewOverdue)

            clock.advance(7 * 86_400)
            let (code, swept) = try await call(client, node, .post, "/admin/governance/sweep")
            #expect(code == .ok)
            #expect((swept as? [String: Any])?["suspended"] as? [String] == [id])
            #expect(try await status(node, id) == .suspended)
            #expect(try await status(node, other) == .active)
            #expect(await tokenWorks(node, token) == false)
            let suspension = try await node.services.registry.agents.events(agentID: id).last
            #expect(suspension?.kind == .suspended && suspension?.actor == "governance")
            #expect(try await node.services.monitorStore.alerts(agentID: id, limit: 10).count == 2)

            // The owner reviews: the agent is resumed and due one cadence after the review.
            let (reviewed, body) = try await call(client, node, .post, "/admin/agents/\(id)/review",
                                                  ["still_needed": true, "scopes_right": true, "notes": "still refunds"],
                                                  actor: "alice")
            #expect(reviewed == .ok, "\(String(describing: body))")
            let result = try #require(body as? [String: Any])
            #expect(result["outcome"] as? String == "kept" && result["resumed"] as? Bool == true)
            let agent = try #require(try await node.services.registry.agents.agent(id: id))
            #expect(agent.status == .active)
            #expect(abs(agent.nextReviewAt.timeIntervalSince(clock.now) - 30 * 86_400) < 5)
            let events = try await node.services.registry.agents.events(agentID: id)
            let review = try #require(events.last { $0.kind == .reviewed })
            #expect(review.actor == "admin:alice" && review.details?.contains("still refunds") == true)
        }
    }

    @Test("a review must answer both questions; removed scopes revoke tokens; not needed decommissions")
    func reviewAnswers() async throws {
        let node = try await node()
        defer { node.remove() }
        try await node.app().test(.router) { client in
            let (id, token) = try await agent(node, client)
            for (body, fragment) in [
                (["scopes_right": true] as [String: Any], "still_needed"),
                (["still_needed": true], "scopes_right"),
                (["still_needed": true, "scopes_right": false], "remove_scopes"),
                (["still_needed": true, "scopes_right": true, "remove_scopes": ["mcp"]], "remove_scopes"),
            ] {
                let (code, answer) = try await call(client, node, .post, "/admin/agents/\(id)/review", body)
                #expect(code == .badRequest)
                #expect(((answer as? [String: Any])?["reason"] as? String)?.contains(fragment) == true)
            }
            #expect(try await node.services.registry.agents.events(agentID: id).contains { $0.kind == .reviewed } == false)
            #expect(await tokenWorks(node, token))

            let (code, answer) = try await call(client, node, .post, "/admin/agents/\(id)/review",
                                                ["still_needed": true, "scopes_right": false, "remove_scopes": ["tools.write", "absent"]])
            #expect(code == .ok)
            #expect((answer as? [String: Any])?["removed_scopes"] as? [String] == ["tools.write"])
            #expect(try await node.services.registry.agents.agent(id: id)?.allowedScopes == ["mcp"])
            #expect(await tokenWorks(node, token) == false)

            let (gone, result) = try await call(client, node, .post, "/admin/agents/\(id)/review",
                                                ["still_needed": false, "scopes_right": true])
            #expect(gone == .ok && (result as? [String: Any])?["outcome"] as? String == "decommissioned")
            #expect(try await status(node, id) == .decommissioned)
            let (again, _) = try await call(client, node, .post, "/admin/agents/\(id)/review",
                                            ["still_needed": true, "scopes_right": true])
            #expect(again == .conflict)
        }
    }

    @Test("offboarding suspends every agent an owner has and revokes their tokens in one audited step; or transfers them")
    func offboarding() async throws {
        let node = try await node()
        defer { node.remove() }
        try await node.app().test(.router) { client in
            let (a1, t1) = try await agent(node, client, owner: "alice")
            let (a2, t2) = try await agent(node, client, owner: "alice")
            let (b1, tb) = try await agent(node, client, owner: "bob")
            let (c1, tc) = try await agent(node, client, owner: "carol")
            _ = try await node.services.registry.transition(id: a2, .suspend, actor: "admin", reason: "earlier incident")

            var (code, _) = try await call(client, node, .post, "/admin/owners/alice/offboard", [:])
            #expect(code == .badRequest)
            (code, _) = try await call(client, node, .post, "/admin/owners/nobody/offboard", ["reason": "left"])
            #expect(code == .notFound)
            #expect(try await status(node, a1) == .active)
            #expect(await tokenWorks(node, t1))

            let size = await node.services.audit.size
            let (ok, report) = try await call(client, node, .post, "/admin/owners/alice/offboard", ["reason": "left the company"])
            #expect(ok == .ok)
            let items = try #require((report as? [String: Any])?["agents"] as? [[String: Any]])
            let actions = Dictionary(uniqueKeysWithValues: items.map { ($0["agent"] as! String, $0["action"] as! String) })
            #expect(actions == [a1: "suspended", a2: "already_stopped"])
            // a1's token was live; a2's died with its earlier suspension.
            let revoked = Dictionary(uniqueKeysWithValues: items.map { ($0["agent"] as! String, $0["tokens_revoked"] as! Int) })
            #expect(revoked == [a1: 1, a2: 0])
            #expect(try await status(node, a1) == .suspended)
            #expect(await tokenWorks(node, t1) == false)
            #expect(await tokenWorks(node, t2) == false)
            #expect(try await status(node, b1) == .active)
            #expect(await tokenWorks(node, tb))
            // The step's own record comes first, then each agent's.
            let first = try #require(try await node.services.audit.entry(index: size))
            #expect(first.event.action == "owner.offboard" && first.event.resource == "alice")
            #expect(first.event.reason?.contains(a1) == true && first.event.reason?.contains(a2) == true)

            let (moved, transfer) = try await call(client, node, .post, "/admin/owners/carol/offboard",
                                                   ["reason": "moved team", "transfer_to": "dave"])
            #expect(moved == .ok)
            #expect(((transfer as? [String: Any])?["agents"] as? [[String: Any]])?.first?["action"] as? String == "transferred")
            let carols = try #require(try await node.services.registry.agents.agent(id: c1))
            #expect(carols.owner == "dave" && carols.status == .active)
            #expect(carols.nextReviewAt <= node.services.manualClock!.now.addingTimeInterval(7 * 86_400 + 1))
            #expect(await tokenWorks(node, tc) == false)
            #expect(try await node.services.registry.agents.events(agentID: c1).last?.kind == .transferred)
        }
    }

    @Test("reports list the right agents and figures, as JSON and as CSV that a spreadsheet will not execute")
    func reports() async throws {
        let node = try await node()
        defer { node.remove() }
        try await node.app().test(.router) { client in
            let (plain, _) = try await agent(node, client, owner: "=HYPERLINK(\"http://x\",\"a, b\")")
            let (bound, _) = try await agent(node, client, owner: "bob", extra: ["config_digest": String(repeating: "ab", count: 32)])
            // Bound after its token was issued (a DPoP token request is the token service's tests' business).
            #expect(try await call(client, node, .patch, "/admin/agents/\(bound)", ["require_dpop": true]).0 == .ok)
            _ = try await call(client, node, .post, "/admin/agents/\(bound)/review", ["still_needed": true, "scopes_right": true],
                               actor: "carol")

            let (code, inventory) = try await call(client, node, .get, "/admin/reports/inventory")
            #expect(code == .ok)
            let rows = try #require((inventory as? [String: Any])?["rows"] as? [[String: Any]])
            #expect(Set(rows.compactMap { $0["id"] as? String }) == [plain, bound])
            let boundRow = try #require(rows.first { $0["id"] as? String == bound })
            #expect(boundRow["dpop_bound"] as? Bool == true && boundRow["pinned_config"] as? Bool == true)
            #expect(boundRow["last_reviewed_by"] as? String == "admin:carol" && boundRow["active_tokens"] as? Int == 1)

            let (_, figures) = try await call(client, node, .get, "/admin/reports/figures")
            let metrics = Dictionary(uniqueKeysWithValues: ((figures as? [String: Any])?["rows"] as? [[String: Any]] ?? [])
                .map { ($0["metric"] as! String, $0["value"] ?? NSNull()) })
            #expect(metrics["agents"] as? Int == 2)
            #expect(metrics["share_dpop_bound"] as? Double == 0.5 && metrics["share_pinned_config"] as? Double == 0.5)
            #expect(metrics["active_tokens"] as? Int == 2 && metrics["blocked_attempts"] as? Int == 0)

            let csv = try await client.execute(uri: "/admin/reports/inventory?format=csv", method: .get,
                                               headers: node.adminHeaders) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/csv") == true)
                return String(buffer: response.body)
            }
            let lines = csv.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(lines.count == 3 && lines[0].hasPrefix("id,name,owner,"))
            #expect(csv.contains(#""'=HYPERLINK(""http://x"",""a, b"")""#))

            let (reviews, list) = try await call(client, node, .get, "/admin/reports/reviews")
            #expect(reviews == .ok)
            let reviewRows = (list as? [String: Any])?["rows"] as? [[String: Any]]
            #expect(reviewRows?.count == 1 && reviewRows?.first?["reviewer"] as? String == "admin:carol")

            let (maturity, practices) = try await call(client, node, .get, "/admin/reports/maturity")
            #expect(maturity == .ok)
            let levels = Dictionary(uniqueKeysWithValues: ((practices as? [String: Any])?["rows"] as? [[String: Any]] ?? [])
                .map { ($0["practice"] as! String, $0["level"] as! String) })
            #expect(levels["Sender-constrained tokens"] == "partial")
            #expect(levels["Give each agent an identity of its own, separate from its user"] == "met")

            #expect(try await call(client, node, .get, "/admin/reports/nothing").0 == .notFound)
            #expect(try await call(client, node, .get, "/admin/reports/risk?format=xml").0 == .badRequest)
            #expect(try await call(client, node, .get, "/admin/reports/figures?days=0").0 == .badRequest)
        }
    }

    @Test("an automatic suspension decided on an older read never downgrades a kill, nor suspends an agent reviewed meanwhile")
    func decidedOnTheRecordAsWritten() async throws {
        let node = try await node()
        defer { node.remove() }
        try await node.app().test(.router) { client in
            let (id, _) = try await agent(node, client)
            _ = try await node.services.kill(.agent(id), actor: "admin", reason: "incident")
            // What the sweep and offboarding pass: only an agent still active is suspended.
            await #expect(throws: PortcullisError.self) {
                _ = try await node.services.registry.transition(id: id, .suspend, actor: "governance", reason: "overdue",
                                                                unless: { $0.status == .active ? nil : "is \($0.status.rawValue)" })
            }
            #expect(try await status(node, id) == .killed)
            let report = try await node.services.governance.offboard(owner: "alice@example.com", reason: "left", transferTo: nil,
                                                                     actor: "admin")
            #expect(report.agents.first { $0.agent == id }?.action == "already_stopped")
            #expect(try await status(node, id) == .killed)
        }
    }

    @Test("time to response: from an incident's first alert to the response it led to, per incident")
    func timeToResponse() {
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        func alert(_ agent: String, _ seconds: Double, _ response: ResponseAction) -> MonitorAlert {
            MonitorAlert(id: UUID().uuidString, agentID: agent, detector: .burst, score: 10, riskScore: 10, response: response,
                         detail: "", at: t0.addingTimeInterval(seconds))
        }
        let facts = GovernanceReports.Facts(
            now: t0, days: 30, agents: [], events: [:], risks: [:], activeTokens: [:],
            alerts: [alert("a", 0, .alert), alert("b", 5, .alert), alert("a", 40, .readOnly), alert("a", 50, .suspend),
                     // cleared, then a new incident for `a`
                     alert("a", 100, .alert), alert("a", 130, .approveWrites), alert("b", 200, .alert)],
            credentials: [], tools: [], approvers: 0, pendingApprovals: 0, approvalPolicies: 0, policies: 0, auditSize: 0,
            checkpointSize: nil)
        #expect(facts.timesToResponse == [40, 30])
    }

    @Test("CSV fields are quoted by RFC 4180 and formula-like text is neutralised")
    func csvFields() {
        let table = ReportTable(name: "t", generatedAt: Date(), columns: ["a", "b"],
                                rows: [[.text("x,y"), .text("@SUM(1)")], [.int(-3), .text("say \"hi\"\nthere")]])
        #expect(table.csv() == "a,b\r\n\"x,y\",'@SUM(1)\r\n-3,\"say \"\"hi\"\"\nthere\"\r\n")
    }
}
