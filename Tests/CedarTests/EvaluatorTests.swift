@testable import Cedar
import Testing

@Suite("Cedar evaluator")
struct EvaluatorTests {
    static let entities: Entities = {
        let json = """
        [
          {"uid": {"type": "User", "id": "alice"}, "attrs": {"age": 30, "team": {"__entity": {"type": "Team", "id": "t"}},
           "profile": {"nick": "al"}}, "parents": [{"type": "Team", "id": "t"}], "tags": {"level": 3}},
          {"uid": {"type": "Team", "id": "t"}, "attrs": {}, "parents": [{"type": "Org", "id": "o"}]},
          {"uid": {"type": "Org", "id": "o"}, "attrs": {}, "parents": []}
        ]
        """
        return try! EntitiesJSON.parse(json)
    }()

    static func evaluate(_ text: String) throws -> Value {
        let request = Request(principal: EntityUID("User", "alice"), action: EntityUID("Action", "view"),
                              resource: EntityUID("Doc", "d"), context: ["n": .long(7)])
        return try Evaluator(request: request, entities: entities).evaluate(Parser.parseExpression(text))
    }

    @Test("expressions evaluate as the reference does", arguments: [
        ("1 + 2 * 3", Value.long(7)),
        ("principal in Org::\"o\"", .bool(true)),
        ("principal in [Doc::\"x\", Team::\"t\"]", .bool(true)),
        ("User::\"nobody\" in User::\"nobody\"", .bool(true)),
        ("User::\"nobody\" in Org::\"o\"", .bool(false)),
        ("principal has age && principal.age >= 18", .bool(true)),
        ("principal.profile has nick", .bool(true)),
        ("principal has profile.nick", .bool(true)),
        ("principal has profile.missing", .bool(false)),
        ("User::\"nobody\" has age", .bool(false)),
        ("principal.hasTag(\"level\") && principal.getTag(\"level\") == 3", .bool(true)),
        ("\"caf\\u{e9}\" == \"cafe\\u{301}\"", .bool(false)),
        ("[1, 2] == [2, 1, 1]", .bool(true)),
        ("{a: 1, b: 2} == {b: 2, a: 1}", .bool(true)),
        ("1 == \"1\"", .bool(false)),
        ("false && (1 + \"a\")", .bool(false)),
        ("true || principal.nope", .bool(true)),
        ("if context.n > 5 then \"big\" else 1", .string("big")),
        ("[1, 2, 3].containsAll([1, 3]) && [1].containsAny([3, 1]) && [].isEmpty()", .bool(true)),
        ("\"alice@example.com\" like \"*@example.com\"", .bool(true)),
        ("principal is User && !(principal is Team)", .bool(true)),
        ("ip(\"10.0.0.1\").isInRange(ip(\"10.0.0.0/8\"))", .bool(true)),
        ("decimal(\"1.5\").lessThan(decimal(\"2.25\"))", .bool(true)),
        ("datetime(\"2024-01-01\") < datetime(\"2024-01-01T00:00:01Z\")", .bool(true)),
        ("duration(\"1h30m\").toMinutes()", .long(90)),
        ("-9223372036854775807 - 1", .long(Int64.min)),
    ])
    func values(text: String, expected: Value) throws {
        #expect(try Self.evaluate(text) == expected)
    }

    @Test("errors have the reference's categories", arguments: [
        ("9223372036854775807 + 1", EvaluationError.Kind.arithBoundsError),
        ("-(-9223372036854775807 - 1)", .arithBoundsError),
        ("9223372036854775807 * 2", .arithBoundsError),
        ("1 + \"a\"", .typeError),
        ("principal.nope", .attrDoesNotExist),
        ("User::\"nobody\".age", .entityDoesNotExist),
        ("principal.getTag(\"nope\")", .tagDoesNotExist),
        ("User::\"nobody\".getTag(\"x\")", .entityDoesNotExist),
        ("principal in [1]", .typeError),
        ("1 in Org::\"o\"", .typeError),
        ("if 1 then 2 else 3", .typeError),
        ("true && 1", .typeError),
        ("decimal(\"1.23456\")", .extensionError),
        ("ip(\"1.2.3\")", .extensionError),
        ("1 < decimal(\"1.0\")", .typeError),
        ("decimal(\"1.0\") < decimal(\"2.0\")", .typeError),
        ("datetime(\"2024-13-01\")", .extensionError),
        ("datetime(\"1970-01-01\").offset(duration(\"-9223372036854775808ms\")).offset(duration(\"-1ms\"))", .extensionError),
    ])
    func errors(text: String, kind: EvaluationError.Kind) {
        #expect {
            _ = try Self.evaluate(text)
        } throws: { error in
            (error as? EvaluationError)?.kind == kind
        }
    }

    @Test("the entity store computes transitive ancestors and refuses cycles")
    func ancestors() throws {
        let chain = try EntitiesJSON.parse("""
            [{"uid":{"type":"A","id":"1"},"attrs":{},"parents":[{"type":"A","id":"2"}]},
             {"uid":{"type":"A","id":"2"},"attrs":{},"parents":[{"type":"A","id":"3"}]},
             {"uid":{"type":"A","id":"3"},"attrs":{},"parents":[]}]
            """)
        #expect(chain.ancestors(of: EntityUID("A", "1")) == [EntityUID("A", "2"), EntityUID("A", "3")])
        #expect(chain.isDescendant(EntityUID("A", "1"), of: EntityUID("A", "3")))
        #expect(!chain.isDescendant(EntityUID("A", "3"), of: EntityUID("A", "1")))
        #expect {
            _ = try EntitiesJSON.parse("""
                [{"uid":{"type":"A","id":"1"},"attrs":{},"parents":[{"type":"A","id":"2"}]},
                 {"uid":{"type":"A","id":"2"},"attrs":{},"parents":[{"type":"A","id":"1"}]}]
                """)
        } throws: { error in
            (error as? CedarError)?.message.contains("cycle") ?? false
        }
    }

    @Test("an entity listed twice is accepted only when both copies are identical")
    func duplicates() throws {
        let one = #"{"uid":{"type":"A","id":"1"},"attrs":{"n":1},"parents":[]}"#
        let store = try EntitiesJSON.parse("[\(one), \(one)]")
        #expect(store.count == 1)
        let other = #"{"uid":{"type":"A","id":"1"},"attrs":{"n":2},"parents":[]}"#
        #expect(throws: CedarError.self) { _ = try EntitiesJSON.parse("[\(one), \(other)]") }
    }
}
