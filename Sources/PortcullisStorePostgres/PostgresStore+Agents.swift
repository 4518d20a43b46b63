import Foundation
public import PortcullisCore
import PostgresNIO

extension PostgresStore: AgentStore {
    public func create(_ agent: Agent, event: LifecycleEvent) async throws {
        try Self.check(event, isAbout: agent)
        let body = try StoredJSON.encode(agent), eventBody = try StoredJSON.encode(event)
        let keys = try StoredJSON.encode(agent.publicKeys.map(\.json))
        let logger = self.logger
        try await transaction("create agent \(agent.id)") { c in
            do {
                _ = try await c.rows("""
                    INSERT INTO agents (id, status, created_at, updated_at, public_keys, body)
                    VALUES (\(agent.id), \(agent.status.rawValue), \(agent.createdAt.timeIntervalSince1970),
                            \(agent.updatedAt.timeIntervalSince1970), \(keys), \(body))
                    """, logger: logger)
            } catch where Self.sqlState(error) == "23505" {
                throw PortcullisError(.conflict, "an agent with id \(agent.id) already exists")
            }
            try await Self.insert(event, body: eventBody, c, logger: logger)
        }
    }

    public func update(_ agent: Agent, event: LifecycleEvent) async throws {
        try await replace(agent, expected: nil, event: event)
    }

    /// Compare-and-set in one statement: the row changes only while its status and `updated_at` are still
    /// `expected`'s, whichever replica wrote last.
    public func update(_ agent: Agent, expected: Agent, event: LifecycleEvent) async throws {
        try await replace(agent, expected: expected, event: event)
    }

    /// Replaces the record (only from `expected` when given) and records the event, in one transaction.
    private func replace(_ agent: Agent, expected: Agent?, event: LifecycleEvent) async throws {
        try Self.check(event, isAbout: agent)
        let body = try StoredJSON.encode(agent), eventBody = try StoredJSON.encode(event)
        let keys = try StoredJSON.encode(agent.publicKeys.map(\.json))
        // NULLs match any status and time: the plain update.
        let status = expected?.status.rawValue, updatedAt = expected?.updatedAt.timeIntervalSince1970
        let logger = self.logger
        try await transaction("update agent \(agent.id)") { c in
            let changed = try await c.rows("""
                UPDATE agents SET status = \(agent.status.rawValue), created_at = \(agent.createdAt.timeIntervalSince1970),
                    updated_at = \(agent.updatedAt.timeIntervalSince1970), public_keys = \(keys), body = \(body)
                WHERE id = \(agent.id) AND (\(status)::text IS NULL OR status = \(status))
                    AND (\(updatedAt)::double precision IS NULL OR updated_at = \(updatedAt))
                RETURNING 1
                """, logger: logger)
            if changed.isEmpty {
                let current = try await c.rows("SELECT status FROM agents WHERE id = \(agent.id)", logger: logger)
                guard let row = current.first else { throw PortcullisError(.notFound, "no agent with id \(agent.id)") }
                let now = try row.decode(String.self)
                throw PortcullisError(.concurrentUpdate, "agent \(agent.id) changed concurrently (now \(now)); read it again")
            }
            try await Self.insert(event, body: eventBody, c, logger: logger)
        }
    }

    public func agent(id: String) async throws -> Agent? {
        try await rows("read agent \(id)", "SELECT public_keys, body FROM agents WHERE id = \(id)").first.map(Self.agent)
    }

    public func agents(status: AgentStatus?) async throws -> [Agent] {
        try await rows("list agents", """
            SELECT public_keys, body FROM agents WHERE (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
            ORDER BY created_at, seq
            """).map(Self.agent)
    }

    static func agent(_ row: PostgresRow) throws -> Agent {
        let (keys, body) = try row.decode((String, String).self)
        var agent = try StoredJSON.decode(Agent.self, body, "an agent")
        agent.publicKeys = try StoredJSON.decode([String].self, keys, "agent \(agent.id)'s public keys").map(JWKJSON.init(json:))
        return agent
    }

    public func record(_ event: LifecycleEvent) async throws {
        let body = try StoredJSON.encode(event)
        let logger = self.logger
        try await transaction("record a \(event.kind.rawValue) event for agent \(event.agentID)") { c in
            do {
                try await Self.insert(event, body: body, c, logger: logger)
            } catch where Self.sqlState(error) == "23503" {
                throw PortcullisError(.notFound, "no agent with id \(event.agentID)")
            }
        }
    }

    public func events(agentID: String) async throws -> [LifecycleEvent] {
        try await rows("read the events of agent \(agentID)",
                       "SELECT id, body FROM lifecycle_events WHERE agent_id = \(agentID) ORDER BY at, id")
            .map { row in
                let (id, body) = try row.decode((Int64, String).self)
                var event = try StoredJSON.decode(LifecycleEvent.self, body, "an event of \(agentID)")
                event.id = id
                return event
            }
    }

    private static func insert(_ event: LifecycleEvent, body: String, _ c: PostgresConnection,
                               logger: Logger) async throws {
        _ = try await c.rows("""
            INSERT INTO lifecycle_events (agent_id, at, body)
            VALUES (\(event.agentID), \(event.at.timeIntervalSince1970), \(body))
            """, logger: logger)
    }

    private static func check(_ event: LifecycleEvent, isAbout agent: Agent) throws {
        guard event.agentID == agent.id else {
            throw PortcullisError(.invalidInput, "the event is about agent \(event.agentID), not \(agent.id)")
        }
    }
}
