import PortcullisCore
import Testing

@testable import PortcullisIdentity

/// Builds authorization-details entries tersely.
private func detail(_ type: String, _ fields: [String: JSONAny] = [:]) -> JSONAny {
    var object = fields
    object["type"] = .string(type)
    return .object(object)
}

private func strings(_ values: String...) -> JSONAny { .array(values.map { .string($0) }) }

/// One narrowing attempt: what was granted, what is requested.
struct NarrowingCase: Sendable, CustomTestStringConvertible {
    let name: String
    let granted: [JSONAny]?
    let requested: [JSONAny]?

    init(_ name: String, granted: [JSONAny]?, requested: [JSONAny]?) {
        self.name = name
        self.granted = granted
        self.requested = requested
    }

    var testDescription: String { name }
}

@Suite("Delegation: scopes, actor chains, authorization details")
struct DelegationTests {
    @Test(
        "requested scopes narrow within what is available",
        arguments: [
            (nil, ["read", "write"], ["read", "write"]),
            (["read"], ["read", "write"], ["read"]),
            (["write", "read", "write"], ["read", "write"], ["write", "read"]),
            ([], ["read"], []),
        ] as [([String]?, [String], [String])])
    func scopesNarrow(requested: [String]?, available: [String], expected: [String]) throws {
        #expect(try Delegation.narrowScopes(requested: requested, available: available) == expected)
    }

    @Test(
        "widening or malformed scopes are refused with invalid_scope",
        arguments: [
            (["admin"], ["read"]),
            (["read", "admin"], ["read", "write"]),
            (["read"], []),
            (["READ"], ["read"]),
            (["read write"], ["read", "write"]),
            ([""], ["read"]),
            (["re\"ad"], ["re\"ad"]),
        ])
    func scopesWiden(requested: [String], available: [String]) {
        #expect {
            try Delegation.narrowScopes(requested: requested, available: available)
        } throws: { error in
            (error as? OAuthError)?.error == "invalid_scope"
        }
    }

    @Test("the act chain nests the previous actor under the new one")
    func actChain() {
        let first = Delegation.actChain(newActor: "agt_a", previous: nil)
        #expect(first == .object(["sub": .string("agt_a")]))
        let second = Delegation.actChain(newActor: "agt_b", previous: first)
        #expect(second == .object(["sub": .string("agt_b"), "act": .object(["sub": .string("agt_a")])]))
        let third = Delegation.actChain(newActor: "agt_c", previous: second)
        #expect(third["act"]?["act"]?["sub"] == .string("agt_a"))
        #expect(Delegation.depth(of: nil) == 0)
        #expect(Delegation.depth(of: first) == 1)
        #expect(Delegation.depth(of: second) == 2)
        #expect(Delegation.depth(of: third) == 3)
        #expect(Delegation.depth(of: .string("agt_a")) == 0)
    }

    static let payment = detail(
        "payment",
        [
            "recipient": .string("acme-corp"), "max_amount": .string("100.00"), "currency": .string("EUR"),
        ])
    static let email = detail("email", ["recipients": strings("a@example.com", "b@example.com")])
    static let toolCall = detail(
        "tool_call",
        [
            "tools": strings("search", "fetch"),
            "constraints": .object(["max_results": .int(50), "region": .string("eu")]),
        ])
    static let granted = [payment, email, toolCall]

    static let allowed: [NarrowingCase] = [
        NarrowingCase("nothing requested inherits the grant", granted: granted, requested: nil),
        NarrowingCase("the same details", granted: granted, requested: granted),
        NarrowingCase("a subset of entries", granted: granted, requested: [email]),
        NarrowingCase("nothing, explicitly", granted: granted, requested: []),
        NarrowingCase("nothing, explicitly, from nothing", granted: nil, requested: []),
        NarrowingCase(
            "a smaller payment", granted: granted,
            requested: [
                detail(
                    "payment", ["recipient": .string("acme-corp"), "max_amount": .int(20), "currency": .string("EUR")])
            ]),
        NarrowingCase(
            "an equal payment written as a number", granted: granted,
            requested: [
                detail(
                    "payment",
                    ["recipient": .string("acme-corp"), "max_amount": .double(100.0), "currency": .string("EUR")])
            ]),
        NarrowingCase(
            "a recipient chosen where the grant named none",
            granted: [detail("payment", ["max_amount": .int(10), "currency": .string("USD")])],
            requested: [
                detail(
                    "payment",
                    [
                        "recipient": .string("bob"), "max_amount": .string("9.99"),
                        "currency": .string("USD"),
                    ])
            ]),
        NarrowingCase(
            "fewer email recipients", granted: granted,
            requested: [
                detail("email", ["recipients": strings("b@example.com")])
            ]),
        NarrowingCase(
            "recipients chosen where the grant listed none", granted: [detail("email")],
            requested: [
                detail("email", ["recipients": strings("c@example.com")])
            ]),
        NarrowingCase(
            "fewer tools, a lower limit, an extra constraint", granted: granted,
            requested: [
                detail(
                    "tool_call",
                    [
                        "tools": strings("search"),
                        "constraints": .object(["max_results": .int(10), "region": .string("eu"), "safe": .bool(true)]),
                    ])
            ]),
        NarrowingCase(
            "common fields narrowed",
            granted: [detail("email", ["actions": strings("send", "draft"), "locations": strings("https://mail")])],
            requested: [detail("email", ["actions": strings("draft"), "locations": strings("https://mail")])]),
        NarrowingCase(
            "covered by the second of two grants of a type",
            granted: [
                detail("email", ["recipients": strings("a@example.com")]),
                detail("email", ["recipients": strings("z@example.com")]),
            ],
            requested: [detail("email", ["recipients": strings("z@example.com")])]),
    ]

    static let refused: [NarrowingCase] = [
        NarrowingCase("details added where none were delegated", granted: nil, requested: [email]),
        NarrowingCase("a type that was not granted", granted: [email], requested: [payment]),
        NarrowingCase("an unknown type", granted: granted, requested: [detail("wire_transfer")]),
        NarrowingCase("an entry without a type", granted: granted, requested: [.object(["recipients": strings("a")])]),
        NarrowingCase("an entry that is not an object", granted: granted, requested: [.string("payment")]),
        NarrowingCase(
            "a larger payment", granted: granted,
            requested: [
                detail(
                    "payment",
                    ["recipient": .string("acme-corp"), "max_amount": .string("100.01"), "currency": .string("EUR")])
            ]),
        NarrowingCase(
            "a payment with no maximum", granted: granted,
            requested: [
                detail("payment", ["recipient": .string("acme-corp"), "currency": .string("EUR")])
            ]),
        NarrowingCase(
            "another recipient", granted: granted,
            requested: [
                detail("payment", ["recipient": .string("mallory"), "max_amount": .int(1), "currency": .string("EUR")])
            ]),
        NarrowingCase(
            "no recipient where the grant named one", granted: granted,
            requested: [
                detail("payment", ["max_amount": .int(1), "currency": .string("EUR")])
            ]),
        NarrowingCase(
            "another currency", granted: granted,
            requested: [
                detail(
                    "payment", ["recipient": .string("acme-corp"), "max_amount": .int(1), "currency": .string("JPY")])
            ]),
        NarrowingCase(
            "a negative amount", granted: granted,
            requested: [
                detail(
                    "payment", ["recipient": .string("acme-corp"), "max_amount": .int(-5), "currency": .string("EUR")])
            ]),
        NarrowingCase(
            "an amount that is not a number", granted: granted,
            requested: [
                detail(
                    "payment",
                    ["recipient": .string("acme-corp"), "max_amount": .string("1e9"), "currency": .string("EUR")])
            ]),
        NarrowingCase(
            "an extra email recipient", granted: granted,
            requested: [
                detail("email", ["recipients": strings("a@example.com", "mallory@example.com")])
            ]),
        NarrowingCase("email recipients dropped (any recipient)", granted: granted, requested: [detail("email")]),
        NarrowingCase(
            "an extra tool", granted: granted,
            requested: [
                detail(
                    "tool_call",
                    [
                        "tools": strings("search", "shell"),
                        "constraints": .object(["max_results": .int(50), "region": .string("eu")]),
                    ])
            ]),
        NarrowingCase(
            "a higher limit", granted: granted,
            requested: [
                detail(
                    "tool_call",
                    [
                        "tools": strings("search"),
                        "constraints": .object(["max_results": .int(51), "region": .string("eu")]),
                    ])
            ]),
        NarrowingCase(
            "a constraint dropped", granted: granted,
            requested: [
                detail("tool_call", ["tools": strings("search"), "constraints": .object(["max_results": .int(5)])])
            ]),
        NarrowingCase(
            "a constraint changed", granted: granted,
            requested: [
                detail(
                    "tool_call",
                    [
                        "tools": strings("search"),
                        "constraints": .object(["max_results": .int(5), "region": .string("us")]),
                    ])
            ]),
        NarrowingCase(
            "constraints dropped", granted: granted,
            requested: [
                detail("tool_call", ["tools": strings("search")])
            ]),
        NarrowingCase(
            "a common field widened",
            granted: [detail("email", ["actions": strings("draft")])],
            requested: [detail("email", ["actions": strings("draft", "send")])]),
        NarrowingCase(
            "an unknown field added", granted: granted,
            requested: [
                detail("email", ["recipients": strings("a@example.com"), "allow_bcc": .bool(true)])
            ]),
        NarrowingCase(
            "an unknown granted field dropped",
            granted: [detail("email", ["require_approval": .bool(true)])],
            requested: [detail("email")]),
        NarrowingCase(
            "one covered entry and one widening entry", granted: granted,
            requested: [
                email, detail("email", ["recipients": strings("mallory@example.com")]),
            ]),
    ]

    @Test("authorization details that only narrow are accepted", arguments: allowed)
    func narrows(_ attempt: NarrowingCase) throws {
        let result = try Delegation.narrowAuthorizationDetails(requested: attempt.requested, granted: attempt.granted)
        #expect(result == (attempt.requested ?? attempt.granted))
    }

    @Test("authorization details that widen are refused with invalid_authorization_details", arguments: refused)
    func widens(_ attempt: NarrowingCase) {
        #expect {
            try Delegation.narrowAuthorizationDetails(requested: attempt.requested, granted: attempt.granted)
        } throws: { error in
            (error as? OAuthError)?.error == "invalid_authorization_details"
        }
    }

    @Test("the refusal names the entry and the rule it broke")
    func refusalReason() {
        #expect(
            throws: OAuthError.invalidAuthorizationDetails(
                "authorization_details entry 0 (payment) exceeds the grant: max_amount exceeds the granted max_amount")
        ) {
            try Delegation.narrowAuthorizationDetails(
                requested: [
                    detail(
                        "payment",
                        [
                            "recipient": .string("acme-corp"), "max_amount": .int(101),
                            "currency": .string("EUR"),
                        ])
                ],
                granted: Self.granted)
        }
        #expect(
            throws: OAuthError.invalidAuthorizationDetails("authorization_details type wire_transfer is not supported")
        ) {
            try Delegation.narrowAuthorizationDetails(requested: [detail("wire_transfer")], granted: Self.granted)
        }
    }
}
