import Foundation
import PortcullisCore
import Testing
@testable import PortcullisStore

@Suite("Agent store (SQLite and PostgreSQL)")
struct AgentStoreTests {
    @Test("a full agent reads back field for field, dates to the millisecond",
          arguments: StoreKind.allCases, [nil, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])
    func roundTrip(kind: StoreKind, configDigest: String?) async throws {
        let opened = try await kind.open()
        let agent = Fixtures.agent(configDigest: configDigest)
        try await opened.store.create(agent, event: Fixtures.registered(agent))

        let stored = try #require(try await opened.store.agent(id: agent.id))
        #expect(stored.datesMatch(agent))
        #expect(stored.withDates(of: agent) == agent)
        #expect(stored.publicKeys.map(\.json) == agent.publicKeys.map(\.json))
        #expect(stored.configDigest == configDigest)
    }

    @Test("a wall-clock date survives to the millisecond", arguments: StoreKind.allCases)
    func wallClockDate(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let agent = Fixtures.agent(createdAt: Date())
        try await opened.store.create(agent, event: Fixtures.registered(agent))

        let stored = try #require(try await opened.store.agent(id: agent.id))
        #expect(sameMillisecond(stored.createdAt, agent.createdAt))
    }

    @Test("an unknown id reads as nil", arguments: StoreKind.allCases)
    func missingAgent(kind: StoreKind) async throws {
        let opened = try await kind.open()
        #expect(try await opened.store.agent(id: "agt_nobody") == nil)
    }

    @Test("creating a duplicate id is a conflict and changes nothing", arguments: StoreKind.allCases)
    func duplicateCreate(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let agent = Fixtures.agent()
        try await opened.store.create(agent, event: Fixtures.registered(agent))
        var impostor = agent
        impostor.owner = "mallory@example.com"

        let error = await #expect(throws: PortcullisError.self) {
            try await opened.store.create(impostor, event: Fixtures.registered(impostor))
        }
        #expect(error?.code == .conflict)
        #expect(try await opened.store.agent(id: agent.id)?.owner == agent.owner)
        // The failed create's event was rolled back with it.
        #expect(try await opened.store.events(agentID: agent.id).count == 1)
    }

    @Test("updating a missing agent is notFound and records no event", arguments: StoreKind.allCases)
    func updateMissing(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let agent = Fixtures.agent(id: "agt_ghost")
        let event = LifecycleEvent(agentID: agent.id, kind: .updated, actor: "admin", reason: "edit",
                                   at: Fixtures.epoch)

        let error = await #expect(throws: PortcullisError.self) {
            try await opened.store.update(agent, event: event)
        }
        #expect(error?.code == .notFound)
        #expect(try await opened.store.events(agentID: agent.id).isEmpty)
    }

    @Test("an update replaces the record and adds its event", arguments: StoreKind.allCases)
    func update(kind: StoreKind) async throws {
        let opened = try await kind.open()
        var agent = Fixtures.agent()
        try await opened.store.create(agent, event: Fixtures.registered(agent))
        agent.status = .suspended
        agent.allowedScopes = []
        agent.publicKeys = []
        agent.configDigest = "abc"
        agent.updatedAt = Fixtures.epoch.addingTimeInterval(3_600.5)
        let event = LifecycleEvent(agentID: agent.id, kind: .suspended, actor: "secops", reason: "incident 42",
                                   details: #"{"ticket":42}"#, at: agent.updatedAt)

        try await opened.store.update(agent, event: event)

        let stored = try #require(try await opened.store.agent(id: agent.id))
        #expect(stored.datesMatch(agent))
        #expect(stored.withDates(of: agent) == agent)
        #expect(try await opened.store.events(agentID: agent.id).map(\.kind) == [.registered, .suspended])
    }

    @Test("an event about another agent is refused", arguments: StoreKind.allCases)
    func mismatchedEvent(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let agent = Fixtures.agent()
        let event = LifecycleEvent(agentID: "agt_other", kind: .registered, actor: "admin", reason: "typo",
                                   at: Fixtures.epoch)

        let error = await #expect(throws: PortcullisError.self) {
            try await opened.store.create(agent, event: event)
        }
        #expect(error?.code == .invalidInput)
        #expect(try await opened.store.agent(id: agent.id) == nil)
    }

    @Test("events come back oldest first, ties in recording order, with ids", arguments: StoreKind.allCases)
    func eventsOrdered(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let agent = Fixtures.agent()
        let t0 = agent.createdAt
        try await opened.store.create(agent, event: Fixtures.registered(agent))
        let drift = LifecycleEvent(agentID: agent.id, kind: .configurationDrift, actor: "token-service",
                                   reason: "digest mismatch", details: #"{"presented":"aa","pinned":"bb"}"#,
                                   at: t0.addingTimeInterval(20))
        let quarantine = LifecycleEvent(agentID: agent.id, kind: .quarantined, actor: "token-service",
                                        reason: "drift", at: t0.addingTimeInterval(20))
        let backdated = LifecycleEvent(agentID: agent.id, kind: .updated, actor: "admin", reason: "backfill",
                                       at: t0.addingTimeInterval(10))
        try await opened.store.record(drift)
        try await opened.store.record(quarantine)
        try await opened.store.record(backdated)

        let events = try await opened.store.events(agentID: agent.id)
        #expect(events.map(\.kind) == [.registered, .updated, .configurationDrift, .quarantined])
        #expect(events.allSatisfy { $0.id != nil })
        #expect(events[2].details == drift.details)
        #expect(sameMillisecond(events[2].at, drift.at))
        #expect(Set(events.compactMap(\.id)).count == 4)
    }

    @Test("recording an event for an unknown agent is notFound", arguments: StoreKind.allCases)
    func eventForMissingAgent(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let event = LifecycleEvent(agentID: "agt_ghost", kind: .configurationDrift, actor: "token-service",
                                   reason: "drift", at: Fixtures.epoch)

        let error = await #expect(throws: PortcullisError.self) { try await opened.store.record(event) }
        #expect(error?.code == .notFound)
    }

    @Test("agents(status:) filters by status and orders by creation", arguments: StoreKind.allCases)
    func agentsByStatus(kind: StoreKind) async throws {
        let opened = try await kind.open()
        // Created out of order on purpose.
        let agents = [
            Fixtures.agent(id: "agt_c", createdAt: Fixtures.epoch.addingTimeInterval(30), status: .active),
            Fixtures.agent(id: "agt_a", createdAt: Fixtures.epoch.addingTimeInterval(10), status: .active),
            Fixtures.agent(id: "agt_b", createdAt: Fixtures.epoch.addingTimeInterval(20), status: .suspended),
        ]
        for agent in agents {
            try await opened.store.create(agent, event: Fixtures.registered(agent))
        }

        #expect(try await opened.store.agents(status: nil).map(\.id) == ["agt_a", "agt_b", "agt_c"])
        #expect(try await opened.store.agents(status: .active).map(\.id) == ["agt_a", "agt_c"])
        #expect(try await opened.store.agents(status: .suspended).map(\.id) == ["agt_b"])
        #expect(try await opened.store.agents(status: .decommissioned).isEmpty)
    }
}
