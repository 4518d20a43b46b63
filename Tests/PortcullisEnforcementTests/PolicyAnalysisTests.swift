import Cedar
import Foundation
import Testing
@testable import PortcullisEnforcement

/// `portcullis policy analyze` on hand-built cases whose answers are known, with z3 as the solver. CI installs z3
/// and sets PORTCULLIS_REQUIRE_SMT=1, so that a missing solver fails there instead of skipping.
@Suite("Policy analysis with an SMT solver")
struct PolicyAnalysisTests {
    static let solver: String? = SMTSolver.path()
    static var required: Bool { ProcessInfo.processInfo.environment["PORTCULLIS_REQUIRE_SMT"] == "1" }

    func analyze(_ text: String, candidate: String? = nil) throws -> [AnalysisFinding] {
        guard let solver = Self.solver else {
            if Self.required { Issue.record("no SMT solver (z3) found, and PORTCULLIS_REQUIRE_SMT=1") }
            return []
        }
        let set = try PolicySet.parse(text, idsFromAnnotations: true)
        #expect(PortcullisSchema.schema.validate(policies: set).passed, "the case must validate: \(text)")
        let analyzer = PolicyAnalyzer(schema: PortcullisSchema.schema) { try SMTSolver.run(solver, $0) }
        return try analyzer.analyze(set, candidate: try candidate.map { try PolicySet.parse($0, idsFromAnnotations: true) })
    }

    func kinds(_ findings: [AnalysisFinding], _ kind: AnalysisFinding.Kind) -> Set<String> {
        Set(findings.filter { $0.kind == kind }.compactMap(\.policies.first))
    }

    static let call = #"permit (principal, action == Action::"call_tool", resource)"#

    @Test("policies that can never apply are found; ones that can are not", .enabled(if: solver != nil || required))
    func neverApplies() throws {
        let findings = try analyze("""
            @id("contradiction") \(Self.call) when { principal.trustLevel > 5 && principal.trustLevel < 3 };
            @id("two-effects") \(Self.call) when { resource.effect == "read" && resource.effect == "write" };
            @id("like-and-equal") \(Self.call) when { context has user && context.user like "*@a.test" && context.user == "bob@b.test" };
            @id("satisfiable") \(Self.call) when { principal.trustLevel > 5 && resource.effect == "write" };
            @id("team") \(Self.call) when { principal in Team::"payments" && context.session.tainted };
            @id("dates") \(Self.call) when { context.time.now > datetime("2026-01-01") && context.time.now < datetime("2025-01-01") };
            """)
        #expect(kinds(findings, .neverApplies) == ["contradiction", "two-effects", "like-and-equal", "dates"], "\(findings)")
    }

    @Test("a permit every forbid covers is shadowed; a permit a forbid covers in part is not", .enabled(if: solver != nil || required))
    func shadowedPermits() throws {
        let findings = try analyze("""
            @id("writes") \(Self.call) when { resource.effect == "write" };
            @id("trusted") \(Self.call) when { principal.trustLevel >= 3 };
            @id("no-non-reads") forbid (principal, action == Action::"call_tool", resource) when { resource.effect != "read" };
            @id("no-very-trusted") forbid (principal, action == Action::"call_tool", resource) when { principal.trustLevel >= 5 };
            """)
        #expect(kinds(findings, .shadowedPermit) == ["writes"], "\(findings)")
    }

    @Test("arithmetic may overflow, and an erroring policy denies", .enabled(if: solver != nil || required))
    func mayError() throws {
        let findings = try analyze("""
            @id("sum") \(Self.call) when { principal.trustLevel + context.depth > 3 };
            @id("plain") \(Self.call) when { principal.trustLevel > 3 };
            """)
        #expect(kinds(findings, .mayError) == ["sum"], "\(findings)")
    }

    @Test("a candidate that allows more is reported with a request that shows it", .enabled(if: solver != nil || required))
    func morePermissive() throws {
        let current = #"@id("reads") \#(Self.call) when { resource.effect == "read" };"#
        let wider = current + "\n" + #"@id("writes") \#(Self.call) when { resource.effect == "write" && principal.trustLevel >= 3 };"#
        let findings = try analyze(current, candidate: wider)
        let found = findings.filter { $0.kind == .morePermissive }
        #expect(found.count == 1, "\(findings)")
        let example = try #require(found.first?.example)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(example.utf8)) as? [String: Any])
        #expect(json["action"] as? String == #"Action::"call_tool""#)
        let values = try #require(json["values"] as? [String: Any])
        #expect(values["resource.effect"] as? String == "write", "\(example)")
        #expect(((values["principal.trustLevel"] as? NSNumber)?.intValue ?? 0) >= 3, "\(example)")
    }

    @Test("a narrower candidate, and one that says the same differently, are not more permissive", .enabled(if: solver != nil || required))
    func notMorePermissive() throws {
        let current = #"@id("reads") \#(Self.call) when { resource.effect == "read" || resource.effect == "list" };"#
        let narrower = #"@id("reads") \#(Self.call) when { resource.effect == "read" && !context.session.tainted };"#
        let same = #"@id("reads") \#(Self.call) when { ["read", "list"].contains(resource.effect) };"#
        for candidate in [narrower, same] {
            let findings = try analyze(current, candidate: candidate)
            #expect(findings.filter { $0.kind == .morePermissive }.isEmpty, "\(candidate): \(findings)")
        }
    }

    @Test("sending a call to a person instead of denying it is more permissive; the reverse is not", .enabled(if: solver != nil || required))
    func approvals() throws {
        let deny = #"@id("reads") \#(Self.call) when { resource.effect == "read" };"#
        let approve = deny + "\n" + #"@id("destructive") @obligation("approval") \#(Self.call) when { resource.effect == "destructive" };"#
        #expect(try analyze(deny, candidate: approve).contains { $0.kind == .morePermissive })
        #expect(try !analyze(approve, candidate: deny).contains { $0.kind == .morePermissive })
    }

    @Test("the built-in pack has nothing that never applies or is shadowed", .enabled(if: solver != nil || required))
    func builtInPack() throws {
        let findings = try analyze(DefaultPolicies.text)
        #expect(kinds(findings, .neverApplies).isEmpty && kinds(findings, .shadowedPermit).isEmpty, "\(findings)")
    }
}
