import Foundation
import PortcullisCore
import Testing
@testable import PortcullisStore

@Suite("Token-state store (SQLite and PostgreSQL)")
struct TokenStateStoreTests {
    @Test("a one-time id is accepted once, then again only after it expires", arguments: StoreKind.allCases)
    func replayCache(kind: StoreKind) async throws {
        let clock = TestClock()
        let opened = try await kind.open(clock: clock)
        let store = opened.store
        let expiry = clock.now().addingTimeInterval(60)

        #expect(try await store.recordOnce(namespace: "dpop", id: "jti-1", expiresAt: expiry))
        #expect(try await !store.recordOnce(namespace: "dpop", id: "jti-1", expiresAt: expiry))
        // Namespaces are separate caches.
        #expect(try await store.recordOnce(namespace: "client-assertion", id: "jti-1", expiresAt: expiry))

        clock.advance(by: 59.999)
        #expect(try await !store.recordOnce(namespace: "dpop", id: "jti-1", expiresAt: expiry))

        clock.advance(by: 0.001)
        let renewed = clock.now().addingTimeInterval(60)
        #expect(try await store.recordOnce(namespace: "dpop", id: "jti-1", expiresAt: renewed))
        #expect(try await !store.recordOnce(namespace: "dpop", id: "jti-1", expiresAt: renewed))
    }

    @Test("100 concurrent uses of one id: exactly one wins", arguments: StoreKind.allCases)
    func concurrentRecordOnce(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        let expiry = Fixtures.epoch.addingTimeInterval(300)

        let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 {
                group.addTask { try await store.recordOnce(namespace: "dpop", id: "raced", expiresAt: expiry) }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(accepted == 1)
    }

    @Test("an issued token reads back as recorded; a duplicate jti is a conflict", arguments: StoreKind.allCases)
    func recordAndFetch(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let token = Fixtures.token(jti: "tok-1", issuedAt: Fixtures.epoch.addingTimeInterval(0.25))
        var unbound = Fixtures.token(jti: "tok-2")
        unbound.jkt = nil
        try await opened.store.recordIssued(token)
        try await opened.store.recordIssued(unbound)

        #expect(try await opened.store.issued(jti: "tok-1") == token)
        #expect(try await opened.store.issued(jti: "tok-2") == unbound)
        #expect(try await opened.store.issued(jti: "tok-unknown") == nil)
        let error = await #expect(throws: PortcullisError.self) { try await opened.store.recordIssued(token) }
        #expect(error?.code == .conflict)
    }

    @Test("revoke marks a token once and reports unknown ones", arguments: StoreKind.allCases)
    func revoke(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        try await store.recordIssued(Fixtures.token(jti: "tok-1"))
        let first = Fixtures.epoch.addingTimeInterval(30)

        #expect(try await store.revoke(jti: "tok-1", at: first))
        #expect(try await store.issued(jti: "tok-1")?.revokedAt == first)
        #expect(try await store.revoke(jti: "tok-1", at: first.addingTimeInterval(30)))
        #expect(try await store.issued(jti: "tok-1")?.revokedAt == first)
        #expect(try await !store.revoke(jti: "tok-unknown", at: first))
    }

    @Test("revokeAll and activeTokenCount honour expiry, revocation and the agent", arguments: StoreKind.allCases)
    func revokeAllAndCount(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        let t0 = Fixtures.epoch
        try await store.recordIssued(Fixtures.token(jti: "short", issuedAt: t0, lifetime: 60))
        try await store.recordIssued(Fixtures.token(jti: "long", issuedAt: t0, lifetime: 3_600))
        try await store.recordIssued(
            Fixtures.token(jti: "expired", issuedAt: t0.addingTimeInterval(-600), lifetime: 300))
        try await store.recordIssued(Fixtures.token(jti: "revoked", issuedAt: t0, lifetime: 3_600,
                                                    revokedAt: t0.addingTimeInterval(1)))
        try await store.recordIssued(Fixtures.token(jti: "other", agentID: "agt_other", issuedAt: t0))

        let now = t0.addingTimeInterval(10)
        #expect(try await store.activeTokenCount(agentID: "agt_full", now: now) == 2)
        #expect(try await store.activeTokenCount(agentID: "agt_full", now: t0.addingTimeInterval(60)) == 1)
        #expect(try await store.activeTokenCount(agentID: "agt_nobody", now: now) == 0)

        #expect(try await store.revokeAll(agentID: "agt_full", at: now) == 2)
        #expect(try await store.activeTokenCount(agentID: "agt_full", now: now) == 0)
        #expect(try await store.issued(jti: "long")?.revokedAt == now)
        #expect(try await store.issued(jti: "expired")?.revokedAt == nil)
        #expect(try await store.issued(jti: "revoked")?.revokedAt == t0.addingTimeInterval(1))
        #expect(try await store.activeTokenCount(agentID: "agt_other", now: now) == 1)
        #expect(try await store.revokeAll(agentID: "agt_full", at: now) == 0)
    }

    @Test("purge drops expired replay entries and tokens expired over a day ago", arguments: StoreKind.allCases)
    func purge(kind: StoreKind) async throws {
        let clock = TestClock()
        let opened = try await kind.open(clock: clock)
        let store = opened.store
        let now = clock.now()
        _ = try await store.recordOnce(namespace: "dpop", id: "stale", expiresAt: now.addingTimeInterval(-1))
        _ = try await store.recordOnce(namespace: "dpop", id: "live", expiresAt: now.addingTimeInterval(60))
        try await store.recordIssued(Fixtures.token(jti: "long-gone", issuedAt: now.addingTimeInterval(-90_000),
                                                    lifetime: 600))
        try await store.recordIssued(Fixtures.token(jti: "recently-expired", issuedAt: now.addingTimeInterval(-700),
                                                    lifetime: 600))
        try await store.recordIssued(Fixtures.token(jti: "active", issuedAt: now, lifetime: 600))

        try await store.purgeExpired(now: now)

        #expect(try await opened.fetchText(sql: "SELECT COUNT(*) FROM replay_cache") == "1")
        #expect(try await !store.recordOnce(namespace: "dpop", id: "live", expiresAt: now.addingTimeInterval(60)))
        #expect(try await store.issued(jti: "long-gone") == nil)
        #expect(try await store.issued(jti: "recently-expired") != nil)
        #expect(try await store.issued(jti: "active") != nil)
    }
}
