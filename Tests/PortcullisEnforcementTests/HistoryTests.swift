import Cedar
import Foundation
import PortcullisCore
import PortcullisEnforcement
import PortcullisTesting
import Testing

/// Rules over what the session has already done (issue #16): the three examples of the issue, the history's scope
/// (agent and user, across sessions), and limits that concurrent calls cannot pass together.
@Suite("Rules over the session's history")
struct HistoryTests {
    static let policies = #"""
        @id("everything-else") permit (principal, action, resource);

        @id("at-most-three-refunds")
        @reason("at most three refunds per session")
        forbid (principal, action == Action::"call_tool", resource == Tool::"pay.refund")
        when { context.session.history.counts has "pay.refund" && context.session.history.counts["pay.refund"] >= 3 };

        @id("no-mail-after-confidential-files")
        @reason("no mail after reading a confidential file, unless a person approves")
        @obligation("approval")
        permit (principal, action == Action::"call_tool", resource == Tool::"mail.send_email")
        when { context.session.history.tools.contains("files.read_file") && context.session.dataClasses.contains("confidential") };

        @id("payment-after-invoice")
        @reason("a payment only after the invoice was read")
        forbid (principal, action == Action::"call_tool", resource == Tool::"pay.send_payment")
        when { !context.listing }
        unless { context.session.history.tools.contains("pay.get_invoice") };

        @id("at-most-1000-sent")
        @reason("at most 1000 sent per session")
        forbid (principal, action == Action::"call_tool", resource == Tool::"pay.send_payment")
        when { context.arguments has amount && context.session.history.amountTotal + context.arguments.amount > 1000 };
        """#

    func amount(_ n: Int) -> JSONValue { .object([("amount", .number(String(n)))]) }

    @Test("at most three refunds, for this agent and user in any session; another user has their own count")
    func refunds() async throws {
        let h = try Harness(policies: Self.policies)
        let alice = h.caller(trust: 3, user: "alice")
        for i in 1...3 {
            #expect(await h.run(h.call(testTool("pay.refund"), alice, arguments: amount(10))).refusal == nil, "refund \(i)")
        }
        let fourth = await h.run(h.call(testTool("pay.refund"), alice, arguments: amount(10)))
        #expect(fourth.refusal?.code == .denied && fourth.refusal?.reason.contains("at most three refunds") == true)
        #expect(await h.run(h.call(testTool("pay.refund"), h.caller(trust: 3, user: "bob"), arguments: amount(10))).refusal == nil)
        #expect(h.forwardCount == 4)
        let history = h.pipeline.history.snapshot(agentID: "agt_1", user: "alice", now: h.clock.now)
        #expect(history.counts["pay.refund"] == 3 && history.effects["write"] == 3 && history.amountTotal == 30)
    }

    @Test("four refunds at once: the limit holds, the losers are told to retry")
    func concurrentRefunds() async throws {
        let h = try Harness(policies: Self.policies)
        let alice = h.caller(trust: 3, user: "alice")
        let calls = (0..<6).map { _ in h.call(testTool("pay.refund"), alice, arguments: amount(1)) }
        let outcomes = await withTaskGroup(of: Refusal?.self) { g in
            for c in calls { g.addTask { await h.run(c).refusal } }
            return await g.reduce(into: [Refusal?]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == nil }.count <= 3)
        #expect(h.forwardCount <= 3)
        #expect(outcomes.compactMap { $0 }.allSatisfy { $0.code == .rateLimited || $0.code == .denied })
        #expect(h.pipeline.history.snapshot(agentID: "agt_1", user: "alice", now: h.clock.now).counts["pay.refund"] ?? 0 <= 3)
    }

    @Test("a payment only after the invoice was read, and within the amount sent so far")
    func paymentAfterInvoice() async throws {
        let h = try Harness(policies: Self.policies)
        let c = h.caller(trust: 3, user: "alice")
        let early = await h.run(h.call(testTool("pay.send_payment"), c, arguments: amount(400)))
        #expect(early.refusal?.reason.contains("only after the invoice was read") == true)
        #expect(await h.run(h.call(testTool("pay.get_invoice", effect: .read), c)).refusal == nil)
        #expect(await h.run(h.call(testTool("pay.send_payment"), c, arguments: amount(400))).refusal == nil)
        #expect(await h.run(h.call(testTool("pay.send_payment"), c, arguments: amount(500))).refusal == nil)
        let over = await h.run(h.call(testTool("pay.send_payment"), c, arguments: amount(200)))
        #expect(over.refusal?.reason.contains("at most 1000 sent") == true)
    }

    @Test("no mail after a confidential file was read, unless approved; history ends with taint's lifetime")
    func mailAfterConfidentialFile() async throws {
        let h = try Harness(policies: Self.policies)
        let c = h.caller(trust: 3, user: "alice")
        #expect(await h.run(h.call(testTool("mail.send_email"), c)).refusal == nil)
        var file = testTool("files.read_file", effect: .read)
        file.dataClass = "confidential"
        _ = await h.run(h.call(file, c))
        // A read of a confidential tool leaves its data class on the agent's later calls.
        #expect(h.pipeline.snapshot(SessionSnapshot(), caller: c).dataClasses.contains("confidential"))
        let after = await h.run(h.call(testTool("mail.send_email"), c))
        #expect(after.refusal?.code == .approvalPending)
        h.clock.advance(GatewayConfiguration().effectiveTaintSeconds + 1)
        #expect(h.pipeline.history.snapshot(agentID: "agt_1", user: "alice", now: h.clock.now) == HistorySnapshot())
    }

    @Test("policy test reads a described history")
    func offline() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.policies.write(toFile: dir + "/p.cedar", atomically: true, encoding: .utf8)
        let policies = try PolicyEngine(directory: dir)
        let fourth = try OfflineRequest.parse(#"{"agent": {"trust_level": 3}, "tool": {"name": "pay.refund", "effect": "write"}, "session": {"history": {"counts": {"pay.refund": 3}}}}"#)
        #expect(await fourth.decide(with: policies).determining == ["at-most-three-refunds"])
        let paid = try OfflineRequest.parse(#"{"agent": {"trust_level": 3}, "tool": {"name": "pay.send_payment", "effect": "write"}, "arguments": {"amount": 100}, "session": {"history": {"recent": ["pay.get_invoice"], "amounts": {"pay.send_payment": 800}}}}"#)
        #expect(await paid.decide(with: policies).allowed)
        #expect(throws: GatewayConfigurationError.self) {
            try OfflineRequest.parse(#"{"session": {"history": {"counts": {"x": -1}}}}"#)
        }
    }
}
