import Foundation
import GRDB
public import PortcullisCore

/// Approvals, approvers, baselines, risk states and alerts (issue #6). Records are kept as JSON
/// bodies next to the columns that lookups need.
extension SQLiteStore: ApprovalStore, MonitorStore {
    static func encodeBody<T: Encodable>(_ value: T) throws -> String { try StoredJSON.encode(value) }

    static func decodeBody<T: Decodable>(_ type: T.Type, _ text: String, _ what: String) throws -> T {
        try StoredJSON.decode(type, text, what)
    }

    // MARK: - Approvals

    public func saveApproval(_ a: Approval) async throws {
        let body = try Self.encodeBody(a)
        try await write("save approval \(a.id)") { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO approvals (id, agent_id, tool, arguments_digest, session, status, created_at, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [a.id, a.agentID, a.tool, a.argumentsDigest, a.session, a.status.rawValue,
                                 a.createdAt.timeIntervalSince1970, body])
        }
    }

    public func approval(id: String) async throws -> Approval? {
        try await read("read approval \(id)") { db in
            try String.fetchOne(db, sql: "SELECT body FROM approvals WHERE id = ?", arguments: [id])
                .map { try Self.decodeBody(Approval.self, $0, "approval \(id)") }
        }
    }

    public func approvals(status: Approval.Status?, agentID: String?, limit: Int) async throws -> [Approval] {
        var sql = "SELECT body FROM approvals"
        var clauses: [String] = []
        var values: StatementArguments = []
        if let status { clauses.append("status = ?"); values += [status.rawValue] }
        if let agentID { clauses.append("agent_id = ?"); values += [agentID] }
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        values += [max(0, limit)]
        let finalSQL = sql
        let finalValues = values
        return try await read("list approvals") { db in
            try String.fetchAll(db, sql: finalSQL, arguments: finalValues).map { try Self.decodeBody(Approval.self, $0, "an approval") }
        }
    }

    public func approvals(binding b: Approval.Binding) async throws -> [Approval] {
        try await read("find approvals") { db in
            try String.fetchAll(db, sql: """
                SELECT body FROM approvals WHERE agent_id = ? AND tool = ? AND arguments_digest = ? AND session = ?
                ORDER BY created_at DESC, id DESC LIMIT 20
                """, arguments: [b.agentID, b.tool, b.argumentsDigest, b.session])
                .map { try Self.decodeBody(Approval.self, $0, "an approval") }
        }
    }

    public func updateApproval(_ a: Approval, expecting expected: Approval.Status) async throws -> Bool {
        let body = try Self.encodeBody(a)
        return try await write("update approval \(a.id)") { db in
            try db.execute(sql: "UPDATE approvals SET status = ?, body = ? WHERE id = ? AND status = ?",
                           arguments: [a.status.rawValue, body, a.id, expected.rawValue])
            return db.changesCount == 1
        }
    }

    // MARK: - Approvers

    public func saveApprover(_ a: Approver) async throws {
        try await write("save approver \(a.name)") { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM approvers WHERE name = ?", arguments: [a.name]) == true {
                throw PortcullisError(.conflict, "approver `\(a.name)` already exists")
            }
            try db.execute(sql: "INSERT INTO approvers (name, token_digest, created_at, created_by, role) VALUES (?, ?, ?, ?, ?)",
                           arguments: [a.name, a.tokenDigest, a.createdAt.timeIntervalSince1970, a.createdBy, a.role.rawValue])
        }
    }

    public func approvers() async throws -> [Approver] {
        try await read("list approvers") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM approvers ORDER BY name").map(Self.approver(from:))
        }
    }

    public func approver(tokenDigest: String) async throws -> Approver? {
        try await read("find an approver") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM approvers WHERE token_digest = ?", arguments: [tokenDigest])
                .map(Self.approver(from:))
        }
    }

    public func removeApprover(name: String) async throws -> Bool {
        try await write("remove approver \(name)") { db in
            try db.execute(sql: "DELETE FROM approvers WHERE name = ?", arguments: [name])
            return db.changesCount == 1
        }
    }

    static func approver(from row: Row) throws -> Approver {
        let roleText: String = try row.decode(forColumn: "role")
        guard let role = Approver.Role(rawValue: roleText) else {
            throw PortcullisError(.storage, "the stored role `\(roleText)` of a person is unknown to this release")
        }
        return Approver(name: try row.decode(forColumn: "name"), tokenDigest: try row.decode(forColumn: "token_digest"),
                        createdAt: Date(timeIntervalSince1970: try row.decode(forColumn: "created_at")),
                        createdBy: try row.decode(forColumn: "created_by"), role: role)
    }

    // MARK: - Monitoring

    public func baseline(agentID: String) async throws -> AgentBaseline? {
        try await read("read the baseline of \(agentID)") { db in
            try String.fetchOne(db, sql: "SELECT body FROM baselines WHERE agent_id = ?", arguments: [agentID])
                .map { try Self.decodeBody(AgentBaseline.self, $0, "the baseline of \(agentID)") }
        }
    }

    public func saveBaselines(_ baselines: [AgentBaseline]) async throws {
        guard !baselines.isEmpty else { return }
        let rows = try baselines.map { ($0.agentID, try Self.encodeBody($0), $0.updatedAt.timeIntervalSince1970) }
        try await write("save \(baselines.count) baselines") { db in
            for (id, body, at) in rows {
                try db.execute(sql: "INSERT OR REPLACE INTO baselines (agent_id, body, updated_at) VALUES (?, ?, ?)",
                               arguments: [id, body, at])
            }
        }
    }

    public func riskStates() async throws -> [AgentRiskState] {
        try await read("read risk states") { db in
            try String.fetchAll(db, sql: "SELECT body FROM risk_states").map { try Self.decodeBody(AgentRiskState.self, $0, "a risk state") }
        }
    }

    public func saveRiskState(_ state: AgentRiskState) async throws {
        let body = try Self.encodeBody(state)
        try await write("save the risk state of \(state.agentID)") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO risk_states (agent_id, body) VALUES (?, ?)", arguments: [state.agentID, body])
        }
    }

    public func appendAlert(_ alert: MonitorAlert) async throws {
        let body = try Self.encodeBody(alert)
        try await write("record alert \(alert.id)") { db in
            try db.execute(sql: "INSERT INTO alerts (id, agent_id, at, body) VALUES (?, ?, ?, ?)",
                           arguments: [alert.id, alert.agentID, alert.at.timeIntervalSince1970, body])
        }
    }

    public func alerts(agentID: String?, limit: Int) async throws -> [MonitorAlert] {
        let n = max(0, limit)
        return try await read("list alerts") { db in
            let bodies = if let agentID {
                try String.fetchAll(db, sql: "SELECT body FROM alerts WHERE agent_id = ? ORDER BY seq DESC LIMIT ?",
                                    arguments: [agentID, n])
            } else {
                try String.fetchAll(db, sql: "SELECT body FROM alerts ORDER BY seq DESC LIMIT ?", arguments: [n])
            }
            return try bodies.map { try Self.decodeBody(MonitorAlert.self, $0, "an alert") }
        }
    }
}
