/// What ``PolicyAnalyzer`` found.
public struct AnalysisFinding: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The policy applies to no request the schema allows.
        case neverApplies
        /// A permit that applies only where some forbid applies too: it never allows anything.
        case shadowedPermit
        /// The policy can fail at run time (arithmetic overflow, an extension function out of range, an attribute of
        /// undeclared type), and an erroring policy denies the call.
        case mayError
        /// The candidate set allows (or sends to a person) a request the current set does not: `example` is one.
        case morePermissive
        /// The question could not be answered for this policy (a construct the encoding does not cover, or the
        /// solver gave up).
        case unknown
    }

    public let kind: Kind
    public let policies: [String]
    public let message: String
    /// A request that shows it (`morePermissive`): principal, action, resource and the values the policies read.
    public let example: String?
    /// Whether the answer rests on an over-approximation (free entity hierarchy, free IP tests): an example to
    /// check, not a proof.
    public let approximate: Bool

    public var description: String {
        var s = "\(kind.rawValue) [\(policies.joined(separator: ", "))]: \(message)"
        if approximate { s += " (approximate)" }
        if let example { s += "\n  example: \(example)" }
        return s
    }
}

/// Policy analysis by an SMT solver: policies that never apply, permits shadowed by forbids, policies that may error,
/// and whether a candidate set is more permissive than the current one (with an example request).
///
/// The queries are SMT-LIB text (``SymbolicEncoder``); `solver` runs them (a process such as `z3 -in`, never on the
/// hot path) and returns its output. Each query prints a marker line, then `sat`, `unsat` or `unknown`, then the
/// values asked for.
public struct PolicyAnalyzer {
    public typealias Solver = (_ script: String) throws -> String

    public let schema: Schema
    let solver: Solver

    public init(schema: Schema, solver: @escaping Solver) {
        self.schema = schema
        self.solver = solver
    }

    struct Query {
        let id: Int
        let script: String
        /// Constants whose values make the example.
        let values: [String]
    }

    struct Answer {
        let verdict: String
        let values: [(String, String)]
    }

    /// Runs queries in one solver process (each between `push` and `pop`).
    func run(_ queries: [Query]) throws -> [Int: Answer] {
        guard !queries.isEmpty else { return [:] }
        var script = "(set-option :produce-models true)\n"
        for q in queries {
            script += "(push)\n\(q.script)\n(echo \"@@\(q.id)\")\n(check-sat)\n"
            if !q.values.isEmpty { script += "(get-value (\(q.values.joined(separator: " "))))\n" }
            script += "(pop)\n"
        }
        let output = try solver(script)
        var answers: [Int: Answer] = [:]
        var current: Int?
        var verdict = ""
        var rest = ""
        func flush() {
            if let current { answers[current] = Answer(verdict: verdict, values: Self.values(rest)) }
        }
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            let text = String(line).unicodeScalars.filter { !$0.properties.isWhitespace }.map(String.init).joined()
            if text.hasPrefix("@@"), let n = Int(text.dropFirst(2)) {
                flush()
                current = n
                verdict = ""
                rest = ""
            } else if verdict.isEmpty, ["sat", "unsat", "unknown"].contains(text) {
                verdict = text
            } else {
                rest += line + "\n"
            }
        }
        flush()
        return answers
    }

    /// The `(name value)` pairs of a `get-value` answer.
    static func values(_ text: String) -> [(String, String)] {
        var out: [(String, String)] = []
        var scanner = SExpression.Reader(Array(text.unicodeScalars))
        guard let list = scanner.read(), case .list(let pairs) = list else { return out }
        for pair in pairs {
            guard case .list(let items) = pair, items.count == 2, case .atom(let name) = items[0] else { continue }
            out.append((name, items[1].rendered))
        }
        return out
    }

    // MARK: - The analyses

    /// Analyses a policy set, and compares a candidate with it when given.
    public func analyze(_ policies: PolicySet, candidate: PolicySet? = nil) throws -> [AnalysisFinding] {
        let checker = Typechecker(schema: schema)
        let scopes = Scopes(policies, checker)
        var findings: [AnalysisFinding] = []
        var queries: [Query] = []
        var never = Set<String>()

        // Never applies, and may error.
        var perPolicy: [String: [Int]] = [:]
        var unsupported: [String: String] = [:]
        for policy in policies.policies {
            var errors = false
            for env in scopes.environments(policy) {
                var encoder = SymbolicEncoder(schema: schema, env: env)
                do {
                    let applies = try encoder.boolean(checker.substitute(policy.expression, env.action))
                    errors = errors || encoder.mayError
                    let id = queries.count
                    queries.append(Query(id: id, script: encoder.preamble + "\n(assert \(applies))", values: []))
                    perPolicy[policy.id, default: []].append(id)
                } catch {
                    unsupported[policy.id] = error.message
                    if error.message.contains("undeclared") { errors = true }
                }
            }
            if errors {
                findings.append(AnalysisFinding(kind: .mayError, policies: [policy.id], message:
                    "it does arithmetic, calls a function that can fail, or reads an attribute of undeclared type: "
                        + "an error at run time denies the call", example: nil, approximate: false))
            }
        }
        let answers = try run(queries)
        for policy in policies.policies {
            if let reason = unsupported[policy.id] {
                findings.append(AnalysisFinding(kind: .unknown, policies: [policy.id], message: "not analysed: \(reason)",
                                                example: nil, approximate: false))
                continue
            }
            let ids = perPolicy[policy.id] ?? []
            if ids.allSatisfy({ answers[$0]?.verdict == "unsat" }) {
                never.insert(policy.id)
                findings.append(AnalysisFinding(kind: .neverApplies, policies: [policy.id],
                                                message: "no request the schema allows satisfies it", example: nil, approximate: false))
            }
        }

        // Permits shadowed by forbids.
        let forbids = policies.policies.filter { $0.effect == .forbid }
        var shadowQueries: [Query] = []
        var shadowOf: [Int: String] = [:]
        for permit in policies.policies where permit.effect == .permit && !never.contains(permit.id) && unsupported[permit.id] == nil {
            for env in scopes.environments(permit) {
                var encoder = SymbolicEncoder(schema: schema, env: env)
                guard let applies = try? encoder.boolean(checker.substitute(permit.expression, env.action)) else { continue }
                let denied = forbids.map { scopes.applies($0, env, &encoder, tag: "current") }
                let id = shadowQueries.count
                let blocked = denied.isEmpty ? "false" : "(or \(denied.joined(separator: " ")))"
                shadowQueries.append(Query(id: id, script: encoder.preamble + "\n(assert (and \(applies) (not \(blocked))))", values: []))
                shadowOf[id] = permit.id
            }
        }
        let shadowAnswers = try run(shadowQueries)
        var shadowedBy: [String: Bool] = [:]
        for (id, permit) in shadowOf {
            shadowedBy[permit] = (shadowedBy[permit] ?? true) && shadowAnswers[id]?.verdict == "unsat"
        }
        for permit in policies.policies where shadowedBy[permit.id] == true {
            findings.append(AnalysisFinding(kind: .shadowedPermit, policies: [permit.id] + forbids.map(\.id),
                                            message: "wherever it applies, a forbid applies too: it never allows anything",
                                            example: nil, approximate: false))
        }

        // A candidate more permissive than the current set.
        if let candidate {
            findings += try morePermissive(current: policies, candidate: candidate)
        }
        return findings
    }

    /// A JSON string literal.
    static func json(_ s: String) -> String { JSONValue.string(s).serialized }

    /// The request types each policy's scope allows, computed once per set.
    struct Scopes {
        let checker: Typechecker
        let table: [String: [Typechecker.Environment]]

        init(_ set: PolicySet, _ checker: Typechecker) {
            self.checker = checker
            table = Dictionary(set.policies.map { ($0.id, checker.environments(for: $0)) }, uniquingKeysWith: { a, _ in a })
        }

        func environments(_ p: Policy) -> [Typechecker.Environment] { table[p.id] ?? [] }

        /// The formula of `p` in `env`: false when its scope excludes the request type, a free boolean (named
        /// after `tag`, the set it belongs to) when it cannot be encoded.
        func applies(_ p: Policy, _ env: Typechecker.Environment, _ encoder: inout SymbolicEncoder, tag: String) -> String {
            guard environments(p).contains(where: { $0.action == env.action && $0.principal == env.principal
                && $0.resource == env.resource }) else { return "false" }
            if let formula = try? encoder.boolean(checker.substitute(p.expression, env.action)) { return formula }
            return encoder.free("unsupported:\(tag):\(p.id)")
        }
    }

    /// 0 deny, 1 pending (allowed once a person approves), 2 allow: as the gateway enforces a set.
    func rank(_ set: PolicySet, _ scopes: Scopes, tag: String, _ encoder: inout SymbolicEncoder, _ env: Typechecker.Environment)
        -> String
    {
        var permits: [String] = [], forbids: [String] = [], approvals: [String] = []
        for p in set.policies {
            let term = scopes.applies(p, env, &encoder, tag: tag)
            if p.effect == .forbid {
                forbids.append(term)
            } else {
                permits.append(term)
                if p.annotation("obligation") == "approval" { approvals.append(term) }
            }
        }
        func any(_ terms: [String]) -> String { terms.isEmpty ? "false" : "(or \(terms.joined(separator: " ")))" }
        let allowed = "(and \(any(permits)) (not \(any(forbids))))"
        return "(ite (not \(allowed)) 0 (ite \(any(approvals)) 1 2))"
    }

    func morePermissive(current: PolicySet, candidate: PolicySet) throws -> [AnalysisFinding] {
        let checker = Typechecker(schema: schema)
        let (currentScopes, candidateScopes) = (Scopes(current, checker), Scopes(candidate, checker))
        var queries: [Query] = []
        var context: [Int: (Typechecker.Environment, Bool)] = [:]
        for env in schema.requestEnvironments {
            var encoder = SymbolicEncoder(schema: schema, env: env)
            let before = rank(current, currentScopes, tag: "current", &encoder, env)
            let after = rank(candidate, candidateScopes, tag: "candidate", &encoder, env)
            let id = queries.count
            let values = encoder.order.filter { encoder.declarations[$0].map { !$0.hasPrefix("(Array") } ?? false }
            queries.append(Query(id: id, script: encoder.preamble + "\n(assert (> \(after) \(before)))", values: values))
            context[id] = (env, encoder.approximate)
        }
        let answers = try run(queries)
        var findings: [AnalysisFinding] = []
        for id in answers.keys.sorted() {
            guard let answer = answers[id], let (env, approximate) = context[id] else { continue }
            switch answer.verdict {
            case "sat":
                let values = answer.values.map { name, value in
                    "\(Self.json(name.filter { $0 != "|" })): \(value)"
                }
                let example = "{\"principal\": \(Self.json("\(env.principal)")), \"action\": \(Self.json("\(env.action)")), "
                    + "\"resource\": \(Self.json("\(env.resource)")), \"values\": {\(values.joined(separator: ", "))}}"
                findings.append(AnalysisFinding(kind: .morePermissive, policies: [],
                                                message: "the candidate allows more for \(env.action) on `\(env.resource)`",
                                                example: example, approximate: approximate))
            case "unsat":
                continue
            default:
                findings.append(AnalysisFinding(kind: .unknown, policies: [], message: "the solver could not compare the sets "
                    + "for \(env.action) on `\(env.resource)`", example: nil, approximate: false))
            }
        }
        return findings
    }
}

/// Just enough of S-expressions to read a solver's `get-value` answer.
enum SExpression {
    case atom(String)
    case list([SExpression])

    var rendered: String {
        switch self {
        case .atom(let a):
            if a.hasPrefix("\"") {
                // An SMT string literal: `""` is a quote; rendered as a JSON string.
                let inner = String(a.dropFirst().dropLast()).replacing("\"\"", with: "\"")
                return "\"" + inner.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
            }
            return a
        case .list(let items):
            if items.count == 2, case .atom("-") = items[0], case .atom(let n) = items[1] { return "-" + n }
            let inner: String = items.map(\.rendered).joined(separator: " ")
            let quoted: String = inner.replacing("\"", with: "'")
            return "\"(" + quoted + ")\""
        }
    }

    struct Reader {
        let text: [Unicode.Scalar]
        var i = 0

        init(_ text: [Unicode.Scalar]) { self.text = text }

        mutating func skip() { while i < text.count, text[i].properties.isWhitespace { i += 1 } }

        mutating func read() -> SExpression? {
            skip()
            guard i < text.count else { return nil }
            if text[i] == "(" {
                i += 1
                var items: [SExpression] = []
                while true {
                    skip()
                    guard i < text.count else { return nil }
                    if text[i] == ")" {
                        i += 1
                        return .list(items)
                    }
                    guard let item = read() else { return nil }
                    items.append(item)
                }
            }
            var atom = ""
            if text[i] == "\"" {
                atom.unicodeScalars.append(text[i])
                i += 1
                while i < text.count {
                    atom.unicodeScalars.append(text[i])
                    if text[i] == "\"" {
                        if i + 1 < text.count, text[i + 1] == "\"" {
                            atom.unicodeScalars.append(text[i + 1])
                            i += 2
                            continue
                        }
                        i += 1
                        return .atom(atom)
                    }
                    i += 1
                }
                return .atom(atom)
            }
            if text[i] == "|" {
                atom.unicodeScalars.append(text[i])
                i += 1
                while i < text.count, text[i] != "|" {
                    atom.unicodeScalars.append(text[i])
                    i += 1
                }
                if i < text.count { atom.unicodeScalars.append(text[i]); i += 1 }
                return .atom(atom)
            }
            while i < text.count, !text[i].properties.isWhitespace, text[i] != "(", text[i] != ")" {
                atom.unicodeScalars.append(text[i])
                i += 1
            }
            return .atom(atom)
        }
    }
}
