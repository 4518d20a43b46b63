import Cedar
import Foundation
import PortcullisCore
import PortcullisTesting
import Testing
@testable import PortcullisEnforcement

/// Portcullis's own Cedar schema: it describes exactly the requests the gateway builds, the shipped policies
/// validate against it, and policies that would fail at run time are refused when they load.
@Suite("Portcullis's Cedar schema and policy validation")
struct PortcullisSchemaTests {
    /// Every request the gateway builds, with every optional part present.
    func fullRequests() throws -> [(Request, [Entity], String)] {
        let agent = testAgent()
        let tool = testTool("pay.send", effect: .write)
        let caller = GatewayCaller(
            agent: agent, tokenID: "jti", scopes: ["mcp"], actors: ["agt_0"], onBehalfOf: "alice@example.com",
            authorizationDetails: [.object(["type": .string("payment"), "recipient": .string("acme"), "currency": .string("EUR"), "max_amount": .int(200)])],
            sourceAddress: "10.1.2.3", intent: "pay acme")
        var report = ProvenanceReport()
        report.arguments = [("to", .untrusted)]
        report.untrustedSources = ["mail.read"]
        report.emails = ["a@b.example"]
        let session = SessionSnapshot(tainted: true, taintSources: ["mail.read"], calls: 2, ageSeconds: 5, dataClasses: ["internal"],
                                      injected: true, history: HistorySnapshot(counts: ["pay.send": 1], effects: ["write": 1, "unclassified": 1],
                                                                               recent: ["pay.send"], amounts: ["pay.send": 20]))
        let arguments = try JSONValue.parse(#"{"to": "acme", "amount": 20, "memo": {"lines": ["a", "b"]}}"#)
        var out: [(Request, [Entity], String)] = []
        for action in [CedarMapping.Action.connect, .listTools] {
            let (r, _) = try CedarMapping.request(action: action, caller: caller, tool: nil, upstream: "pay", arguments: nil,
                                                  session: session, dlpKinds: [.awsAccessKey], listing: false, now: Date(),
                                                  provenance: report)
            out.append((r, [CedarMapping.agentEntity(agent)], action.rawValue))
        }
        let (call, _) = try CedarMapping.request(action: .callTool, caller: caller, tool: tool, upstream: "pay", arguments: arguments,
                                                 session: session, dlpKinds: [], listing: false, now: Date(), provenance: report)
        out.append((call, [CedarMapping.agentEntity(agent), CedarMapping.toolEntity(tool)], "call_tool"))
        let facts = HTTPRequestFacts(method: "POST", pathTemplate: "/refunds/{id}", operationID: "refund", dataClass: "confidential",
                                     pathParameters: ["id": "7"], query: ["dry": "1"])
        let (http, _) = try CedarMapping.request(action: .httpRequest, caller: caller, tool: tool, upstream: "pay", arguments: arguments,
                                                 session: session, dlpKinds: [], listing: false, now: Date(), http: facts, provenance: report)
        out.append((http, [CedarMapping.agentEntity(agent), CedarMapping.endpointEntity(tool, facts)], "http_request"))
        let approval = Approval(id: "apr_1", agentID: agent.id, agentOwner: "olga", tool: "pay.send", effect: "write", risk: 2,
                                argumentsDigest: "d", session: "s", status: .pending, reasons: [], createdAt: Date(),
                                expiresAt: Date().addingTimeInterval(60))
        let (approve, entities) = try CedarMapping.approvalRequest(approver: "bob", approval: approval, approve: true)
        out.append((approve, [approve.principal, approve.resource].compactMap { entities[$0] }, "approve"))
        return out
    }

    @Test("the schema parses, and every request the gateway builds conforms to it, entities included")
    func requestsConform() throws {
        for (request, entities, name) in try fullRequests() {
            #expect(throws: Never.self, "\(name)") { try PortcullisSchema.schema.conform(request, entities: entities) }
        }
    }

    @Test("every context attribute the schema declares is one the requests carry (the schema declares nothing stale)")
    func nothingStale() throws {
        var carried = Set<String>()
        for (request, _, _) in try fullRequests() {
            func walk(_ v: Value, _ path: String) {
                carried.insert(path)
                if case .record(let members) = v { for (k, m) in members { walk(m, path + "." + k.string) } }
            }
            for (k, v) in request.context { walk(v, k.string) }
        }
        // The declared attribute paths, read back from the schema's text.
        let declared = Self.declaredContextPaths()
        #expect(!declared.isEmpty)
        for path in declared { #expect(carried.contains(path), "declared but never built: context.\(path)") }
    }

    /// Context attribute paths declared in the schema text (records expanded through common types).
    static func declaredContextPaths() -> Set<String> {
        let text = PortcullisSchema.text
        var commons: [String: String] = [:]
        let typePattern = /type (\w+) = \{([^}]*)\};/
        for match in text.matches(of: typePattern) { commons[String(match.1)] = String(match.2) }
        func attributes(_ body: String) -> [(String, String)] {
            body.split(separator: ",").compactMap { part in
                let pieces = part.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                guard pieces.count == 2 else { return nil }
                return (pieces[0].replacingOccurrences(of: "?", with: ""), pieces[1])
            }
        }
        var out = Set<String>()
        func expand(_ body: String, _ prefix: String) {
            for (name, type) in attributes(body) {
                let path = prefix.isEmpty ? name : prefix + "." + name
                out.insert(path)
                if let inner = commons[type], !inner.trimmingCharacters(in: .whitespaces).isEmpty { expand(inner, path) }
            }
        }
        expand(PortcullisSchema.gatewayContext + PortcullisSchema.httpContext, "")
        out.insert("decision")
        return out
    }

    @Test("the built-in pack and every Cedar example in the docs validate")
    func shippedPoliciesValidate() throws {
        let pack = try PolicySet.parse(DefaultPolicies.text, idsFromAnnotations: true)
        let result = PortcullisSchema.schema.validate(policies: pack)
        #expect(result.errors.isEmpty, "\(result.errors)")
        #expect(result.warnings.isEmpty, "\(result.warnings)")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var blocks = 0
        for file in ["README.md"] + (try FileManager.default.contentsOfDirectory(atPath: root.path + "/docs")).map({ "docs/" + $0 })
        where file.hasSuffix(".md") {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: /```cedar\n([\s\S]*?)```/) {
                blocks += 1
                let policies = try PolicySet(parsing: String(match.1))
                let r = PortcullisSchema.schema.validate(policies: policies)
                #expect(r.passed, "\(file): \(r.errors)")
            }
        }
        #expect(blocks >= 5)
    }

    func validate(_ text: String) throws -> ValidationResult {
        PortcullisSchema.schema.validate(policies: try PolicySet.parse(text, idsFromAnnotations: true))
    }

    @Test("policies that would fail at run time are refused, with the reason; guarded ones pass")
    func typeErrors() throws {
        let call = #"permit (principal, action == Action::"call_tool", resource) when { "#
        let refused = [
            call + #"resource.efect == "read" };"#: "efect",
            call + #"resource.risk > "3" };"#: "comparison",
            call + #"context.user == "alice" };"#: "optional attribute `user`",
            call + #"context.arguments.amount > 10 };"#: "has",
            call + #"principal.trustLevel == "3" };"#: "can never be equal",
            #"permit (principal, action, resource) when { resource.effect == "read" };"#: "not declared",
            #"permit (principal, action == Action::"call_tool", resource is Endpoint);"#: "no action",
            #"permit (principal, action == Action::"call-tool", resource);"#: "unrecognized action",
            #"permit (principal is User, action, resource);"#: "unrecognized entity type",
            call + #"context.time.now < datetime("yesterday") };"#: "valid literal",
        ]
        for (policy, reason) in refused {
            let r = try validate(policy)
            #expect(!r.passed, "\(policy)")
            #expect(r.errors.contains { $0.message.contains(reason) }, "\(policy): \(r.errors)")
        }
        let accepted = [
            call + #"context has user && context.user like "*@example.com" };"#,
            call + #"context.arguments has amount && context.arguments.amount > 10 };"#,
            call + #"context.arguments has memo && context.arguments.memo has lines && context.arguments.memo.lines.contains("a") };"#,
            call + #"context.session.history.counts has "pay.refund" && context.session.history.counts["pay.refund"] >= 3 };"#,
            #"permit (principal, action in [Action::"call_tool", Action::"http_request"], resource) when { resource.effect == "read" };"#,
            call + #"context has sourceAddress && context.sourceAddress.isInRange(ip("10.0.0.0/8")) };"#,
            call + #"context.time.now > datetime("2026-01-01") && principal in Team::"payments" };"#,
        ]
        for policy in accepted {
            let r = try validate(policy)
            #expect(r.passed, "\(policy): \(r.errors)")
        }
        // Well typed but never true: loaded, with a warning.
        let impossible = try validate(call + #"resource.effect == "read" && resource.effect == "write" && false };"#)
        #expect(impossible.passed && impossible.warnings.count == 1)
    }

    @Test("a policy directory that does not validate is not loaded; a reload keeps the policies in force")
    func refusedOnLoad() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"@id("ok") permit (principal, action == Action::"call_tool", resource) when { resource.effect == "read" };"#
            .write(toFile: dir + "/a.cedar", atomically: true, encoding: .utf8)
        let engine = try PolicyEngine(directory: dir)
        try #"@id("typo") permit (principal, action == Action::"call_tool", resource) when { resource.efect == "read" };"#
            .write(toFile: dir + "/b.cedar", atomically: true, encoding: .utf8)
        #expect {
            try engine.reloadIfChanged()
        } throws: { error in
            "\(error)".contains("typo") && "\(error)".contains("efect")
        }
        #expect(engine.snapshot.policies.policies.map(\.id) == ["ok"])
        try FileManager.default.removeItem(atPath: dir + "/a.cedar")
        #expect(throws: GatewayConfigurationError.self) { try PolicyEngine(directory: dir) }
    }
}

@Suite("Shadow policies")
struct ShadowPolicyTests {
    func directory(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shadow-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    @Test("@mode(\"shadow\") policies are kept apart from the policies in force; an unknown mode is refused")
    func modes() throws {
        let dir = try directory(["a.cedar": """
            @id("tools") permit (principal, action == Action::"call_tool", resource);
            @id("no-writes") @mode("shadow") forbid (principal, action == Action::"call_tool", resource) when { resource.effect == "write" };
            @id("explicit") @mode("enforce") permit (principal, action == Action::"connect", resource);
            """])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let snapshot = try PolicyEngine.load(dir)
        #expect(snapshot.policies.policies.map(\.id).sorted() == ["explicit", "tools"])
        #expect(snapshot.shadowIDs == ["no-writes"])
        #expect(snapshot.candidate?.policies.count == 3)
        try #"@id("x") @mode("log-only") permit (principal, action, resource);"#.write(toFile: dir + "/b.cedar", atomically: true, encoding: .utf8)
        #expect {
            try PolicyEngine.load(dir)
        } throws: { "\($0)".contains("log-only") }
    }

    @Test("a call is decided by the policies in force; the candidate's decision is recorded beside it")
    func decisionAndShadow() async throws {
        let dir = try directory(["a.cedar": """
            @id("tools") permit (principal, action == Action::"call_tool", resource);
            @id("no-writes") @mode("shadow") forbid (principal, action == Action::"call_tool", resource) when { resource.effect == "write" };
            """])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let engine = try PolicyEngine(directory: dir)
        let stage = DecideStage(policies: engine, risk: { _ in BehaviourMonitor.Risk(score: 0, response: .none) }, clock: { Date() })
        for (effect, flipped) in [(ToolRecord.Effect.write, true), (.read, false)] {
            let call = GatewayCall(kind: .mcp, action: .callTool, caller: GatewayCaller(agent: testAgent(), tokenID: "t", scopes: ["mcp"]),
                                   upstream: "web", tool: testTool("web.save", effect: effect), arguments: .object([]),
                                   session: SessionSnapshot(), sessionRef: "s", reasoning: nil, started: .now)
            let d = stage.decide(call)
            #expect(d.allowed && d.determining == ["tools"])
            #expect(d.shadow?.flipped == flipped)
            #expect(d.shadow?.decision == (flipped ? .deny : .allow))
            // The recorded input decides the same again.
            let input = JSONValue(try #require(d.input).recorded(arguments: .object(["text": .string("hi")])))
            #expect(input["request"]?["context"]?["arguments"]?["text"] == .string("hi"))
            let request = try RequestJSON.request(from: input["request"] ?? .null, validate: false)
            let entities = try EntitiesJSON.parse(json: input["entities"] ?? .null)
            let again = GatewayDecision(Authorizer().isAuthorized(request, entities: entities, policies: engine.snapshot.policies),
                                        snapshot: engine.snapshot)
            #expect(again.allowed && again.determining == ["tools"])
            #expect(input["decision"] == .string("allow"))
        }
    }
}
