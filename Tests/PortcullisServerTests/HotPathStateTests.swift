import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisCore
import PortcullisIdentity
import Synchronization
import Testing
@testable import PortcullisServer

@Suite("Agent and token state in memory, in force before the admin call returns")
struct HotPathStateTests {

    /// Issues a token for the whole gateway (`<issuer>/mcp`, scope `mcp`) to a fresh agent.
    func token(_ node: TestNode, _ client: some TestClientProtocol) async throws -> (id: String, token: String) {
        try await node.mcpAgent(client)
    }

    func check(_ node: TestNode, _ token: String) async -> OAuthError? { await node.refusal(of: token) }

    @Test("after the first request the check reads memory; a suspension is in force when its call returns")
    func suspension() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        try await node.app().test(.router) { client in
            let (id, token) = try await token(node, client)
            #expect(await check(node, token) == nil)
            let before = node.services.state.statistics
            for _ in 0..<10 { #expect(await check(node, token) == nil) }
            let after = node.services.state.statistics
            #expect(after.misses == before.misses && after.hits >= before.hits + 10)
            try await client.execute(uri: "/admin/agents/\(id)/suspend", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: #"{"reason":"incident"}"#)) { #expect($0.status == .ok) }
            let refused = await check(node, token)
            #expect(refused?.description.contains("suspended") == true || refused?.description.contains("not active") == true)
        }
    }

    @Test("a revocation and a kill are in force when their calls return")
    func revocationAndKill() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        try await node.app().test(.router) { client in
            let (_, revoked) = try await token(node, client)
            #expect(await check(node, revoked) == nil)
            try await client.execute(uri: "/oauth/revoke", method: .post, headers: [.contentType: "application/x-www-form-urlencoded", .authorization: "Bearer \(node.services.adminToken)"],
                                     body: TestNode.form(["token": revoked])) { #expect($0.status == .ok) }
            #expect(await check(node, revoked) != nil)
            let (id, killed) = try await token(node, client)
            #expect(await check(node, killed) == nil)
            try await client.execute(uri: "/admin/agents/\(id)/kill", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: #"{"reason":"stop now"}"#)) { #expect($0.status == .ok) }
            #expect(await check(node, killed) != nil)
        }
    }

    @Test("a change published while a read was in flight is not overwritten by that read")
    func raceWithAnInvalidation() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let feed = LocalChangeFeed()
        let slow = SlowAgents(inner: node.services.registry.agents)
        let cache = StateCache(agents: slow, tokens: node.services.tokenService.tokens, feed: feed)
        let agent = try await node.services.registry.register(AgentRegistry.Registration(
            name: "c", owner: "o@example.com", purpose: "p", modelProvider: "m", model: "m", modelVersion: "1"), actor: "admin")
        async let stale = cache.agent(id: agent.id)
        try await Task.sleep(for: .milliseconds(50))
        _ = try await node.services.registry.transition(id: agent.id, .suspend, actor: "admin", reason: "r")
        await feed.publish(.agent(agent.id))
        #expect(try await stale?.status == .active)
        #expect(try await cache.agent(id: agent.id)?.status == .suspended)
    }

    @Test("an agent announced killed reads as killed before its record says so, until its record changes")
    func killAnnouncedBeforeTheStore() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let feed = LocalChangeFeed()
        let cache = StateCache(agents: node.services.registry.agents, tokens: node.services.tokenService.tokens, feed: feed)
        let agent = try await node.services.registry.register(AgentRegistry.Registration(
            name: "k", owner: "o@example.com", purpose: "p", modelProvider: "m", model: "m", modelVersion: "1"), actor: "admin")
        #expect(try await cache.agent(id: agent.id)?.status == .active)
        // Another replica's kill switch acted; the store still says active.
        await feed.publish(.killed([agent.id]))
        #expect(try await node.services.registry.agents.agent(id: agent.id)?.status == .active)
        #expect(try await cache.agent(id: agent.id)?.status == .killed)
        #expect(try await cache.agent(id: agent.id)?.status == .killed, "and again, from memory")
        // A later change to the record (a resume, or the kill reaching the store) is the truth again.
        await feed.publish(.agent(agent.id))
        #expect(try await cache.agent(id: agent.id)?.status == .active)
    }

    @Test("a cache whose feed cannot vouch serves nothing, not even what it holds")
    func unvouchedFeedRefuses() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let feed = SwitchableFeed()
        let cache = StateCache(agents: node.services.registry.agents, tokens: node.services.tokenService.tokens, feed: feed)
        let agent = try await node.services.registry.register(AgentRegistry.Registration(
            name: "v", owner: "o@example.com", purpose: "p", modelProvider: "m", model: "m", modelVersion: "1"), actor: "admin")
        #expect(try await cache.agent(id: agent.id)?.status == .active)
        feed.fresh.withLock { $0 = false }
        let error = await #expect(throws: StaleReplica.self) { try await cache.agent(id: agent.id) }
        #expect(error?.description.contains("cannot vouch") == true)
        feed.fresh.withLock { $0 = true }
        #expect(try await cache.agent(id: agent.id)?.status == .active)
    }
}

/// A feed a test cuts off.
final class SwitchableFeed: ChangeFeed {
    let fresh = Mutex(true)
    let inner = LocalChangeFeed()
    func publish(_ change: StateChange) async { await inner.publish(change) }
    func subscribe(_ handler: @escaping @Sendable (StateChange) -> Void) { inner.subscribe(handler) }
    func vouch() throws {
        guard fresh.withLock({ $0 }) else { throw StaleReplica("this replica cannot vouch for its state (test)") }
    }
}

/// An agent store whose reads take a while (to race an invalidation).
final class SlowAgents: AgentStore {
    let inner: any AgentStore
    init(inner: any AgentStore) { self.inner = inner }
    func create(_ agent: Agent, event: LifecycleEvent) async throws { try await inner.create(agent, event: event) }
    func update(_ agent: Agent, event: LifecycleEvent) async throws { try await inner.update(agent, event: event) }
    func update(_ agent: Agent, expected: Agent, event: LifecycleEvent) async throws {
        try await inner.update(agent, expected: expected, event: event)
    }
    func agent(id: String) async throws -> Agent? {
        let a = try await inner.agent(id: id)
        try await Task.sleep(for: .milliseconds(200))
        return a
    }
    func agents(status: AgentStatus?) async throws -> [Agent] { try await inner.agents(status: status) }
    func record(_ event: LifecycleEvent) async throws { try await inner.record(event) }
    func events(agentID: String) async throws -> [LifecycleEvent] { try await inner.events(agentID: agentID) }
}
