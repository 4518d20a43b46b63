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
