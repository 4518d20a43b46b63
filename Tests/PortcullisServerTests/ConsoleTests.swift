import Cedar
import Foundation
import PortcullisCore
import Testing
@testable import PortcullisServer

@Suite("Console: sign-in codes, sessions and the Cedar rules for people")
struct ConsoleTests {
    let state = ConsoleState(signingKeyJWK: #"{"kty":"EC","d":"test"}"#, issuer: "http://127.0.0.1:8640")

    func code(_ link: String) -> String { String(link.split(separator: "code=")[1]) }

    @Test("a sign-in code reads back; a tampered, foreign or expired one does not")
    func codes() throws {
        let now = Date()
        let good = code(try state.signInLink(name: "ada", role: .administrator, now: now))
        let read = try #require(state.readCode(good, now: now))
        #expect(read.name == "ada" && read.role == .administrator && read.expires > now)
        // Another node key, a changed payload, a changed MAC, expiry, garbage.
        let other = ConsoleState(signingKeyJWK: #"{"kty":"EC","d":"other"}"#, issuer: "http://127.0.0.1:8640")
        #expect(other.readCode(good, now: now) == nil)
        let parts = good.split(separator: ".").map(String.init)
        let forgedPayload = Base64URL.encode(Data(#"{"e":9999999999,"j":"x","n":"ada","r":"administrator"}"#.utf8))
        #expect(state.readCode(forgedPayload + "." + parts[1], now: now) == nil)
        #expect(state.readCode(parts[0] + "." + String(parts[1].reversed()), now: now) == nil)
        #expect(state.readCode(good, now: now.addingTimeInterval(16 * 60)) == nil)
        for junk in ["", ".", "a.b.c", "!!!.???", good + "x"] { #expect(state.readCode(junk, now: now) == nil, "\(junk)") }
    }

    @Test("sessions end when idle, at their absolute limit, on sign-out and when the person goes")
    func sessions() {
        let t0 = Date()
        let s = state.open(name: "ada", role: .administrator, now: t0)
        #expect(state.session(s.id, now: t0.addingTimeInterval(60))?.name == "ada")
        #expect(state.session(s.id, now: t0.addingTimeInterval(60 + 31 * 60)) == nil)
        var busy = state.open(name: "bob", role: .approver, now: t0)
        for minute in stride(from: 20, through: 12 * 60, by: 20) {
            if state.session(busy.id, now: t0.addingTimeInterval(Double(minute) * 60)) == nil { busy.name = "ended at \(minute)"; break }
        }
        #expect(busy.name == "ended at 720")
        let c = state.open(name: "cy", role: .approver, now: t0)
        state.closeAll(name: "cy")
        #expect(state.session(c.id, now: t0) == nil)
        #expect(state.session("no-such-session", now: t0) == nil)
    }

    @Test("Cedar decides: administrators everything, approvers only approvals")
    func roles() {
        let admin = state.open(name: "ada", role: .administrator)
        let approver = state.open(name: "bob", role: .approver)
        for action in ConsoleState.Action.allCases {
            #expect(state.authorize(admin, action, resource: EntityUID("Console", "x")).allowed, "\(action)")
            let approverMay = action == .viewApprovals || action == .decideApproval
            let decision = state.authorize(approver, action, resource: EntityUID("Console", "x"))
            #expect(decision.allowed == approverMay, "\(action)")
            if !approverMay { #expect(decision.reason.contains("no policy permits an approver to \(action.rawValue)")) }
        }
    }

    @Test("the console's policies validate against its schema, name every action, and are the ones docs/console.md shows")
    func policiesAndDocs() throws {
        let schema = try Schema(parsing: ConsoleState.schemaText)
        let result = schema.validate(policies: state.policies)
        #expect(result.errors.isEmpty && result.warnings.isEmpty, "\(result.errors) \(result.warnings)")
        for action in ConsoleState.Action.allCases {
            #expect(ConsoleState.schemaText.contains(action.rawValue), "\(action) is not in the schema")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/console.md"), encoding: .utf8)
        let block = try #require(doc.firstMatch(of: /```cedar console\n([\s\S]*?)```/)).1
        let shown = try PolicySet.parse(String(block), idsFromAnnotations: true)
        #expect(schema.validate(policies: shown).passed)
        func normalized(_ text: String) -> String {
            text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("@reason") }
                .joined(separator: " ")
        }
        #expect(normalized(String(block)) == normalized(ConsoleState.policyText))
    }
}
