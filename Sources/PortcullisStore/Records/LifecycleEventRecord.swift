import Foundation
import GRDB
import PortcullisCore

/// A row of the `lifecycle_events` table; the id is assigned by SQLite on insert.
struct LifecycleEventRecord {
    var event: LifecycleEvent
}

extension LifecycleEventRecord: FetchableRecord, PersistableRecord {
    static let databaseTableName = "lifecycle_events"

    /// The columns that queries filter and order on.
    enum Columns {
        static let id = Column("id")
        static let agentID = Column("agent_id")
        static let at = Column("at")
    }

    init(row: Row) throws {
        let id: Int64 = try row.decode(forColumn: "id")
        let kindText: String = try row.decode(forColumn: "kind")
        guard let kind = LifecycleEvent.Kind(rawValue: kindText) else {
            throw PortcullisError(.storage, "lifecycle event \(id) has an unknown kind '\(kindText)'")
        }
        event = LifecycleEvent(
            id: id,
            agentID: try row.decode(forColumn: "agent_id"),
            kind: kind,
            actor: try row.decode(forColumn: "actor"),
            reason: try row.decode(forColumn: "reason"),
            details: try row.decode(forColumn: "details"),
            at: Date(timeIntervalSince1970: try row.decode(forColumn: "at"))
        )
    }

    func encode(to container: inout PersistenceContainer) throws {
        // The store assigns ids: an id set by the caller would be ignored anyway.
        container["agent_id"] = event.agentID
        container["kind"] = event.kind.rawValue
        container["actor"] = event.actor
        container["reason"] = event.reason
        container["details"] = event.details
        container["at"] = event.at.timeIntervalSince1970
    }
}
