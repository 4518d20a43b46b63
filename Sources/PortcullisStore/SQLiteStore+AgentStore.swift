import Foundation
import GRDB
public import PortcullisCore

extension SQLiteStore: AgentStore {
    /// Inserts a new agent and its `registered` event in one transaction.
    ///
    /// - Throws: ``PortcullisError`` `.conflict` when an agent with this id exists,
    ///   `.invalidInput` when the event is about another agent, `.storage` on a database failure.
    public func create(_ agent: Agent, event: LifecycleEvent) async throws {
        try Self.check(event, isAbout: agent)
        try await write("create agent \(agent.id)") { db in
            do {
                try AgentRecord(agent: agent).insert(db)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw PortcullisError(.conflict, "an agent with id \(agent.id) already exists")
            }
            try LifecycleEventRecord(event: event).insert(db)
        }
    }

    /// Replaces an agent's record and records the event in one transaction.
    ///
    /// - Throws: ``PortcullisError`` `.notFound` when no agent has this id,
    ///   `.invalidInput` when the event is about another agent, `.storage` on a database failure.
    public func update(_ agent: Agent, event: LifecycleEvent) async throws {
        try Self.check(event, isAbout: agent)
        try await write("update agent \(agent.id)") { db in
            do {
                try AgentRecord(agent: agent).update(db)
            } catch RecordError.recordNotFound {
                throw PortcullisError(.notFound, "no agent with id \(agent.id)")
            }
            try LifecycleEventRecord(event: event).insert(db)
        }
    }

    /// Compare-and-set: replaces the record only if its status and `updated_at` are still `expected`'s,
    /// checked and written in one transaction (SQLite has one writer, so nothing can slip between).
    ///
    /// - Throws: ``PortcullisError`` `.concurrentUpdate` when the record changed, `.notFound`, `.storage`.
    public func update(_ agent: Agent, expected: Agent, event: LifecycleEvent) async throws {
        try Self.check(event, isAbout: agent)
        try await write("update agent \(agent.id)") { db in
            guard let current = try AgentRecord.fetchOne(db, key: agent.id)?.agent else {
                throw PortcullisError(.notFound, "no agent with id \(agent.id)")
            }
            guard current.status == expected.status,
                  current.updatedAt.timeIntervalSince1970 == expected.updatedAt.timeIntervalSince1970 else {
                throw PortcullisError(.concurrentUpdate, "agent \(agent.id) changed concurrently (now \(current.status.rawValue)); read it again")
            }
            try AgentRecord(agent: agent).update(db)
            try LifecycleEventRecord(event: event).insert(db)
        }
    }

    /// The agent with this id, or nil.
    ///
    /// - Throws: ``PortcullisError`` `.storage` on a database failure.
    public func agent(id: String) async throws -> Agent? {
        try await read("read agent \(id)") { db in
            try AgentRecord.fetchOne(db, key: id)?.agent
        }
    }

    /// All agents, or only those in `status`, ordered by creation date.
    ///
    /// - Throws: ``PortcullisError`` `.storage` on a database failure.
    public func agents(status: AgentStatus?) async throws -> [Agent] {
        try await read("list agents") { db in
            var request = AgentRecord.all()
            if let status {
                request = request.filter(AgentRecord.Columns.status == status.rawValue)
            }
            return try request
                .order(AgentRecord.Columns.createdAt, Column.rowID)
                .fetchAll(db)
                .map(\.agent)
        }
    }

    /// Records an event that does not change the agent's record (e.g. configuration drift).
    ///
    /// - Throws: ``PortcullisError`` `.notFound` when the event's agent does not exist,
    ///   `.storage` on a database failure.
    public func record(_ event: LifecycleEvent) async throws {
        try await write("record a \(event.kind.rawValue) event for agent \(event.agentID)") { db in
            do {
                try LifecycleEventRecord(event: event).insert(db)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
                throw PortcullisError(.notFound, "no agent with id \(event.agentID)")
            }
        }
    }

    /// An agent's events, oldest first (ties in time keep the order of recording).
    ///
    /// - Throws: ``PortcullisError`` `.storage` on a database failure.
    public func events(agentID: String) async throws -> [LifecycleEvent] {
        try await read("read the events of agent \(agentID)") { db in
            try LifecycleEventRecord
                .filter(LifecycleEventRecord.Columns.agentID == agentID)
                .order(LifecycleEventRecord.Columns.at, LifecycleEventRecord.Columns.id)
                .fetchAll(db)
                .map(\.event)
        }
    }

    /// Refuses an event recorded alongside a record it is not about.
    private static func check(_ event: LifecycleEvent, isAbout agent: Agent) throws {
        guard event.agentID == agent.id else {
            throw PortcullisError(
                .invalidInput, "the event is about agent \(event.agentID), not \(agent.id)")
        }
    }
}
