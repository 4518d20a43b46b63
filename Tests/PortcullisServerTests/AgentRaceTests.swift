import Foundation
import PortcullisCore
import Testing
@testable import PortcullisServer

@Suite("No lost update un-suspends an agent")
struct AgentRaceTests {
    @Test("updates racing a suspension never write the old status back")
    func updatesRacingASuspension() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let registry = node.services.registry
        let agent = try await registry.register(AgentRegistry.Registration(
            name: "racer", owner: "o@example.com", purpose: "p", modelProvider: "m", model: "m", modelVersion: "1"), actor: "admin")
        for round in 0..<5 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        var u = AgentRegistry.Update()
                        u.purpose = "round \(round) update \(i)"
                        _ = try await registry.update(id: agent.id, u, actor: "admin")
                    }
                }
                group.addTask { _ = try await registry.transition(id: agent.id, .suspend, actor: "admin", reason: "race \(round)") }
                try await group.waitForAll()
            }
            let after = try await registry.existing(agent.id)
            #expect(after.status == .suspended, "round \(round): \(after.status)")
            _ = try await registry.transition(id: agent.id, .resume, actor: "admin", reason: "next round")
        }
    }

    @Test("a write computed from a stale read is refused by the store")
    func compareAndSet() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let registry = node.services.registry
        let agent = try await registry.register(AgentRegistry.Registration(
            name: "cas", owner: "o@example.com", purpose: "p", modelProvider: "m", model: "m", modelVersion: "1"), actor: "admin")
        let stale = try await registry.existing(agent.id)
        _ = try await registry.transition(id: agent.id, .suspend, actor: "admin", reason: "stop")
        var revived = stale
        revived.purpose = "changed"
        revived.updatedAt = Date()
        await #expect(throws: PortcullisError.self) {
            try await registry.agents.update(revived, expected: stale, event: LifecycleEvent(
                agentID: agent.id, kind: .updated, actor: "admin", reason: "stale", at: revived.updatedAt))
        }
        #expect(try await registry.existing(agent.id).status == .suspended)
    }
}
