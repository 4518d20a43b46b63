@testable import Cedar
import Testing

@Suite("Cedar authorizer")
struct AuthorizerTests {
    static let entities = try! EntitiesJSON.parse("""
        [{"uid":{"type":"User","id":"alice"},"attrs":{"level":5},"parents":[{"type":"Team","id":"ops"}]},
         {"uid":{"type":"Team","id":"ops"},"attrs":{},"parents":[]},
         {"uid":{"type":"Action","id":"read"},"attrs":{},"parents":[{"type":"Action","id":"all"}]}]
        """)

    static func decide(_ policies: String, principal: String = "alice", action: String = "read",
                       usesIndex: Bool = true) throws -> Response {
        let set = try PolicySet(parsing: policies)
        let request = Request(principal: EntityUID("User", principal), action: EntityUID("Action", action),
                              resource: EntityUID("Doc", "d"))
        return Authorizer(usesIndex: usesIndex).isAuthorized(request, entities: entities, policies: set)
    }

    @Test("forbid overrides permit; errors are skipped and reported", arguments: [true, false])
    func combination(usesIndex: Bool) throws {
        let policies = """
            permit(principal in Team::"ops", action in Action::"all", resource);
            permit(principal, action, resource) when { principal.level > 3 };
            forbid(principal, action, resource) when { principal.missing };
            permit(principal == User::"bob", action, resource);
            """
        let r = try Self.decide(policies, usesIndex: usesIndex)
        #expect(r.decision == .allow)
        #expect(r.reasons == ["policy0", "policy1"])
        #expect(r.errors.map(\.policyID) == ["policy2"])
        #expect(r.errors[0].error.kind == .attrDoesNotExist)

        let denied = try Self.decide(policies + "\nforbid(principal, action == Action::\"read\", resource);",
                                     usesIndex: usesIndex)
        #expect(denied.decision == .deny)
        #expect(denied.reasons == ["policy4"])
    }

    @Test("default deny with no applicable policy")
    func defaultDeny() throws {
        let r = try Self.decide("permit(principal == User::\"bob\", action, resource);")
        #expect(r.decision == .deny)
        #expect(r.reasons.isEmpty)
        #expect(r.errors.isEmpty)
    }

    @Test("an erroring permit alone denies")
    func erroringPermitDenies() throws {
        let r = try Self.decide("permit(principal, action, resource) when { 1 + \"x\" == 2 };")
        #expect(r.decision == .deny)
        #expect(r.errors.map(\.policyID) == ["policy0"])
    }

    @Test("the index returns the same results as evaluating every policy")
    func indexAgreesWithFullScan() throws {
        var text = ""
        for i in 0..<200 {
            switch i % 6 {
            case 0: text += "permit(principal == User::\"u\(i % 7)\", action, resource);\n"
            case 1: text += "permit(principal in Team::\"ops\", action == Action::\"read\", resource) when { \(i) > 100 };\n"
            case 2: text += "forbid(principal, action in [Action::\"all\", Action::\"x\(i)\"], resource) when { principal.level == \(i % 9) };\n"
            case 3: text += "permit(principal is User, action, resource) when { principal.nope };\n"
            case 4: text += "permit(principal, action, resource is Doc) unless { \(i) < 150 };\n"
            default: text += "permit(principal, action, resource == Doc::\"d\") when { principal.level == \(i % 11) };\n"
            }
        }
        for principal in ["alice", "u0", "u3", "ghost"] {
            for action in ["read", "all", "x2"] {
                let a = try Self.decide(text, principal: principal, action: action, usesIndex: true)
                let b = try Self.decide(text, principal: principal, action: action, usesIndex: false)
                #expect(a.decision == b.decision)
                #expect(a.reasons == b.reasons)
                #expect(a.errors.map(\.policyID) == b.errors.map(\.policyID))
            }
        }
    }
}
