import Foundation
import PortcullisCore
import Synchronization
import Testing
@testable import PortcullisStorePostgres

/// What only PostgreSQL does: replicas migrating at once, and the change feed between them.
@Suite("PostgreSQL replicas", .enabled(if: PostgresTestServer.url != nil))
struct PostgresReplicaTests {
    @Test("replicas starting together migrate once; a database a newer release migrated is refused")
    func migrations() async throws {
        let settings = try await PostgresTestServer.freshDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresStore.connect(settings) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(try await PostgresSchema.applied(stores[0]) == PostgresSchema.migrations.map(\.name))
        try await stores[0].run(sql: "INSERT INTO portcullis_migrations (name, applied_at) VALUES ('v99-future', 0)")
        let error = await #expect(throws: PortcullisError.self) { try await PostgresStore.connect(settings) }
        #expect(error?.reason.contains("v99-future") == true)
        for store in stores { store.close() }
    }

    @Test("an unreachable server is a .storage error naming the database, never a default")
    func unreachable() async throws {
        let settings = try PostgresSettings(url: "postgres://nobody@127.0.0.1:1/nothing?sslmode=disable")
        let error = await #expect(throws: PortcullisError.self) { try await PostgresStore.connect(settings) }
        #expect(error?.code == .storage)
        #expect(error?.reason.contains("127.0.0.1:1/nothing") == true)
    }

    @Test("settings: bad URLs are refused with the reason, the password never echoed")
    func settings() throws {
        for (url, fragment) in [("mysql://u@h/d", "postgres://"), ("postgres://h/d", "no user"),
                                ("postgres://u:secret@h/", "no database"), ("postgres://u@h/d?sslmode=maybe", "sslmode"),
                                ("postgres://u@h/d?options=x", "unknown parameter")] {
            let error = #expect(throws: PortcullisError.self) { try PostgresSettings(url: url) }
            #expect(error?.reason.contains(fragment) == true, "\(url): \(error?.reason ?? "")")
            #expect(error?.reason.contains("secret") == false)
        }
        let s = try PostgresSettings(url: "postgres://app:p%40ss@db.internal:6543/portcullis?sslmode=require")
        #expect(s.password == "p@ss" && s.port == 6543 && s.sslMode == "require")
        #expect(s.redacted == "postgres://app@db.internal:6543/portcullis")
        let socket = try PostgresSettings(url: "postgres://app@/portcullis?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql")
    }

    @Test("payloads round-trip, and a kill of many agents is split under the 8000-byte limit")
    func payloads() throws {
        let ids = (0..<2000).map { "agt_\($0)_" + String(repeating: "x", count: 10) }
        let changes: [StateChange] = [.agent("a|b"), .token("t"), .policies, .tool("git.log"), .approval("apr_1"), .all,
                                      .risk("agt_1"), .taint(TaintChange(agentID: "a|1", user: "u|x", kind: .source("mail.read", injected: true))),
                                      .taint(TaintChange(agentID: "a", user: nil, kind: .read("confidential"))),
                                      .taint(TaintChange(agentID: "a", user: nil, kind: .cleared)),
                                      .killed([]), .killed(["a"]), .killed(ids)]
        for change in changes {
            let payloads = PostgresChangeFeed.encode(change, node: "n1")
            #expect(payloads.allSatisfy { $0.utf8.count < 8000 })
            let decoded = payloads.compactMap(PostgresChangeFeed.decode)
            #expect(decoded.allSatisfy { $0.node == "n1" })
            if case .killed(let all) = change {
                let received = decoded.flatMap { d -> [String] in
                    if case .killed(let some) = d.change { return some }
                    return []
                }
                #expect(received == all)
            } else {
                #expect(decoded.map(\.change) == [change])
            }
        }
        #expect(PostgresChangeFeed.decode("c|n|unknown|x") == nil)
        #expect(PostgresChangeFeed.decode("garbage") == nil)
    }

    @Test("a change published on one replica reaches the other; a replica cut off from the feed refuses until it resynchronises")
    func feed() async throws {
        let settings = try await PostgresTestServer.freshDatabase()
        let storeA = try await PostgresStore.connect(settings), storeB = try await PostgresStore.connect(settings)
        let a = PostgresChangeFeed(store: storeA, node: "a", heartbeat: .milliseconds(50), staleAfter: .milliseconds(400))
        let b = PostgresChangeFeed(store: storeB, node: "b", heartbeat: .milliseconds(50), staleAfter: .milliseconds(400))
        let seen = Mutex<[StateChange]>([])
        let resyncs = Mutex(0)
        b.subscribe { change in seen.withLock { $0.append(change) } }
        b.onResynchronize { resyncs.withLock { $0 += 1 } }
        #expect(throws: StaleReplica.self) { try b.vouch() }
        a.start()
        b.start()
        try await waitUntil { (try? a.vouch()) != nil && (try? b.vouch()) != nil }
        #expect(resyncs.withLock { $0 } == 1)

        await a.publish(.killed(["agt_1", "agt_2"]))
        await a.publish(.token("jti_9"))
        try await waitUntil { seen.withLock { $0.contains(.token("jti_9")) } }
        #expect(seen.withLock { $0.filter { $0 != .all } } == [.killed(["agt_1", "agt_2"]), .token("jti_9")])

        // Cut b's listener: b refuses, then reconnects, resynchronises (every cache dropped) and vouches again.
        try await storeA.run(sql: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'portcullis-feed-b'")
        try await waitUntil { (try? b.vouch()) == nil }
        let error = #expect(throws: StaleReplica.self) { try b.vouch() }
        #expect(error?.description.contains("cannot vouch") == true)
        try await waitUntil { (try? b.vouch()) != nil }
        #expect(resyncs.withLock { $0 } == 2)
        #expect(seen.withLock { $0.filter { $0 == .all }.count } == 2)
        // And it still hears the other replica.
        await a.publish(.agent("agt_3"))
        try await waitUntil { seen.withLock { $0.contains(.agent("agt_3")) } }
        a.stop()
        b.stop()
        storeA.close()
        storeB.close()
    }

    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 10 s")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

@Suite("Shared rate limits", .enabled(if: PostgresTestServer.url != nil))
struct PostgresRateBudgetTests {
    @Test("three replicas taking concurrently from one bucket admit the burst plus the refill, never more")
    func noOvershoot() async throws {
        let settings = try await PostgresTestServer.freshDatabase()
        var budgets: [PostgresRateBudget] = []
        for _ in 0..<3 { budgets.append(PostgresRateBudget(store: try await PostgresStore.connect(settings))) }
        let now = Date(timeIntervalSince1970: 1_000_000)
        // 60 per minute, burst 30: at a fixed instant exactly 30 calls may pass, whoever asks.
        let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<120 {
                let budget = budgets[i % 3]
                group.addTask { try await budget.take("agt_1|*", perMinute: 60, burst: 30, now: now).allowed }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted <= 30)
        // Undershoot is bounded: at most leaseSize − 1 unspent tokens per replica.
        #expect(admitted >= 30 - 3 * (PostgresRateBudget.leaseSize(burst: 30) - 1))
        let refused = try await budgets[0].take("agt_1|*", perMinute: 60, burst: 30, now: now)
        #expect(!refused.allowed && refused.retryAfter > 0)
        // Ten seconds later, ten more tokens have dripped in (one per second), across the deployment.
        let later = now.addingTimeInterval(10)
        var more = 0
        for i in 0..<40 where try await budgets[i % 3].take("agt_1|*", perMinute: 60, burst: 30, now: later).allowed { more += 1 }
        #expect(more <= 10 + 3 * (PostgresRateBudget.leaseSize(burst: 30) - 1))
        #expect(more >= 10 - 3 * (PostgresRateBudget.leaseSize(burst: 30) - 1))
        // Another key has its own bucket.
        #expect(try await budgets[2].take("agt_2|*", perMinute: 60, burst: 30, now: now).allowed)
    }

    @Test("a bucket that cannot be reached refuses (throws), never admits")
    func unreachable() async throws {
        var settings = try PostgresSettings(url: "postgres://nobody@127.0.0.1:1/nothing?sslmode=disable")
        settings.timeoutMs = 500
        let store = try? await PostgresStore.connect(settings, migrate: false)
        #expect(store == nil, "nothing listens on port 1")
        let real = try await PostgresStore.connect(try await PostgresTestServer.freshDatabase())
        let budget = PostgresRateBudget(store: real)
        real.close()
        await #expect(throws: (any Error).self) {
            _ = try await budget.take("agt_1|*", perMinute: 60, burst: 30, now: Date())
        }
    }
}
