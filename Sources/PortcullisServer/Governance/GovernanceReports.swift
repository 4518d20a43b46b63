public import Foundation
import Cedar
import PortcullisAudit
import PortcullisGateway
public import PortcullisCore
import PortcullisEnforcement
import PortcullisVault

/// One report: named columns and rows, rendered as JSON or CSV (docs/governance.md).
public struct ReportTable: Sendable {
    public enum Cell: Sendable, Equatable {
        case text(String)
        case int(Int)
        case number(Double)
        case bool(Bool)
        case date(Date)
        case none
    }

    public var name: String
    public var generatedAt: Date
    public var columns: [String]
    public var rows: [[Cell]]

    /// `{"report":…, "generated_at":…, "columns":[…], "rows":[{column: value}]}`.
    public func json() throws -> Data {
        let objects: [[String: Any]] = rows.map { row in
            var o: [String: Any] = [:]
            for (c, cell) in zip(columns, row) { o[c] = Self.jsonValue(cell) }
            return o
        }
        let document: [String: Any] = ["report": name, "generated_at": generatedAt.formatted(.iso8601),
                                       "columns": columns, "rows": objects]
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
    }

    /// RFC 4180 CSV with a header line. A text cell that a spreadsheet would run as a formula (it starts with
    /// `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`: owners and purposes are typed by
    /// people and agents' owners, and a report is opened in a spreadsheet.
    public func csv() -> String {
        var out = columns.map(Self.field).joined(separator: ",") + "\r\n"
        for row in rows {
            out += row.map { Self.field(Self.csvText($0)) }.joined(separator: ",") + "\r\n"
        }
        return out
    }

    static func jsonValue(_ cell: Cell) -> Any {
        switch cell {
        case .text(let s): s
        case .int(let n): n
        case .number(let d): d.isFinite ? (d * 1000).rounded() / 1000 : NSNull()
        case .bool(let b): b
        case .date(let d): d.formatted(.iso8601)
        case .none: NSNull()
        }
    }

    static func csvText(_ cell: Cell) -> String {
        switch cell {
        case .text(let s):
            guard let first = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return s }
            return "'" + s
        case .int(let n): return String(n)
        case .number(let d): return d.isFinite ? String((d * 1000).rounded() / 1000) : ""
        case .bool(let b): return b ? "true" : "false"
        case .date(let d): return d.formatted(.iso8601)
        case .none: return ""
        }
    }

    static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// The governance reports: inventory, risk, reviews, the figures security teams track, and a maturity
/// self-assessment. Each is computed from the stores and the audit log when asked (nothing is cached, so a report
/// is never staler than its request).
public struct GovernanceReports: Sendable {
    let services: PortcullisApplication.Services

    public static let names = ["inventory", "risk", "reviews", "figures", "maturity"]

    /// The report `name`; `days` is the window of the audit-based figures (blocked attempts, kills).
    public func report(_ name: String, days: Int = 30) async throws -> ReportTable {
        guard Self.names.contains(name) else {
            throw PortcullisError(.notFound, "no report `\(name)`; reports: \(Self.names.joined(separator: ", "))")
        }
        guard (1...3650).contains(days) else { throw PortcullisError(.invalidInput, "`days` must be 1-3650") }
        let data = try await Facts.gather(services, days: days, audit: name == "figures" || name == "maturity")
        switch name {
        case "inventory": return inventory(data)
        case "risk": return risk(data)
        case "reviews": return reviews(data)
        case "figures": return figures(data)
        default: return maturity(data)
        }
    }

    /// What the reports are computed from, read once per report.
    struct Facts {
        var now: Date
        var days: Int
        var agents: [Agent]
        var events: [String: [LifecycleEvent]]
        var risks: [String: BehaviourMonitor.Risk]
        var activeTokens: [String: Int]
        /// All alerts, oldest first.
        var alerts: [MonitorAlert]
        var credentials: [VaultEntry]
        var tools: [ToolRecord]
        var approvers: Int
        var pendingApprovals: Int
        var approvalPolicies: Int
        var policies: Int
        var auditSize: UInt64
        var checkpointSize: UInt64?
        /// Calls denied in the window (decision records), nil when the audit log was not read.
        var blocked: Int?
        var kills: Int?

        static func gather(_ s: PortcullisApplication.Services, days: Int, audit: Bool) async throws -> Facts {
            let now = s.governance.now
            let agents = try await s.registry.agents.agents(status: nil).sorted { $0.id < $1.id }
            var events: [String: [LifecycleEvent]] = [:]
            var risks: [String: BehaviourMonitor.Risk] = [:]
            var tokens: [String: Int] = [:]
            for a in agents {
                events[a.id] = try await s.registry.agents.events(agentID: a.id)
                risks[a.id] = s.gateway.monitor.risk(a.id)
                tokens[a.id] = try await s.registry.tokens.activeTokenCount(agentID: a.id, now: Date())
            }
            let snapshot = s.gateway.policies.snapshot
            let approvalPolicies = snapshot.byID.values.filter { p in
                p.effect == .permit && (p.annotation("obligation")?.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "approval" } ?? false)
            }.count
            var facts = Facts(
                now: now, days: days, agents: agents, events: events, risks: risks, activeTokens: tokens,
                alerts: try await s.monitorStore.alerts(agentID: nil, limit: 100_000).sorted { $0.at < $1.at },
                credentials: try await s.vault.list(), tools: try await s.toolStore.tools(),
                approvers: try await s.approvalStore.approvers().count,
                pendingApprovals: try await s.approvalStore.approvals(status: .pending, agentID: nil, limit: 10_000).count,
                approvalPolicies: approvalPolicies, policies: snapshot.count, auditSize: await s.audit.size,
                checkpointSize: await s.audit.latestCheckpoint?.size)
            if audit {
                // Audit times are the wall clock's.
                let since = Int64((Date().timeIntervalSince1970 - Double(days) * 86_400) * 1e9)
                facts.blocked = try await count(s.audit, AuditQuery(decision: "deny", kind: "decision", since: since))
                facts.kills = try await count(s.audit, AuditQuery(kind: "admin", action: "agent.kill", since: since))
            }
            return facts
        }

        /// Counts the entries a query matches, a page at a time (newest first).
        static func count(_ log: any MerkleAuditLog, _ query: AuditQuery) async throws -> Int {
            var q = query
            q.limit = 5_000
            var total = 0
            while true {
                let page = try await log.entries(q)
                total += page.count
                guard page.count == q.limit, let last = page.last else { return total }
                q.beforeIndex = last.index
            }
        }

        var live: [Agent] { agents.filter { $0.status != .decommissioned } }

        /// The last review of an agent: when (the reviewer's clock) and by whom.
        func lastReview(_ id: String) -> (at: Date, by: String)? {
            guard let e = events[id]?.last(where: { $0.kind == .reviewed }) else { return nil }
            let details = e.details.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let at = (details?["reviewed_at"] as? String).flatMap(ManualClock.parse) ?? e.at
            return (at, e.actor)
        }

        /// When the agent's current keys were set: the last update that changed them, else its registration.
        func keySetAt(_ a: Agent) -> Date? {
            guard !a.publicKeys.isEmpty else { return nil }
            let change = events[a.id]?.last { e in
                e.kind == .updated && (e.details?.contains("\"public_keys\"") ?? false)
            }
            return change?.at ?? a.createdAt
        }

        func days(since d: Date) -> Double { max(0, now.timeIntervalSince(d) / 86_400) }

        func dpopBound(_ a: Agent) -> Bool { a.requireDPoP && !a.publicKeys.isEmpty }

        /// Seconds from the first alert of an incident to the automatic response it led to (approve_writes or
        /// stronger), per incident. An incident starts with an alert while no response is in force and ends when
        /// the response is cleared (the next alert shows a lower response).
        var timesToResponse: [Double] {
            var out: [Double] = []
            var perAgent: [String: (start: Date, responded: Bool, last: ResponseAction)] = [:]
            for alert in alerts where alert.detector != .reviewOverdue {
                var state = perAgent[alert.agentID]
                if state == nil || alert.response < state!.last { state = (alert.at, false, alert.response) }
                if alert.response >= .approveWrites, !state!.responded {
                    out.append(alert.at.timeIntervalSince(state!.start))
                    state!.responded = true
                }
                state!.last = alert.response
                perAgent[alert.agentID] = state
            }
            return out
        }
    }

    // MARK: - Reports

    func inventory(_ f: Facts) -> ReportTable {
        let columns = ["id", "name", "owner", "purpose", "model_provider", "model", "model_version", "status",
                       "trust_level", "teams", "created_at", "last_reviewed_at", "last_reviewed_by", "next_review_at",
                       "review_overdue", "risk_score", "response", "active_tokens", "pinned_config", "dpop_bound", "keys",
                       "key_age_days"]
        let rows: [[ReportTable.Cell]] = f.agents.map { a in
            let review = f.lastReview(a.id)
            let risk = f.risks[a.id] ?? .init(score: 0, response: .none)
            return [
                .text(a.id), .text(a.name), .text(a.owner), .text(a.purpose), .text(a.modelProvider), .text(a.modelName),
                .text(a.modelVersion), .text(a.status.rawValue), .int(a.trustLevel), .text(a.teams.joined(separator: " ")),
                .date(a.createdAt), review.map { .date($0.at) } ?? .none, review.map { .text($0.by) } ?? .none,
                .date(a.nextReviewAt), .bool(a.status != .decommissioned && a.nextReviewAt <= f.now), .int(risk.score),
                .text(risk.response.rawValue), .int(f.activeTokens[a.id] ?? 0), .bool(a.configDigest != nil),
                .bool(f.dpopBound(a)), .int(a.publicKeys.count), f.keySetAt(a).map { .number(f.days(since: $0)) } ?? .none,
            ]
        }
        return ReportTable(name: "inventory", generatedAt: f.now, columns: columns, rows: rows)
    }

    func risk(_ f: Facts) -> ReportTable {
        let columns = ["id", "name", "owner", "status", "risk_score", "response", "alerts", "last_alert_at",
                       "last_alert_detector"]
        var byAgent: [String: [MonitorAlert]] = [:]
        for a in f.alerts { byAgent[a.agentID, default: []].append(a) }
        let rows: [[ReportTable.Cell]] = f.agents
            .sorted { (f.risks[$0.id]?.score ?? 0, $1.id) > (f.risks[$1.id]?.score ?? 0, $0.id) }
            .map { a in
                let risk = f.risks[a.id] ?? .init(score: 0, response: .none)
                let last = byAgent[a.id]?.last
                return [.text(a.id), .text(a.name), .text(a.owner), .text(a.status.rawValue), .int(risk.score),
                        .text(risk.response.rawValue), .int(byAgent[a.id]?.count ?? 0), last.map { .date($0.at) } ?? .none,
                        last.map { .text($0.detector.rawValue) } ?? .none]
            }
        return ReportTable(name: "risk", generatedAt: f.now, columns: columns, rows: rows)
    }

    /// Who reviewed what: every recorded review, oldest first.
    func reviews(_ f: Facts) -> ReportTable {
        let columns = ["agent", "owner", "reviewed_at", "reviewer", "still_needed", "scopes_right", "removed_scopes", "notes"]
        var rows: [(Date, [ReportTable.Cell])] = []
        for a in f.agents {
            for e in f.events[a.id] ?? [] where e.kind == .reviewed {
                let d = e.details.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
                let at = (d["reviewed_at"] as? String).flatMap(ManualClock.parse) ?? e.at
                rows.append((at, [
                    .text(a.id), .text(a.owner), .date(at), .text(e.actor),
                    (d["still_needed"] as? Bool).map { .bool($0) } ?? .none,
                    (d["scopes_right"] as? Bool).map { .bool($0) } ?? .none,
                    .text(((d["removed_scopes"] as? [String]) ?? []).joined(separator: " ")),
                    (d["notes"] as? String).map { .text($0) } ?? .none,
                ]))
            }
        }
        return ReportTable(name: "reviews", generatedAt: f.now, columns: columns,
                           rows: rows.sorted { $0.0 < $1.0 }.map(\.1))
    }

    /// One figure per row: `metric`, `value`, `description`.
    func figures(_ f: Facts) -> ReportTable {
        let live = f.live
        func share(_ p: (Agent) -> Bool) -> ReportTable.Cell { live.isEmpty ? .none : .number(Double(live.filter(p).count) / Double(live.count)) }
        let keyAges = live.compactMap(f.keySetAt).map(f.days(since:)).sorted()
        let credentialAges = f.credentials.map { f.days(since: $0.updatedAt) }.sorted()
        let responses = f.timesToResponse.sorted()
        var rows: [[ReportTable.Cell]] = [
            [.text("agents"), .int(f.agents.count), .text("agents registered, decommissioned included")],
        ]
        for status in AgentStatus.allCases {
            rows.append([.text("agents_\(status.rawValue)"), .int(f.agents.filter { $0.status == status }.count),
                         .text("agents \(status.rawValue)")])
        }
        rows += [
            [.text("share_own_key"), share { !$0.publicKeys.isEmpty }, .text("share of agents (not decommissioned) with a key of their own")],
            [.text("share_pinned_config"), share { $0.configDigest != nil }, .text("share of agents with a pinned configuration digest")],
            [.text("share_dpop_bound"), share(f.dpopBound), .text("share of agents whose tokens must be DPoP-bound to their key")],
            [.text("reviews_overdue"), .int(live.filter { $0.nextReviewAt <= f.now }.count), .text("agents whose access review date has passed")],
            [.text("share_reviewed_on_time"), share { $0.nextReviewAt > f.now }, .text("share of agents whose review is not overdue")],
            [.text("key_age_days_median"), Self.median(keyAges), .text("age of agents' current keys, median")],
            [.text("key_age_days_max"), keyAges.last.map { .number($0) } ?? .none, .text("age of the oldest agent key")],
            [.text("credentials"), .int(f.credentials.count), .text("upstream credentials in the vault")],
            [.text("credential_age_days_median"), Self.median(credentialAges), .text("time since each vault credential was last set, median")],
            [.text("credential_age_days_max"), credentialAges.last.map { .number($0) } ?? .none, .text("the least recently rotated vault credential")],
            [.text("active_tokens"), .int(f.activeTokens.values.reduce(0, +)), .text("access tokens outstanding")],
            [.text("blocked_attempts"), f.blocked.map { .int($0) } ?? .none, .text("calls denied in the last \(f.days) days (audit log)")],
            [.text("kill_events"), f.kills.map { .int($0) } ?? .none, .text("agents killed in the last \(f.days) days (audit log)")],
            [.text("alerts"), .int(f.alerts.count), .text("alerts raised (all time)")],
            [.text("automatic_responses"), .int(responses.count), .text("incidents that led to an automatic response")],
            [.text("time_to_response_seconds_median"), Self.median(responses), .text("first anomaly to automatic response, median")],
            [.text("time_to_response_seconds_max"), responses.last.map { .number($0) } ?? .none, .text("first anomaly to automatic response, longest")],
            [.text("pending_approvals"), .int(f.pendingApprovals), .text("calls waiting for a person")],
            [.text("tools_pinned"), .int(f.tools.filter { $0.status == .approved }.count), .text("tools approved and pinned")],
            [.text("tools_unreviewed"), .int(f.tools.filter { $0.status != .approved && $0.status != .blocked }.count), .text("tools pending or changed")],
        ]
        return ReportTable(name: "figures", generatedAt: f.now, columns: ["metric", "value", "description"], rows: rows)
    }

    /// The practices the seed articles name, each with a level (met, partial, missing) and the evidence Portcullis
    /// holds for it.
    func maturity(_ f: Facts) -> ReportTable {
        let live = f.live
        func level(_ met: Int, of total: Int) -> String { total == 0 ? "missing" : met == total ? "met" : met == 0 ? "missing" : "partial" }
        func count(_ p: (Agent) -> Bool) -> Int { live.filter(p).count }
        let n = live.count
        let ownKey = count { !$0.publicKeys.isEmpty }
        let dpop = count(f.dpopBound)
        let pinned = count { $0.configDigest != nil }
        let shortLived = count { $0.maxSessionSeconds <= 3600 }
        let onTime = count { $0.nextReviewAt > f.now }
        let reviewed = count { f.lastReview($0.id) != nil }
        let ttl = services.configuration.accessTokenTTL
        let verified = f.checkpointSize.map { "signed checkpoint at size \($0) of \(f.auditSize)" } ?? "no checkpoint yet (\(f.auditSize) entries)"
        let rows: [[String]] = [
            ["Inventory every agent, with an accountable owner and purpose", n == 0 ? "missing" : "met",
             "\(n) agents registered, each with owner, purpose, model and version", "Zero trust for AI agents (enterprise identity problem)"],
            ["Give each agent an identity of its own, separate from its user", level(ownKey, of: n),
             "\(ownKey) of \(n) agents authenticate with a key of their own (private_key_jwt)", "Zero Trust for AI Agents at ATARC ZT4"],
            ["Short-lived credentials", ttl <= 900 && shortLived == n && n > 0 ? "met" : level(shortLived, of: n),
             "tokens last \(ttl) s by default; \(shortLived) of \(n) agents cap a session at an hour or less", "Zero Trust for Agents: what it actually looks like"],
            ["Sender-constrained tokens", level(dpop, of: n),
             "\(dpop) of \(n) agents must present DPoP proofs bound to their key", "Zero Trust for AI Agents 2026"],
            ["Attested agent configuration", level(pinned, of: n),
             "\(pinned) of \(n) agents have a pinned configuration digest", "Zero Trust for AI Agents 2026"],
            ["Permissions by action, not by system", f.policies > 0 ? "met" : "missing",
             "\(f.policies) Cedar policies decide every tool call and HTTP request; \(f.tools.filter { $0.status == .approved }.count) tools pinned",
             "Zero Trust for AI agents (five additions)"],
            ["Human checkpoints for high-stakes actions", f.approvalPolicies > 0 && f.approvers > 0 ? "met" : f.approvalPolicies > 0 || f.approvers > 0 ? "partial" : "missing",
             "\(f.approvalPolicies) policies require approval; \(f.approvers) named approvers; \(f.pendingApprovals) calls waiting",
             "Zero trust for AI agents (enterprise identity problem)"],
            ["Audit trail that records why an agent acted", f.auditSize > 0 ? "met" : "missing",
             "tamper-evident log with decisions, determining policies and reasons; \(verified)", "Zero Trust for AI agents (five additions)"],
            ["A kill switch, documented and tested", (f.kills ?? 0) > 0 ? "met" : "partial",
             "kill switch built in (portcullis kill); \(f.kills ?? 0) kills in the last \(f.days) days" + ((f.kills ?? 0) == 0 ? ": test it" : ""),
             "Zero Trust for AI agents (kill switch)"],
            ["Behavioural baselines and anomaly detection", "met",
             "monitor running; \(f.alerts.count) alerts, \(f.timesToResponse.count) automatic responses", "Zero Trust for AI Agents at ATARC ZT4"],
            ["Access reviews on the human cycle (every 90 days)", n == 0 ? "missing" : onTime == n && reviewed == n ? "met" : onTime == 0 ? "missing" : "partial",
             "\(onTime) of \(n) agents within their review date; \(reviewed) reviewed at least once", "Zero trust for AI agents (enterprise identity problem)"],
            ["Credentials from a vault, never in the agent", "met",
             "\(f.credentials.count) upstream credentials sealed in the vault and injected by the gateway", "Zero trust for AI agents (enterprise identity problem)"],
        ]
        return ReportTable(name: "maturity", generatedAt: f.now, columns: ["practice", "level", "evidence", "source"],
                           rows: rows.map { $0.map(ReportTable.Cell.text) })
    }

    static func median(_ sorted: [Double]) -> ReportTable.Cell {
        guard !sorted.isEmpty else { return .none }
        let m = sorted.count / 2
        return .number(sorted.count % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2)
    }
}
