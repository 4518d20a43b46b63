@testable import Cedar
import Testing

@Suite("Cedar parser")
struct ParserTests {
    @Test("policy ids are positional and @id annotations are available")
    func positionalIDs() throws {
        let set = try PolicySet(parsing: """
            @id("first") permit(principal, action, resource);
            // a comment
            forbid(principal == User::"bob", action in [Action::"a", Action::"b"], resource is Photo in Album::"x")
              when { true } unless { false };
            """)
        #expect(set.policies.map(\.id) == ["policy0", "policy1"])
        #expect(set.policies[0].annotation("id") == "first")
        #expect(set.policies[1].effect == .forbid)
        #expect(set.policies[1].principal == .equal(EntityUID("User", "bob")))
        #expect(set.policies[1].action == .memberOfAny([EntityUID("Action", "a"), EntityUID("Action", "b")]))
        #expect(set.policies[1].resource == .isTypeMemberOf(EntityType("Photo"), EntityUID("Album", "x")))
        #expect(set.policies[1].conditions.count == 2)
        let named = try PolicySet.parse("@id(\"p\") permit(principal, action, resource);", idsFromAnnotations: true)
        #expect(named.policies[0].id == "p")
    }

    @Test("syntax errors carry line, column and a readable reason", arguments: [
        ("permit(principal, action, resource)\nwhen { 1 + };", "2:12", "expected an expression"),
        ("permit(principal, action, resource) when { 1 % 2 == 1 };", "1:46", "no division or remainder"),
        ("permit(principal, action, resource) when { 1 == 2 == 3 };", "1:51", "multiple relational operators"),
        ("permit(principal, action, resource) when { !!!!!true };", "1:44", "too many `!`"),
        ("permit(principal, action, resource) when { 9223372036854775808 == 0 };", "1:44", "too large"),
        ("permit(principal, action == User::\"a\", resource);", "1:26", "type `Action`"),
        ("permit(principal == ?principal, action, resource);", "1:21", "templates are not supported"),
        ("permit(principal, action, resource) when { foo(1) };", "1:44", "not a known function"),
        ("permit(principal, action, resource) when { principal.bar(1) };", "1:54", "not a known method"),
        ("permit(principal, action, resource) when { principal.if };", "1:54", "reserved word"),
        ("permit(principal, action, resource) when { {a: 1, a: 2} };", "1:51", "duplicate key"),
        ("@a(\"x\") @a(\"y\") permit(principal, action, resource);", "1:9", "duplicate annotation"),
        ("permit(principal, action, resource) when { \"\\q\" };", "1:44", "invalid escape"),
        ("permit(principal, action, resource)", "1:36", "expected `;`"),
        ("allow(principal, action, resource);", "1:1", "invalid policy effect"),
        ("permit(resource, action, principal);", "1:8", "expected `principal`"),
        ("permit(principal, action, resource) when { lessThan(decimal(\"1.0\"), decimal(\"2.0\")) };", "1:44",
         "is a method, not a function"),
        ("permit(principal, action, resource) when { context.x like context.y };", "1:54", "string literal pattern"),
        ("permit(principal, action, resource) when { };", "1:37", "must not be empty"),
        ("permit(principal, action, resource) when { x };", "1:44", "unknown variable"),
    ])
    func syntaxErrors(text: String, position: String, reason: String) {
        #expect {
            _ = try PolicySet(parsing: text)
        } throws: { error in
            guard let e = error as? CedarError else { return false }
            return e.code == .syntax && e.message.hasPrefix(position + ":") && e.message.contains(reason)
        }
    }

    @Test("negative literals reach Int64.min; extra dashes negate")
    func negativeLiterals() throws {
        guard case .literal(.long(let min)) = try Parser.parseExpression("-9223372036854775808") else {
            Issue.record("expected a literal")
            return
        }
        #expect(min == Int64.min)
        guard case .negate(.literal(.long(-5))) = try Parser.parseExpression("--5") else {
            Issue.record("`--5` should be the negation of the literal -5")
            return
        }
    }

    @Test("`has` with a path desugars to a conjunction of `has` tests")
    func nestedHas() throws {
        let e = try Parser.parseExpression("context has a.b")
        guard case .and(.hasAttr(.variable(.context), let a), .hasAttr(.getAttr(.variable(.context), let a2), let b)) = e
        else {
            Issue.record("unexpected shape \(e)")
            return
        }
        #expect(a == "a" && a2 == "a" && b == "b")
    }

    @Test("pattern escapes: `\\*` is a literal star, `*` a wildcard")
    func patterns() throws {
        guard case .like(_, let p) = try Parser.parseExpression(#""a*b" like "a\**""#) else {
            Issue.record("expected like")
            return
        }
        #expect(p.elements == [.scalar("a"), .scalar("*"), .wildcard])
        #expect(p.matches("a*bc"))
        #expect(!p.matches("ab"))
    }
}
