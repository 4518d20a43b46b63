import Cedar
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisAudit
import PortcullisCore
import PortcullisEnforcement
import PortcullisGateway
import ServiceLifecycle

extension ConsoleRoutes {
    // MARK: - Overview

    func registerOverview(on console: RouterGroup<PortcullisRequestContext>) {
        console.get("/overview") { request, _ in
            let s = try await session(request)
            try await authorize(s, .viewOverview, EntityUID("Console", "overview"))
            let agents = try await services.registry.agents.agents(status: nil)
            let cards = AgentStatus.allCases.map { status in
                "<div class=\"card\" id=\"agents-\(status.rawValue)\"><b>\(agents.filter { $0.status == status }.count)</b>\(status.rawValue)</div>"
            }.joined()
            // Decisions per minute over the last ten minutes (audit times are the wall clock's).
            let now = Date()
            let since = Int64((now.timeIntervalSince1970 - 600) * 1e9)
            let recent = try await services.audit.entries(AuditQuery(kind: "decision", since: since, limit: 10_000))
            var perMinute: [Int64: [String: Int]] = [:]
            for e in recent {
                perMinute[e.event.timeNanos / 60_000_000_000, default: [:]][e.event.decision?.rawValue ?? "?", default: 0] += 1
            }
            let thisMinute = Int64(now.timeIntervalSince1970) / 60
            let minuteRows = (0..<10).map { back -> [String] in
                let m = thisMinute - Int64(back)
                let counts = perMinute[m] ?? [:]
                return [H.h(H.iso(Date(timeIntervalSince1970: Double(m * 60)))), "\(counts["allow"] ?? 0)", "\(counts["deny"] ?? 0)",
                        "\(counts["pending"] ?? 0)"]
            }
            let pending = try await services.gateway.approvals.list(status: .pending, agentID: nil, limit: 1000)
            let alerts = try await services.monitorStore.alerts(agentID: nil, limit: 10)
            let size = await services.audit.size
            let checkpoint = await services.audit.latestCheckpoint
            let auditCheck = await verifyHead(checkpoint)
            let figures = try await GovernanceReports(services: services).report("figures")
            let body = """
                <h2>Agents</h2><div class="cards">\(cards)
                <div class="card" id="pending-approvals"><b>\(pending.count)</b><a href="/console/approvals">pending approvals</a></div>
                <div class="card"><b>\(alerts.count)</b>recent alerts</div></div>
                <h2>Decisions per minute</h2>\(H.table(["minute (UTC)", "allow", "deny", "pending"], minuteRows, id: "per-minute"))
                <h2>Audit log</h2><p id="audit-status">\(size) entries; last signed checkpoint at size \(checkpoint.map { String($0.size) } ?? "none yet")
                (<a href="/console/decisions">browse decisions</a>; each entry's inclusion proof is checked when you open it).</p>
                <p id="audit-check">Checked now: \(H.h(auditCheck))</p>
                <h2>Recent alerts</h2>\(H.table(["time", "agent", "detector", "risk", "response", "detail"], alerts.map {
                    [H.date($0.at), "<a href=\"/console/agents/\(H.u($0.agentID))\">\(H.h($0.agentID))</a>", H.h($0.detector.rawValue),
                     "\($0.riskScore)", H.h($0.response.rawValue), H.h($0.detail)]
                }))
                <h2>Governance</h2>\(H.table(["figure", "value", "what"], figures.rows.map { row in
                    row.map { H.h(ReportTable.csvText($0)) }
                }, id: "figures"))
                """
            return page("Overview", "overview", s, request, body)
        }
    }

    /// The log's head checked on the spot: the current tree is signed and proved consistent with the last signed
    /// checkpoint (an append-only log that was rewritten since fails here).
    func verifyHead(_ previous: SignedCheckpoint?) async -> String {
        guard let previous else { return "no signed checkpoint yet" }
        do {
            let current = try await services.audit.checkpoint()
            let proof = current.size == previous.size ? [] : try await services.audit.consistencyProof(from: previous.size, to: current.size).hashes
            let ok = current.size == previous.size ? current.rootHash == previous.rootHash
                : RFC6962.verifyConsistency(oldSize: previous.size, newSize: current.size, oldRoot: previous.rootHash,
                                            newRoot: current.rootHash, proof: proof)
            return ok ? "verified: the tree of size \(current.size) extends the signed checkpoint of size \(previous.size)"
                      : "FAILED: the tree does not extend the signed checkpoint of size \(previous.size); the log may have been rewritten"
        } catch {
            return "could not be checked: \(error)"
        }
    }

    // MARK: - Agents

    func registerAgents(on console: RouterGroup<PortcullisRequestContext>) {
        console.get("/agents") { request, _ in
            let s = try await session(request)
            try await authorize(s, .viewAgents, EntityUID("Console", "agents"))
            let inventory = try await GovernanceReports(services: services).report("inventory")
            let index = Dictionary(uniqueKeysWithValues: inventory.columns.enumerated().map { ($1, $0) })
            func cell(_ row: [ReportTable.Cell], _ column: String) -> String { H.h(ReportTable.csvText(row[index[column]!])) }
            let rows = inventory.rows.map { row -> [String] in
                let id = cell(row, "id")
                return ["<a href=\"/console/agents/\(id)\">\(cell(row, "name"))</a><br><small>\(id)</small>", cell(row, "owner"),
                        cell(row, "purpose"), "\(cell(row, "model")) \(cell(row, "model_version"))", cell(row, "status"),
                        cell(row, "trust_level"), cell(row, "teams"), cell(row, "last_reviewed_at"), cell(row, "next_review_at"),
                        "\(cell(row, "risk_score")) / \(cell(row, "response"))", cell(row, "active_tokens")]
            }
            return page("Agents", "agents", s, request, H.table(
                ["agent", "owner", "purpose", "model", "status", "trust", "teams", "last review", "next review", "risk / response", "tokens"],
                rows, id: "agents"))
        }
        console.get("/agents/:id") { request, context in
            let id = try context.parameters.require("id")
            let s = try await session(request)
            try await authorize(s, .viewAgents, EntityUID("Agent", id))
            guard let agent = try await services.registry.agents.agent(id: id) else { throw ConsoleAnswer.refuse(.notFound, "no agent `\(id)`") }
            let events = try await services.registry.agents.events(agentID: id)
            let decisions = try await services.audit.entries(AuditQuery(agent: id, kind: "decision", limit: 20))
            let risk = services.gateway.monitor.risk(id)
            let baseline = try await services.gateway.monitor.baseline(id)
            let baselineText = baseline.flatMap { try? HTTP.jsonEncoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) } ?? "no calls yet"
            let details: [[String]] = [
                ["id", H.h(agent.id)], ["status", "<b id=\"status\">\(agent.status.rawValue)</b>"], ["owner", H.h(agent.owner)],
                ["purpose", H.h(agent.purpose)], ["model", H.h("\(agent.modelProvider) \(agent.modelName) \(agent.modelVersion)")],
                ["trust level", "\(agent.trustLevel)"], ["teams", H.h(agent.teams.joined(separator: ", "))],
                ["scopes", H.h(agent.allowedScopes.joined(separator: " "))], ["next review", H.date(agent.nextReviewAt)],
                ["pinned configuration", agent.configDigest.map(H.h) ?? "none"], ["DPoP required", agent.requireDPoP ? "yes" : "no"],
                ["risk score / automatic response", "\(risk.score) / \(risk.response.rawValue)"],
            ]
            var actions = ""
            for (verb, label, confirm) in [("suspend", "Suspend", true), ("resume", "Resume", false), ("kill", "Kill", true)] {
                actions += """
                    <form method="post" action="/console/agents/\(H.u(id))/\(verb)" class="act" id="\(verb)-form">\(csrfField(s))
                    <input type="text" name="reason" placeholder="reason (required)" required>
                    \(confirm ? "<label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> I confirm</label>" : "")
                    <button class="\(verb == "kill" ? "danger" : "")">\(label)</button></form>
                    """
            }
            let body = """
                \(H.table(["", ""], details, id: "agent"))<h2>Act</h2>\(actions)
                <h2>Lifecycle</h2>\(H.table(["time", "event", "by", "reason"], events.reversed().map {
                    [H.date($0.at), H.h($0.kind.rawValue), H.h($0.actor), H.h($0.reason)]
                }, id: "events"))
                <h2>Recent decisions</h2>\(decisionTable(decisions, id: "agent-decisions"))
                <h2>Baseline</h2><pre>\(H.h(baselineText))</pre>
                """
            return page(agent.name, "agents", s, request, body)
        }
        for verb in ["suspend", "resume", "kill"] {
            console.post("/agents/:id/\(verb)") { request, context -> Response in
                let id = try context.parameters.require("id")
                let s = try await session(request)
                let fields = try await form(request, s)
                let action: ConsoleState.Action = verb == "kill" ? .killAgent : verb == "suspend" ? .suspendAgent : .resumeAgent
                try await authorize(s, action, EntityUID("Agent", id))
                let reason = try reason(fields)
                if verb != "resume", fields["confirm"] != "yes" {
                    throw ConsoleAnswer.refuse(.badRequest, "confirm the \(verb) (tick “I confirm”); nothing was done")
                }
                do {
                    switch verb {
                    case "kill": _ = try await services.kill(.agent(id), actor: s.actor, reason: reason)
                    case "resume": _ = try await services.resume(id: id, actor: s.actor, reason: reason)
                    default:
                        _ = try await services.registry.transition(id: id, .suspend, actor: s.actor, reason: reason)
                        _ = services.gateway.disconnect([id])
                    }
                } catch let e as PortcullisError {
                    throw ConsoleAnswer.refuse(e.code == .notFound ? .notFound : .conflict, e.reason)
                }
                throw ConsoleAnswer.redirect("/console/agents/\(H.u(id))?notice=\(H.u("\(verb) done: \(reason)"))")
            }
        }
    }

    // MARK: - Decisions

    func decisionTable(_ entries: [AuditLogEntry], id: String, stream: String? = nil) -> String {
        "<table id=\"\(id)\"\(stream.map { " data-stream=\"\(H.h($0))\"" } ?? "")><thead><tr><th>time</th><th>agent</th><th>action</th>"
            + "<th>tool / resource</th><th>decision</th><th>reason</th><th>entry</th></tr></thead><tbody>"
            + entries.map { e in
                let d = Self.decisionRow(e)
                return "<tr data-index=\"\(e.index)\">" + [d["time"], d["agent"], d["action"], d["resource"]].map { "<td>\(H.h($0 ?? ""))</td>" }.joined()
                    + "<td class=\"\(d["decision"] ?? "")\">\(H.h(d["decision"] ?? ""))</td><td>\(H.h(d["reason"] ?? ""))</td>"
                    + "<td><a href=\"/console/audit/\(e.index)\">#\(e.index)</a></td></tr>"
            }.joined() + "</tbody></table>"
    }

    static func decisionRow(_ e: AuditLogEntry) -> [String: String] {
        let ev = e.event
        return ["index": String(e.index), "time": H.iso(Date(timeIntervalSince1970: Double(ev.timeNanos) / 1e9)),
                "agent": ev.agent?.id ?? "", "action": ev.action, "resource": ev.resource ?? "",
                "decision": ev.decision?.rawValue ?? "", "reason": String((ev.reason ?? "").prefix(300))]
    }

    func decisionQuery(_ request: Request) -> AuditQuery {
        func p(_ k: String) -> String? { request.uri.queryParameters[Substring(k)].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
        return AuditQuery(agent: p("agent"), decision: p("decision"), kind: "decision", resource: p("tool"), limit: 100)
    }

    func registerDecisions(on console: RouterGroup<PortcullisRequestContext>) {
        console.get("/decisions") { request, _ in
            let s = try await session(request)
            try await authorize(s, .viewDecisions, EntityUID("Console", "decisions"))
            let query = decisionQuery(request)
            let entries = try await services.audit.entries(query)
            let size = await services.audit.size
            let after = entries.first.map { $0.index } ?? (size == 0 ? nil : size - 1)
            var stream = "/console/decisions/stream?agent=\(H.u(query.agent ?? ""))&tool=\(H.u(query.resource ?? ""))&decision=\(H.u(query.decision ?? ""))"
            if let after { stream += "&after=\(after)" }
            let options = ["", "allow", "deny", "pending"].map {
                "<option value=\"\($0)\"\($0 == (query.decision ?? "") ? " selected" : "")>\($0.isEmpty ? "any decision" : $0)</option>"
            }.joined()
            let body = """
                <form method="get" action="/console/decisions" id="filters">
                <input type="text" name="agent" placeholder="agent id" value="\(H.h(query.agent ?? ""))">
                <input type="text" name="tool" placeholder="tool (prefix*)" value="\(H.h(query.resource ?? ""))">
                <select name="decision">\(options)</select> <button>Filter</button></form>
                <p>Newest first; new decisions appear as they are made (<span id="live">connecting…</span>).
                Without JavaScript, <a href="">reload</a>.</p>
                \(decisionTable(entries, id: "decisions", stream: stream))
                """
            return page("Live decisions", "decisions", s, request, body)
        }
        console.get("/decisions/stream") { request, _ in
            let s = try await session(request, touch: false)
            try await authorize(s, .viewDecisions, EntityUID("Console", "decisions"))
            var query = decisionQuery(request)
            // Resumes after the last event the browser saw (EventSource sends it back on reconnection).
            let lastSeen = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.uri.queryParameters["after"].map(String.init)
            let size = await services.audit.size
            // Never past the log's end (and never overflowing): a bad id resumes from now.
            let start = lastSeen.flatMap(UInt64.init).map { $0 < size ? $0 + 1 : size } ?? size
            query.ascending = true
            query.limit = 200
            let streamQuery = query
            let audit = services.audit
            let state = state
            let sessionID = s.id
            let body = ResponseBody { writer in
                var next = start
                // One connection lasts a few seconds and the browser reconnects where it stopped: a stream never
                // holds a graceful shutdown for long, and a signed-out session stops receiving at once.
                let end = ContinuousClock.now + .seconds(8)
                try await writer.write(ByteBuffer(string: "retry: 500\n\n"))
                while ContinuousClock.now < end, !Task.isCancelled, !Task.isShuttingDownGracefully,
                      state.session(sessionID, touch: false) != nil {
                    var q = streamQuery
                    q.fromIndex = next
                    // The size before the query: entries appended meanwhile are read on the next round, not skipped.
                    let size = await audit.size
                    let entries = try await audit.entries(q)
                    var chunk = ""
                    for e in entries {
                        let row = Self.decisionRow(e)
                        let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys, .withoutEscapingSlashes])
                        chunk += "id: \(e.index)\nevent: decision\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
                        next = e.index + 1
                    }
                    // The next page starts after the last entry seen, matching or not.
                    if entries.count < q.limit { next = max(next, size) }
                    if !chunk.isEmpty { try await writer.write(ByteBuffer(string: chunk)) }
                    try await Task.sleep(for: .milliseconds(200))
                }
                try await writer.write(ByteBuffer(string: "id: \(next == 0 ? 0 : next - 1)\n: reconnect\n\n"))
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
        }
        console.get("/audit/:index") { request, context in
            let s = try await session(request)
            try await authorize(s, .viewAudit, EntityUID("Console", "audit"))
            let size = await services.audit.size
            guard let index = UInt64(try context.parameters.require("index")), index < size,
                  let entry = try await services.audit.entry(index: index) else {
                throw ConsoleAnswer.refuse(.notFound, "no such audit entry")
            }
            // The inclusion proof against a signed checkpoint that covers the entry, checked here.
            var proofText: String
            do {
                var checkpoint = await services.audit.latestCheckpoint
                var signedNow = false
                if checkpoint == nil || checkpoint!.size <= index {
                    checkpoint = try await services.audit.checkpoint()
                    signedNow = true
                }
                let cp = checkpoint!
                let proof = try await services.audit.inclusionProof(index: index, treeSize: cp.size)
                // The hash of the bytes shown here, not the stored hash beside them: an entry edited in the database
                // fails even if its hash column was left alone.
                let leaf = RFC6962.leafHash(entry.canonical)
                let ok = leaf == entry.leafHash && proof.leafHash == leaf
                    && RFC6962.verifyInclusion(leafHash: leaf, index: index, treeSize: cp.size, proof: proof.hashes, root: cp.rootHash)
                proofText = ok ? "verified: entry #\(index) is in the signed checkpoint of size \(cp.size) (\(proof.hashes.count) hashes)"
                                 + (signedNow ? "; that checkpoint was signed just now, since none covered the entry yet" : "")
                               : "FAILED: the entry's bytes do not lead to the checkpoint's root; the log may have been tampered with"
            } catch {
                proofText = "could not be checked: \(error)"
            }
            let e = entry.event
            let argumentsText = e.redactedArguments.flatMap { try? HTTP.jsonEncoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) } ?? "–"
            let rows: [[String]] = [
                ["time", H.h(H.iso(Date(timeIntervalSince1970: Double(e.timeNanos) / 1e9)))], ["kind", H.h(e.kind.rawValue)],
                ["agent", H.h(e.agent?.id ?? "–")], ["model", H.h([e.agent?.model, e.agent?.version].compactMap { $0 }.joined(separator: " "))],
                ["on behalf of", H.h(e.onBehalfOf ?? "–")], ["delegation chain", H.h(e.delegationChain.isEmpty ? "–" : e.delegationChain.joined(separator: " → "))],
                ["actor", H.h(e.actor ?? "–")], ["action", H.h(e.action)], ["resource", H.h(e.resource ?? "–")],
                ["decision", "<span class=\"\(e.decision?.rawValue ?? "")\">\(H.h(e.decision?.rawValue ?? "–"))</span>"],
                ["reasons", H.h(e.reason ?? "–")], ["determining policies", H.h(e.determiningPolicies.joined(separator: ", "))],
                ["obligations", H.h(e.obligations.joined(separator: ", "))], ["reasoning (the agent's)", H.h(e.reasoning ?? "–")],
                ["arguments (redacted)", "<pre>\(H.h(argumentsText))</pre>"], ["outcome", H.h(e.outcome.map { "\($0.status)" } ?? "–")],
                ["trace id", H.h(e.traceID ?? "–")], ["inclusion proof", "<b id=\"proof\">\(H.h(proofText))</b>"],
            ]
            return page("Audit entry #\(index)", "decisions", s, request, H.table(["", ""], rows, id: "entry"))
        }
    }

    // MARK: - Approvals

    func registerApprovals(on console: RouterGroup<PortcullisRequestContext>) {
        console.get("/approvals") { request, _ in
            let s = try await session(request)
            try await authorize(s, .viewApprovals, EntityUID("Console", "approvals"))
            let pending = try await services.gateway.approvals.list(status: .pending, agentID: nil, limit: 200)
            var rows: [[String]] = []
            for a in pending {
                // The exact arguments (after DLP redaction), bound to the call by their digest.
                let args = a.arguments.flatMap { try? HTTP.jsonEncoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) }
                    ?? "(not kept; digest \(a.argumentsDigest))"
                var forms = ""
                for (verb, label) in [("approve", "Approve"), ("deny", "Deny")] {
                    forms += """
                        <form method="post" action="/console/approvals/\(H.u(a.id))/\(verb)" class="act" id="\(verb)-\(H.h(a.id))">\(csrfField(s))
                        <input type="text" name="reason" placeholder="reason (required)" required>
                        <button class="\(verb == "deny" ? "danger" : "")">\(label)</button></form>
                        """
                }
                rows.append(["<span id=\"\(H.h(a.id))\">\(H.h(a.id))</span>", "<a href=\"/console/agents/\(H.u(a.agentID))\">\(H.h(a.agentID))</a><br><small>owner \(H.h(a.agentOwner))</small>",
                             "<b>\(H.h(a.tool))</b> (\(H.h(a.effect)), risk \(a.risk))", "<pre>\(H.h(args))</pre>",
                             H.h(a.reasons.joined(separator: "; ")), H.date(a.expiresAt), forms])
            }
            let body = pending.isEmpty ? "<p id=\"no-approvals\">No call is waiting.</p>"
                : H.table(["approval", "agent", "tool", "arguments", "why", "expires", "decide"], rows, id: "approvals")
            return page("Approvals", "approvals", s, request, body)
        }
        for (verb, approve) in [("approve", true), ("deny", false)] {
            console.post("/approvals/:id/\(verb)") { request, context -> Response in
                let id = try context.parameters.require("id")
                let s = try await session(request)
                let fields = try await form(request, s)
                try await authorize(s, .decideApproval, EntityUID("Approval", id))
                let reason = try reason(fields)
                guard let approval = try await services.gateway.approvals.approval(id: id) else {
                    throw ConsoleAnswer.refuse(.notFound, "no approval `\(id)`")
                }
                // The gateway's approver policies decide too (an owner may not approve their own agent's call).
                let decision = services.gateway.authorizeApprover(s.name, approval: approval, approve: approve)
                guard decision.allowed else {
                    try? await services.recordAdmin(actor: s.actor, action: "approval.\(verb).refused", resource: id, reason: decision.summary)
                    throw ConsoleAnswer.refuse(.forbidden, "\(s.name) may not \(verb) \(id): \(decision.summary)")
                }
                do {
                    _ = try await services.gateway.approvals.decide(id: id, approve: approve, approver: s.name, reason: reason)
                } catch let e as PortcullisError {
                    throw ConsoleAnswer.refuse(.conflict, e.reason)
                }
                await services.feed.publish(.approval(id))
                throw ConsoleAnswer.redirect("/console/approvals?notice=\(H.u("\(id) \(approve ? "approved" : "denied")"))")
            }
        }
    }

    // MARK: - Tools

    func registerTools(on console: RouterGroup<PortcullisRequestContext>) {
        console.get("/tools") { request, _ in
            let s = try await session(request)
            try await authorize(s, .viewTools, EntityUID("Console", "tools"))
            // Those needing a person first, then by name.
            let tools = try await services.toolStore.tools().sorted {
                ($0.status == .approved ? 1 : 0, $0.qualifiedName) < ($1.status == .approved ? 1 : 0, $1.qualifiedName)
            }
            let rows = tools.map { t -> [String] in
                var actions = ""
                if t.status != .approved {
                    let effects = ["read", "write", "destructive"].map { "<option\($0 == t.effect.rawValue ? " selected" : "")>\($0)</option>" }.joined()
                    actions += """
                        <form method="post" action="/console/tools/\(H.u(t.qualifiedName))/approve" class="act">\(csrfField(s))
                        <input type="hidden" name="hash" value="\(H.h(t.definitionHash))"><select name="effect">\(effects)</select>
                        <button>Approve and pin</button></form>
                        """
                }
                if t.status != .blocked {
                    actions += "<form method=\"post\" action=\"/console/tools/\(H.u(t.qualifiedName))/block\" class=\"act\">\(csrfField(s))<button class=\"danger\">Block</button></form>"
                }
                let pinned = t.pinnedHash.map { $0 == t.definitionHash ? "pinned \(String($0.prefix(12)))" : "pinned \(String($0.prefix(12))), now \(String(t.definitionHash.prefix(12))): CHANGED" } ?? "not pinned"
                // A changed definition beside the approved one, so a person sees what the upstream changed.
                let definition = t.pinnedHash != nil && t.pinnedHash != t.definitionHash
                    ? "<div class=\"side changed\"><div><b>approved</b><pre>\(H.h(Self.pretty(t.pinnedDefinition) ?? "(not kept)"))</pre></div>"
                        + "<div><b>now</b><pre>\(H.h(Self.pretty(t.definition) ?? t.definition))</pre></div></div>"
                    : "<details><summary>definition</summary><pre>\(H.h(Self.pretty(t.definition) ?? t.definition))</pre></details>"
                return ["<b>\(H.h(t.qualifiedName))</b>", H.h(t.status.rawValue), H.h(t.effect.rawValue), "\(t.risk)", H.h(pinned),
                        H.h(t.findings.joined(separator: "; ")), definition, actions]
            }
            return page("Tools", "tools", s, request, H.table(["tool", "status", "effect", "risk", "definition", "findings", "", "act"], rows, id: "tools"))
        }
        for verb in ["approve", "block"] {
            console.post("/tools/:name/\(verb)") { request, context -> Response in
                let name = try context.parameters.require("name")
                let s = try await session(request)
                let fields = try await form(request, s)
                try await authorize(s, verb == "approve" ? .approveTool : .blockTool, EntityUID("Tool", name))
                let record: ToolRecord
                do {
                    if verb == "approve" {
                        guard let hash = fields["hash"], !hash.isEmpty else { throw ConsoleAnswer.refuse(.badRequest, "the reviewed definition hash is missing") }
                        guard let effect = fields["effect"].flatMap(ToolRecord.Effect.init), effect != .unclassified else {
                            throw ConsoleAnswer.refuse(.badRequest, "choose read, write or destructive")
                        }
                        record = try await services.gateway.catalog.prepareApproval(name, hash: hash, effect: effect, by: s.actor)
                        try await services.recordAdmin(actor: s.actor, action: "tool.approve", resource: name,
                                                       reason: "definition \(record.definitionHash), effect \(record.effect.rawValue)")
                    } else {
                        record = try await services.gateway.catalog.prepareBlock(name, by: s.actor)
                        try await services.recordAdmin(actor: s.actor, action: "tool.block", resource: name, reason: "definition \(record.definitionHash)")
                    }
                    try await AdminRoutes(services: services).commit(record, actor: s.actor, action: "tool.\(verb)")
                } catch let e as PortcullisError {
                    throw ConsoleAnswer.refuse(.conflict, e.reason)
                }
                throw ConsoleAnswer.redirect("/console/tools?notice=\(H.u("\(name): \(record.status.rawValue)"))")
            }
        }
    }

    /// Canonical JSON, indented for reading.
    static func pretty(_ json: String?) -> String? {
        guard let json, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: - Policies

    func registerPolicies(on console: RouterGroup<PortcullisRequestContext>) {
        console.get("/policies") { request, _ in
            let s = try await session(request)
            try await authorize(s, .viewPolicies, EntityUID("Console", "policies"))
            let snapshot = services.gateway.policies.snapshot
            let rows = snapshot.byID.keys.sorted().map { id -> [String] in
                let p = snapshot.byID[id]!
                return [H.h(id), p.effect == .permit ? "permit" : "forbid", H.h(p.annotation("reason") ?? ""),
                        H.h(p.annotation("obligation") ?? ""), snapshot.shadowIDs.contains(id) ? "shadow" : "enforced"]
            }
            var result = ""
            if let agent = request.uri.queryParameters["agent"].map(String.init), let tool = request.uri.queryParameters["tool"].map(String.init) {
                try await authorize(s, .testPolicy, EntityUID("Console", "policies"))
                result = try await test(agent: agent, tool: tool, arguments: request.uri.queryParameters["arguments"].map(String.init) ?? "{}")
            }
            let body = """
                <p id="policy-source">\(snapshot.count) policies in force from <code>\(H.h(snapshot.source))</code>, loaded \(H.date(snapshot.loadedAt)).</p>
                \(H.table(["id", "effect", "reason", "obligation", "mode"], rows, id: "policies"))
                <h2>Test a request</h2>
                <form method="get" action="/console/policies" id="policy-test">
                <input type="text" name="agent" placeholder="agent id" value="\(H.h(request.uri.queryParameters["agent"].map(String.init) ?? ""))">
                <input type="text" name="tool" placeholder="upstream.tool" value="\(H.h(request.uri.queryParameters["tool"].map(String.init) ?? ""))">
                <input type="text" name="arguments" placeholder="{} arguments JSON" size="40" value="\(H.h(request.uri.queryParameters["arguments"].map(String.init) ?? "{}"))">
                <button>Decide</button></form>\(result)
                """
            return page("Policies", "policies", s, request, body)
        }
    }

    /// The decision the policies in force would make on an agent's call (no call is made, nothing is recorded).
    func test(agent id: String, tool name: String, arguments: String) async throws -> String {
        guard let agent = try await services.registry.agents.agent(id: id) else { throw ConsoleAnswer.refuse(.notFound, "no agent `\(id)`") }
        guard let tool = try await services.toolStore.tool(qualifiedName: name) else { throw ConsoleAnswer.refuse(.notFound, "no tool `\(name)`") }
        guard let args = try? JSONValue.parse(bytes: Array(arguments.utf8)), case .object = args else {
            throw ConsoleAnswer.refuse(.badRequest, "the arguments must be a JSON object")
        }
        let call = GatewayCall(kind: .mcp, action: .callTool, caller: GatewayCaller(agent: agent, tokenID: "console-test", scopes: []),
                               upstream: tool.upstream, tool: tool, arguments: args)
        let d = services.gateway.pipeline.evaluate(call)
        return """
            <div id="policy-result"><p><b class="\(d.allowed ? (d.obligations.contains("approval") ? "pending" : "allow") : "deny")">
            \(d.allowed ? (d.obligations.contains("approval") ? "pending (approval)" : "allow") : "deny")</b></p>
            \(H.table(["", ""], [["determining policies", H.h(d.determining.joined(separator: ", "))],
                                 ["reasons", H.h(d.reasons.joined(separator: "; "))], ["obligations", H.h(d.obligations.joined(separator: ", "))]]))</div>
            """
    }
}
