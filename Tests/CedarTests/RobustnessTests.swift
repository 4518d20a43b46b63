@testable import Cedar
import Testing

/// Property-style robustness: mutated inputs must give a value or a clear error, never a crash.
@Suite("Cedar readers on bad input")
struct RobustnessTests {
    /// SplitMix64: a fixed-seed generator so failures reproduce.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let seeds = [
        #"@id("a") permit(principal in Team::"t", action in [Action::"a", Action::"b"], resource is Doc) when { context.ip.isInRange(ip("10.0.0.0/8")) && principal has a.b } unless { resource.tags.contains("x") || -3 * 4 < context.n };"#,
        #"forbid(principal == User::"\u{1F600}", action, resource) when { if context.x like "a\**" then datetime("2024-01-01").offset(duration("1d")) > context.t else decimal("1.5").lessThan(context.d) };"#,
        #"[{"uid":{"type":"A","id":"x"},"attrs":{"n":1,"s":[1,2,{"__extn":{"fn":"ip","arg":"::1"}}],"r":{"__entity":{"type":"A","id":"y"}}},"parents":[{"type":"B","id":"z"}],"tags":{"t":"v"}}]"#,
    ]

    static let alphabet = Array(#"(){}[]<>=!&|+-*.,;:"\ @?_aAz09"#.utf8)

    static func mutate(_ s: String, _ rng: inout SplitMix) -> String {
        var bytes = Array(s.utf8)
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: bytes.remove(at: i)
            case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: i)
            case 2: bytes[i] = alphabet.randomElement(using: &rng)!
            default: bytes.removeSubrange(i..<min(bytes.count, i + Int.random(in: 1...12, using: &rng)))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("20,000 mutated policies and JSON documents parse or fail with a positioned error")
    func mutations() {
        var rng = SplitMix(state: 20_261_123)
        var accepted = 0
        var rejected = 0
        let request = Request(principal: EntityUID("User", "a"), action: EntityUID("Action", "a"),
                              resource: EntityUID("Doc", "d"))
        for i in 0..<20_000 {
            let seed = Self.seeds[i % Self.seeds.count]
            let text = Self.mutate(seed, &rng)
            if seed.hasPrefix("[") {
                do {
                    _ = try EntitiesJSON.parse(text)
                    accepted += 1
                } catch {
                    rejected += 1
                    #expect(!error.message.isEmpty)
                }
            } else {
                do {
                    let set = try PolicySet(parsing: text)
                    _ = Authorizer(usesIndex: false).isAuthorized(request, entities: Entities(), policies: set)
                    accepted += 1
                } catch {
                    rejected += 1
                    let positioned = error.message.split(separator: ":").prefix(2).allSatisfy { Int($0) != nil }
                    #expect(positioned, "syntax error without line:column: \(error.message)")
                }
            }
        }
        // Both outcomes must occur, or the mutation is not exercising the readers.
        #expect(accepted > 500)
        #expect(rejected > 5_000)
    }

    @Test("deeply nested input is refused, not a stack overflow")
    func deepNesting() {
        let json = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: CedarError.self) { _ = try JSONValue.parse(json) }
        let parens = "permit(principal, action, resource) when { " + String(repeating: "(", count: 100_000) + "true"
            + String(repeating: ")", count: 100_000) + " };"
        #expect(throws: CedarError.self) { _ = try PolicySet(parsing: parens) }
        let chain = "permit(principal, action, resource) when { 1" + String(repeating: " + 1", count: 100_000) + " > 0 };"
        #expect(throws: CedarError.self) { _ = try PolicySet(parsing: chain) }
        let fine = "permit(principal, action, resource) when { " + String(repeating: "(", count: 150) + "true"
            + String(repeating: ")", count: 150) + " };"
        #expect(throws: Never.self) { _ = try PolicySet(parsing: fine) }
    }
}

/// The validator, the SMT encoder and the reader of solver answers on mutated input: a result or a clear error,
/// never a crash.
@Suite("Validation and analysis on mutated input")
struct AnalysisRobustnessTests {
    static let schema = """
        entity Team; entity User in [Team] { level: Long, name: String, tags?: Set<String>, boss?: User, when: datetime };
        entity Doc { owner: User, size: Long } tags String;
        action view, edit appliesTo { principal: [User], resource: [Doc], context: { n: Long, ip?: ipaddr, s: String } };
        @additionalAttributes type Open = {};
        action call appliesTo { principal: [User], resource: [Doc], context: { args: Open } };
        """

    static let policies = [
        #"permit(principal in Team::"t", action in [Action::"view", Action::"edit"], resource) when { principal.level > context.n && principal has tags && principal.tags.contains("a") && resource.owner == principal };"#,
        #"forbid(principal, action == Action::"call", resource) when { context.args has x && context.args.x like "*a" || resource.hasTag("k") && resource.getTag("k") == "v" };"#,
        #"permit(principal is User, action, resource) when { if principal has boss then principal.boss.level + 1 > 3 else principal.when < datetime("2026-01-01") };"#,
    ]

    @Test("5,000 mutated policies validate or are refused with a reason, and encode or are reported unsupported")
    func mutatedPolicies() throws {
        let schema = try Schema(parsing: Self.schema)
        var rng = RobustnessTests.SplitMix(state: 20_261_207)
        var parsed = 0, valid = 0, encoded = 0
        for i in 0..<5_000 {
            let text = RobustnessTests.mutate(Self.policies[i % Self.policies.count], &rng)
            guard let set = try? PolicySet(parsing: text) else { continue }
            parsed += 1
            let result = schema.validate(policies: set)
            for issue in result.errors { #expect(!issue.message.isEmpty) }
            guard result.passed else { continue }
            valid += 1
            let checker = Typechecker(schema: schema)
            for policy in set.policies {
                for env in checker.environments(for: policy) {
                    var encoder = SymbolicEncoder(schema: schema, env: env)
                    if let formula = try? encoder.boolean(checker.substitute(policy.expression, env.action)) {
                        #expect(!formula.isEmpty)
                        encoded += 1
                    }
                }
            }
        }
        let counts = "parsed \(parsed), valid \(valid), encoded \(encoded)"
        #expect(parsed > 150, "\(counts)")
        #expect(valid > 50, "\(counts)")
        #expect(encoded > 50, "\(counts)")
    }

    @Test("5,000 mutated solver answers read as values or nothing")
    func mutatedAnswers() {
        let answer = #"((|principal.id| "a""b") (|principal.level| (- 3)) (|x| true) (|s| "\u{e9}"))"#
        let good = PolicyAnalyzer.values(answer)
        #expect(good.map(\.0) == ["|principal.id|", "|principal.level|", "|x|", "|s|"])
        #expect(good.map(\.1) == [#""a\"b""#, "-3", "true", #""\\u{e9}""#])
        var rng = RobustnessTests.SplitMix(state: 7)
        var some = 0
        for _ in 0..<5_000 {
            let values = PolicyAnalyzer.values(RobustnessTests.mutate(answer, &rng))
            if !values.isEmpty { some += 1 }
        }
        #expect(some > 100)
    }
}
