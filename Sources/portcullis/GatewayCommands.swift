import ArgumentParser
import Cedar
import Foundation
import PortcullisGateway
import PortcullisEnforcement

/// `portcullis tools …`: the gateway's tool registry.
struct ToolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tools", abstract: "List, approve and block the tools upstream MCP servers offer.",
        subcommands: [List.self, Approve.self, Block.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tools with their pinning status.")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let value = try await admin.call("GET", "/admin/tools")
            if admin.json { return try admin.show(value) }
            print(["NAME", "STATUS", "CALLABLE", "EFFECT", "RISK", "FINDINGS"].joined(separator: "\t"))
            for t in (value as? [[String: Any]]) ?? [] {
                print([t["name"], t["status"], t["callable"], t["effect"], t["risk"], t["findings"]]
                    .map { AdminOptions.text($0 ?? "-") }.joined(separator: "\t"))
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a tool's current definition (pins its hash; a changed tool becomes callable again).",
            discussion: """
                --hash is the definition hash you reviewed (`tools list`): if the definition changed since,
                the approval is refused. --effect classifies the tool (an upstream's own annotations are not
                trusted); an unclassified tool cannot be called under the default policies.
                """)
        @Argument(help: "The qualified tool name, e.g. time.get_current_time.") var name: String
        @Option(help: "The definition hash you reviewed.") var hash: String
        @Option(help: "read, write or destructive.") var effect: String?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            var body: [String: Any] = ["hash": hash]
            if let effect { body["effect"] = effect }
            try admin.show(try await admin.call("POST", "/admin/tools/\(AdminOptions.path(name))/approve", body: body))
        }

    }

    struct Block: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Block a tool until it is approved again.")
        @Argument var name: String
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            try admin.show(try await admin.call("POST", "/admin/tools/\(AdminOptions.path(name))/block"))
        }
    }
}

/// `portcullis policy …`: the gateway's Cedar policies.
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Reload, inspect and test the gateway's policies.",
        subcommands: [Reload.self, Show.self, Test.self, Validate.self, PrintSchema.self, ShadowReport.self, Replay.self, Analyze.self,
                      Default.self])

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy directory against Portcullis's schema, as every load does.",
            discussion: """
                Strict Cedar validation (docs/policy-validation.md): every entity type, action and attribute a policy
                uses is declared, optional attributes are read only after `has`, operands have the right types. A set
                that does not validate is not loaded by `portcullis serve` nor by a reload. Warnings (a policy that can
                never apply) do not stop a load. Exit status: 0 when the set validates, 1 otherwise.
                """)
        @Argument(help: "A directory of .cedar files (default: the built-in pack).") var directory: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let result: ValidationResult
            do {
                result = try PolicyEngine.validation(of: directory)
            } catch {
                throw ValidationError(error.description)
            }
            if json {
                func list(_ issues: [ValidationIssue]) -> [[String: String]] {
                    issues.map { ["policy": $0.policyID, "kind": $0.kind.rawValue, "message": $0.message] }
                }
                let object: [String: Any] = ["valid": result.passed, "errors": list(result.errors), "warnings": list(result.warnings)]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                for e in result.errors { print("error: \(e)") }
                for w in result.warnings { print("warning: \(w)") }
                print(result.passed ? "valid (\(directory ?? "built-in pack"))" : "invalid: \(result.errors.count) error(s)")
            }
            if !result.passed { throw ExitCode(1) }
        }
    }

    struct PrintSchema: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "schema", abstract: "Print Portcullis's Cedar schema (.cedarschema), for editors and other Cedar tools.")
        func run() { print(PortcullisSchema.text) }
    }

    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reload the policy directory now (a failed reload keeps the policies in force).")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let value = try await admin.call("POST", "/admin/policies/reload")
            if admin.json { return try admin.show(value) }
            let o = value as? [String: Any] ?? [:]
            print("loaded \(AdminOptions.text(o["count"] ?? 0)) policies from \(AdminOptions.text(o["source"] ?? "-"))")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the policies in force.")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let value = try await admin.call("GET", "/admin/policies")
            if admin.json { return try admin.show(value) }
            let o = value as? [String: Any] ?? [:]
            print("source: \(AdminOptions.text(o["source"] ?? "-"))  loaded: \(AdminOptions.text(o["loaded_at"] ?? "-"))")
            for p in (o["policies"] as? [[String: Any]]) ?? [] {
                print("  \(AdminOptions.text(p["effect"] ?? "-"))\t\(AdminOptions.text(p["id"] ?? "-"))\t\(AdminOptions.text(p["reason"] ?? ""))")
            }
        }
    }

    struct Default: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the built-in default policy pack.")
        func run() throws { print(DefaultPolicies.text) }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide a request offline, as the gateway would.",
            discussion: """
                The request file describes the agent, the tool, the arguments and the session, e.g.
                {"agent": {"id": "agt_1", "trust_level": 1, "teams": ["payments"]},
                 "tool": {"name": "git.git_commit", "effect": "write"}, "session": {"tainted": true}}
                An HTTP gateway request describes its endpoint instead of a tool:
                {"action": "http_request", "user": "alice", "authorization_details": [{"type": "payment",
                 "recipient": "acme", "max_amount": 200}], "session": {"data_classes": ["confidential"]},
                 "http": {"upstream": "payments", "method": "POST", "path": "/refunds", "data_class": "confidential",
                          "operation_id": "createRefund", "query": {}, "body": {"amount": 120, "recipient": "acme"}}}
                The decision is `allow`, `deny`, or `pending` (allowed once a person approves: a determining
                permit carries @obligation("approval")).
                Exit status: 0 when the decision matches --expect (or no expectation), 1 otherwise.
                """)
        @Option(help: "A directory of .cedar files (default: the built-in pack).") var policies: String?
        @Option(help: "Fail unless the decision is `allow`, `deny` or `pending`.") var expect: String?
        @Flag(help: "Print JSON.") var json = false
        @Argument(help: "The request file (JSON).") var request: String

        func run() async throws {
            let engine: PolicyEngine
            let offline: OfflineRequest
            do {
                engine = try PolicyEngine(directory: policies)
                guard let data = FileManager.default.contents(atPath: request) else {
                    throw ValidationError("cannot read \(request)")
                }
                offline = try OfflineRequest.parse(String(decoding: data, as: UTF8.self))
            } catch let e as GatewayConfigurationError {
                throw ValidationError(e.description)
            }
            if let expect, !["allow", "deny", "pending"].contains(expect) {
                throw ValidationError("--expect must be allow, deny or pending")
            }
            let d = await offline.decide(with: engine)
            let decision = !d.allowed ? "deny" : d.obligations.contains("approval") ? "pending" : "allow"
            if json {
                let object: [String: Any] = ["decision": decision, "determining": d.determining, "erroring": d.erroring,
                                             "reasons": d.reasons, "obligations": d.obligations]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("decision: \(decision)")
                print("policies: \(d.determining.isEmpty ? "-" : d.determining.joined(separator: ", "))")
                if !d.erroring.isEmpty { print("erroring: \(d.erroring.joined(separator: ", "))") }
                if !d.obligations.isEmpty { print("obligations: \(d.obligations.joined(separator: ", "))") }
                print("reason: \(d.summary)")
            }
            if let expect, expect != decision { throw ExitCode(1) }
        }
    }
}
