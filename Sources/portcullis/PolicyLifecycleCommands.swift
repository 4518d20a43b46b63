import ArgumentParser
import Cedar
import Foundation
import PortcullisCore
import PortcullisEnforcement

/// Reads the decision entries of the audit log through the admin API, oldest first, page by page.
func decisionEntries(_ admin: AdminOptions, since: String?, until: String?) async throws -> [[String: Any]] {
    var out: [[String: Any]] = []
    var from = 0
    while true {
        var items = [URLQueryItem(name: "kind", value: "decision"), URLQueryItem(name: "order", value: "asc"),
                     URLQueryItem(name: "from", value: String(from)), URLQueryItem(name: "limit", value: "10000")]
        if let since { items.append(URLQueryItem(name: "since", value: since)) }
        if let until { items.append(URLQueryItem(name: "until", value: until)) }
        let page = try await admin.call("GET", AuditCommand.path("/admin/audit/entries", items)) as? [[String: Any]] ?? []
        out += page
        guard page.count == 10_000, let last = (page.last?["index"] as? NSNumber)?.intValue else { return out }
        from = last + 1
    }
}

/// One call whose decision a candidate set would change.
struct Flip {
    let index: Int
    let time: String
    let agent: String
    let resource: String
    let recorded: String
    let would: String
    /// The policies that made the difference: those determining (or erroring in) the candidate's decision that did
    /// not determine the recorded one.
    let policies: [String]

    var object: [String: Any] {
        ["index": index, "time": time, "agent": agent, "resource": resource, "recorded": recorded, "would": would,
         "policies": policies]
    }

    init(entry: [String: Any], recorded: String, would: String, policies: [String]) {
        let e = entry["event"] as? [String: Any] ?? [:]
        index = (entry["index"] as? NSNumber)?.intValue ?? -1
        let ns = (e["time_ns"] as? NSNumber)?.int64Value ?? 0
        time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ns) / 1e9))
        agent = (e["agent"] as? [String: Any])?["id"] as? String ?? "-"
        resource = e["resource"] as? String ?? "-"
        self.recorded = recorded
        self.would = would
        self.policies = policies
    }
}

/// Prints flips grouped by policy (a flip with several policies is listed under each).
func printFlips(_ flips: [Flip], summary: [String: Any], json: Bool) throws {
    var groups: [String: [Flip]] = [:]
    for f in flips {
        for p in f.policies.isEmpty ? ["(no policy of the candidate applies)"] : f.policies { groups[p, default: []].append(f) }
    }
    if json {
        var object = summary
        object["flipped"] = flips.map(\.object)
        object["by_policy"] = groups.mapValues { $0.map(\.index) }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
        return
    }
    print(summary.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
    for (policy, list) in groups.sorted(by: { $0.value.count > $1.value.count || ($0.value.count == $1.value.count && $0.key < $1.key) }) {
        print("\n\(policy): \(list.count) call(s) would flip")
        for f in list { print("  #\(f.index) \(f.time) \(f.agent) \(f.resource): \(f.recorded) → \(f.would)") }
    }
}

extension PolicyCommand {
    struct ShadowReport: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "shadow-report",
            abstract: "List the calls whose decision the shadow policies would flip, grouped by policy.",
            discussion: """
                Policies annotated @mode("shadow") are evaluated beside the policies in force on every call and never
                change a decision; each decision entry of the audit log records what the policies in force and the
                shadow ones together would have decided (docs/policy-lifecycle.md). This reads those entries.
                """)
        @Option(help: "From this time (RFC 3339 or Unix nanoseconds), inclusive.") var since: String?
        @Option(help: "Until this time (RFC 3339 or Unix nanoseconds), exclusive.") var until: String?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let entries = try await decisionEntries(admin, since: since, until: until)
            var evaluated = 0
            var flips: [Flip] = []
            for entry in entries {
                let e = entry["event"] as? [String: Any] ?? [:]
                guard let shadow = e["shadow"] as? [String: Any] else { continue }
                evaluated += 1
                guard shadow["flipped"] as? Bool == true else { continue }
                let recorded = (e["decision_input"] as? [String: Any])?["decision"] as? String ?? e["decision"] as? String ?? "-"
                let enforced = Set(e["determining_policies"] as? [String] ?? [])
                let candidate = (shadow["determining_policies"] as? [String] ?? []) + (shadow["erroring_policies"] as? [String] ?? [])
                flips.append(Flip(entry: entry, recorded: recorded, would: shadow["decision"] as? String ?? "-",
                                  policies: candidate.filter { !enforced.contains($0) }))
            }
            try printFlips(flips, summary: ["decisions": entries.count, "with_shadow_policies": evaluated, "would_flip": flips.count],
                           json: admin.json)
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide recorded calls again against a candidate policy directory, offline; list what would flip.",
            discussion: """
                Each decision entry of the audit log keeps the Cedar request and entities it was decided on, and the
                policies' verdict (allow, deny or pending). Replay validates the candidate directory as a load would,
                decides every recorded request again with its policies in force, and lists the calls whose verdict
                differs, grouped by policy. Arguments are in the recorded requests only when the server keeps them
                (`auditArguments`, after DLP redaction); otherwise `context.arguments` is empty in the replay, and the
                summary counts those calls. Exit status: 0 when nothing flips, 1 otherwise.
                """)
        @Option(help: "The candidate policy directory.") var policies: String
        @Option(help: "From this time (RFC 3339 or Unix nanoseconds), inclusive.") var since: String?
        @Option(help: "Until this time (RFC 3339 or Unix nanoseconds), exclusive.") var until: String?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let candidate: PolicyEngine.Snapshot
            do {
                candidate = try PolicyEngine.load(policies)
            } catch {
                throw ValidationError(error.description)
            }
            let entries = try await decisionEntries(admin, since: since, until: until)
            let authorizer = Authorizer()
            var replayed = 0, withoutInput = 0, unreadable = 0, withheld = 0
            var flips: [Flip] = []
            for entry in entries {
                let e = entry["event"] as? [String: Any] ?? [:]
                guard let input = e["decision_input"] as? [String: Any], let recorded = input["decision"] as? String else {
                    withoutInput += 1
                    continue
                }
                let request: Request
                let entities: Entities
                do {
                    let json = try JSONValue.parse(bytes: Array(try JSONSerialization.data(withJSONObject: input)))
                    request = try RequestJSON.request(from: json["request"] ?? .null, validate: false)
                    entities = try EntitiesJSON.parse(json: json["entities"] ?? .array([]))
                } catch {
                    unreadable += 1
                    continue
                }
                replayed += 1
                if input["arguments"] as? String == "withheld" { withheld += 1 }
                let decision = GatewayDecision(authorizer.isAuthorized(request, entities: entities, policies: candidate.policies),
                                               snapshot: candidate)
                let would = decision.verdict.rawValue
                guard would != recorded else { continue }
                let before = Set(e["determining_policies"] as? [String] ?? [])
                flips.append(Flip(entry: entry, recorded: recorded, would: would,
                                  policies: (decision.determining + decision.erroring).filter { !before.contains($0) }))
            }
            try printFlips(flips, summary: ["decisions": entries.count, "replayed": replayed, "without_recorded_input": withoutInput,
                                            "unreadable_input": unreadable, "arguments_withheld": withheld, "would_flip": flips.count,
                                            "candidate": policies, "candidate_warnings": candidate.warnings],
                           json: admin.json)
            if !flips.isEmpty { throw ExitCode(1) }
        }
    }
}

extension PolicyCommand {
    struct Analyze: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find policies that never apply, permits shadowed by forbids, policies that may error, and whether a candidate set allows more.",
            discussion: """
                Runs an SMT solver (z3: `apt-get install z3`, or the binary in $PORTCULLIS_SMT_SOLVER) as a separate
                process, on the policies validated against Portcullis's schema (docs/policy-lifecycle.md). With
                --candidate, reports each request type for which the candidate allows (or sends to a person) a request
                the current set denies, with an example request. Exit status: 0 when nothing is reported, 1 otherwise,
                2 when no solver can be run.
                """)
        @Argument(help: "A directory of .cedar files (default: the built-in pack).") var directory: String?
        @Option(help: "A candidate policy directory to compare with.") var candidate: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard let solver = SMTSolver.path() else {
                FileHandle.standardError.write(Data("portcullis: policy analyze needs an SMT solver: install z3 (`apt-get install z3`) or set PORTCULLIS_SMT_SOLVER to one\n".utf8))
                throw ExitCode(2)
            }
            let current: PolicyEngine.Snapshot
            let other: PolicyEngine.Snapshot?
            do {
                current = try PolicyEngine.load(directory)
                other = try candidate.map { try PolicyEngine.load($0) }
            } catch {
                throw ValidationError("\(error)")
            }
            let analyzer = PolicyAnalyzer(schema: PortcullisSchema.schema) { script in try SMTSolver.run(solver, script) }
            let findings = try analyzer.analyze(current.candidate ?? current.policies, candidate: other.map { $0.candidate ?? $0.policies })
            if json {
                let list: [[String: Any]] = findings.map {
                    var o: [String: Any] = ["kind": $0.kind.rawValue, "policies": $0.policies, "message": $0.message, "approximate": $0.approximate]
                    if let e = $0.example { o["example"] = (try? JSONSerialization.jsonObject(with: Data(e.utf8))) ?? e }
                    return o
                }
                let data = try JSONSerialization.data(withJSONObject: ["findings": list, "solver": solver], options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                for f in findings { print(f) }
                if findings.isEmpty { print("nothing to report") }
            }
            if !findings.isEmpty { throw ExitCode(1) }
        }
    }
}
