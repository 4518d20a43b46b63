import Foundation
public import PortcullisCore
import PostgresNIO

extension PostgresStore: ToolStore {
    public func tools() async throws -> [ToolRecord] {
        try await rows("list tools", "SELECT body FROM tools ORDER BY qualified_name")
            .map { try StoredJSON.decode(ToolRecord.self, try $0.decode(String.self), "a tool") }
    }

    public func tool(qualifiedName: String) async throws -> ToolRecord? {
        try await rows("read tool \(qualifiedName)", "SELECT body FROM tools WHERE qualified_name = \(qualifiedName)").first
            .map { try StoredJSON.decode(ToolRecord.self, try $0.decode(String.self), "tool \(qualifiedName)") }
    }

    public func saveTool(_ tool: ToolRecord) async throws {
        let body = try StoredJSON.encode(tool)
        _ = try await rows("save tool \(tool.qualifiedName)", """
            INSERT INTO tools (qualified_name, body) VALUES (\(tool.qualifiedName), \(body))
            ON CONFLICT (qualified_name) DO UPDATE SET body = EXCLUDED.body
            """)
    }
}

/// Approvals, approvers, baselines, risk states and alerts.
extension PostgresStore: ApprovalStore, MonitorStore {
    // MARK: - Approvals

    public func saveApproval(_ a: Approval) async throws {
        let body = try StoredJSON.encode(a)
        _ = try await rows("save approval \(a.id)", """
            INSERT INTO approvals (id, agent_id, tool, arguments_digest, session, status, created_at, body)
            VALUES (\(a.id), \(a.agentID), \(a.tool), \(a.argumentsDigest), \(a.session), \(a.status.rawValue),
                    \(a.createdAt.timeIntervalSince1970), \(body))
            ON CONFLICT (id) DO UPDATE SET agent_id = EXCLUDED.agent_id, tool = EXCLUDED.tool,
                arguments_digest = EXCLUDED.arguments_digest, session = EXCLUDED.session, status = EXCLUDED.status,
                created_at = EXCLUDED.created_at, body = EXCLUDED.body
            """)
    }

    public func approval(id: String) async throws -> Approval? {
        try await rows("read approval \(id)", "SELECT body FROM approvals WHERE id = \(id)").first
            .map { try StoredJSON.decode(Approval.self, try $0.decode(String.self), "approval \(id)") }
    }

    public func approvals(status: Approval.Status?, agentID: String?, limit: Int) async throws -> [Approval] {
        // NULL parameters match everything: one statement instead of four spellings.
        try await rows("list approvals", """
            SELECT body FROM approvals
            WHERE (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
              AND (\(agentID)::text IS NULL OR agent_id = \(agentID))
            ORDER BY created_at DESC, id DESC LIMIT \(max(0, limit))
            """).map { try StoredJSON.decode(Approval.self, try $0.decode(String.self), "an approval") }
    }

    public func approvals(binding b: Approval.Binding) async throws -> [Approval] {
        try await rows("find approvals", """
            SELECT body FROM approvals
            WHERE agent_id = \(b.agentID) AND tool = \(b.tool) AND arguments_digest = \(b.argumentsDigest)
              AND session = \(b.session)
            ORDER BY created_at DESC, id DESC LIMIT 20
            """).map { try StoredJSON.decode(Approval.self, try $0.decode(String.self), "an approval") }
    }

    /// Compare-and-set on the status: of two replicas consuming one approval, exactly one gets a row back.
    public func updateApproval(_ a: Approval, expecting expected: Approval.Status) async throws -> Bool {
        let body = try StoredJSON.encode(a)
        return try await rows("update approval \(a.id)", """
            UPDATE approvals SET status = \(a.status.rawValue), body = \(body)
            WHERE id = \(a.id) AND status = \(expected.rawValue) RETURNING 1
            """).count == 1
    }

    // MARK: - Approvers

    public func saveApprover(_ a: Approver) async throws {
        let logger = self.logger
        try await transaction("save approver \(a.name)") { c in
            do {
                _ = try await c.rows("""
                    INSERT INTO approvers (name, token_digest, created_at, created_by, role)
                    VALUES (\(a.name), \(a.tokenDigest), \(a.createdAt.timeIntervalSince1970), \(a.createdBy), \(a.role.rawValue))
                    """, logger: logger)
            } catch where Self.sqlState(error) == "23505" {
                throw PortcullisError(.conflict, "approver `\(a.name)` already exists")
            }
        }
    }

    public func approvers() async throws -> [Approver] {
        try await rows("list approvers", "SELECT name, token_digest, created_at, created_by, role FROM approvers ORDER BY name")
            .map(Self.approver)
    }

    public func approver(tokenDigest: String) async throws -> Approver? {
        try await rows("find an approver", """
            SELECT name, token_digest, created_at, created_by, role FROM approvers WHERE token_digest = \(tokenDigest)
            """).first.map(Self.approver)
    }

    public func removeApprover(name: String) async throws -> Bool {
        try await rows("remove approver \(name)", "DELETE FROM approvers WHERE name = \(name) RETURNING 1").count == 1
    }

    static func approver(_ row: PostgresRow) throws -> Approver {
        let (name, digest, at, by, roleText) = try row.decode((String, String, Double, String, String).self)
        guard let role = Approver.Role(rawValue: roleText) else {
            throw PortcullisError(.storage, "the stored role `\(roleText)` of a person is unknown to this release")
        }
        return Approver(name: name, tokenDigest: digest, createdAt: Date(timeIntervalSince1970: at), createdBy: by, role: role)
    }

    // MARK: - Monitoring

    public func baseline(agentID: String) async throws -> AgentBaseline? {
        try await rows("read the baseline of \(agentID)", "SELECT body FROM baselines WHERE agent_id = \(agentID)").first
            .map { try StoredJSON.decode(AgentBaseline.self, try $0.decode(String.self), "the baseline of \(agentID)") }
    }

    public func saveBaselines(_ baselines: [AgentBaseline]) async throws {
        guard !baselines.isEmpty else { return }
        let rows = try baselines.map { ($0.agentID, try StoredJSON.encode($0), $0.updatedAt.timeIntervalSince1970) }
        let logger = self.logger
        try await transaction("save \(baselines.count) baselines") { c in
            for (id, body, at) in rows {
                _ = try await c.rows("""
                    INSERT INTO baselines (agent_id, updated_at, body) VALUES (\(id), \(at), \(body))
                    ON CONFLICT (agent_id) DO UPDATE SET updated_at = EXCLUDED.updated_at, body = EXCLUDED.body
                    """, logger: logger)
            }
        }
    }

    public func riskStates() async throws -> [AgentRiskState] {
        try await rows("read risk states", "SELECT body FROM risk_states ORDER BY agent_id")
            .map { try StoredJSON.decode(AgentRiskState.self, try $0.decode(String.self), "a risk state") }
    }

    public func saveRiskState(_ state: AgentRiskState) async throws {
        let body = try StoredJSON.encode(state)
        _ = try await rows("save the risk state of \(state.agentID)", """
            INSERT INTO risk_states (agent_id, body) VALUES (\(state.agentID), \(body))
            ON CONFLICT (agent_id) DO UPDATE SET body = EXCLUDED.body
            """)
    }

    public func appendAlert(_ alert: MonitorAlert) async throws {
        let body = try StoredJSON.encode(alert)
        _ = try await rows("record alert \(alert.id)", """
            INSERT INTO alerts (id, agent_id, at, body)
            VALUES (\(alert.id), \(alert.agentID), \(alert.at.timeIntervalSince1970), \(body))
            """)
    }

    public func alerts(agentID: String?, limit: Int) async throws -> [MonitorAlert] {
        try await rows("list alerts", """
            SELECT body FROM alerts WHERE (\(agentID)::text IS NULL OR agent_id = \(agentID))
            ORDER BY seq DESC LIMIT \(max(0, limit))
            """).map { try StoredJSON.decode(MonitorAlert.self, try $0.decode(String.self), "an alert") }
    }
}
