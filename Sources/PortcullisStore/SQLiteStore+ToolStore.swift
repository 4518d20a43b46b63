import Foundation
import GRDB
public import PortcullisCore

extension SQLiteStore: ToolStore {
    public func tools() async throws -> [ToolRecord] {
        try await read("list tools") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tools ORDER BY qualified_name").map(Self.tool(from:))
        }
    }

    public func tool(qualifiedName: String) async throws -> ToolRecord? {
        try await read("read tool \(qualifiedName)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tools WHERE qualified_name = ?", arguments: [qualifiedName])
                .map(Self.tool(from:))
        }
    }

    public func saveTool(_ t: ToolRecord) async throws {
        try await write("save tool \(t.qualifiedName)") { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO tools (qualified_name, upstream, name, definition, definition_hash, pinned_hash,
                    status, effect, risk, data_class, tags, findings, first_seen_at, updated_at, approved_by, approved_at,
                    classified_by, pinned_definition)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [
                    t.qualifiedName, t.upstream, t.name, t.definition, t.definitionHash, t.pinnedHash,
                    t.status.rawValue, t.effect.rawValue, t.risk, t.dataClass, try JSONColumn.encode(t.tags),
                    try JSONColumn.encode(t.findings), t.firstSeenAt.timeIntervalSince1970,
                    t.updatedAt.timeIntervalSince1970, t.approvedBy, t.approvedAt?.timeIntervalSince1970, t.classifiedBy,
                    t.pinnedDefinition,
                ])
        }
    }

    static func tool(from row: Row) throws -> ToolRecord {
        let name: String = try row.decode(forColumn: "qualified_name")
        let statusText: String = try row.decode(forColumn: "status")
        let effectText: String = try row.decode(forColumn: "effect")
        guard let status = ToolRecord.Status(rawValue: statusText), let effect = ToolRecord.Effect(rawValue: effectText)
        else { throw PortcullisError(.storage, "tool \(name) has an unknown status or effect") }
        let approvedAt: Double? = try row.decode(forColumn: "approved_at")
        return ToolRecord(
            qualifiedName: name, upstream: try row.decode(forColumn: "upstream"), name: try row.decode(forColumn: "name"),
            definition: try row.decode(forColumn: "definition"),
            definitionHash: try row.decode(forColumn: "definition_hash"),
            pinnedHash: try row.decode(forColumn: "pinned_hash"), status: status, effect: effect,
            risk: try row.decode(forColumn: "risk"), dataClass: try row.decode(forColumn: "data_class"),
            tags: try JSONColumn.decode(try row.decode(forColumn: "tags"), column: "tools.tags"),
            findings: try JSONColumn.decode(try row.decode(forColumn: "findings"), column: "tools.findings"),
            firstSeenAt: Date(timeIntervalSince1970: try row.decode(forColumn: "first_seen_at")),
            updatedAt: Date(timeIntervalSince1970: try row.decode(forColumn: "updated_at")),
            approvedBy: try row.decode(forColumn: "approved_by"), approvedAt: approvedAt.map(Date.init(timeIntervalSince1970:)),
            classifiedBy: try row.decode(forColumn: "classified_by"),
            pinnedDefinition: try row.decode(forColumn: "pinned_definition"))
    }
}
