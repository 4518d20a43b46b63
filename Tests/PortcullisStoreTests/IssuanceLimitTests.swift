import Foundation
import PortcullisCore
@testable import PortcullisStore
import PortcullisStorePostgres
import Testing

@Suite("Issuance limit")
struct IssuanceLimitTests {
    static func token(_ jti: String, agent: String = "agt_limit", expires: Date) -> IssuedToken {
        IssuedToken(jti: jti, agentID: agent, subject: agent, audience: "https://a.example", scope: "",
                    issuedAt: Date(timeIntervalSince1970: 1_000), expiresAt: expires, claimsJSON: "{}")
    }

    @Test("64 concurrent issuances against a limit of 3, from two replicas (connection pools), record exactly 3 tokens",
          arguments: [StoreKind.file] + (StoreKind.allCases.contains(.postgres) ? [.postgres] : []))
    func concurrentLimit(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        let other = try await opened.replica()
        let now = Date(timeIntervalSince1970: 2_000)
        let accepted = try await withThrowingTaskGroup(of: String?.self) { group in
            for i in 0..<64 {
                let replica = i % 2 == 0 ? store : other
                group.addTask {
                    try await replica.recordIssued(Self.token("jti-\(i)", expires: now.addingTimeInterval(600)), limit: 3, now: now)
                        ? "jti-\(i)" : nil
                }
            }
            var jtis: [String] = []
            for try await jti in group { if let jti { jtis.append(jti) } }
            return jtis
        }
        #expect(accepted.count == 3)
        #expect(try await store.activeTokenCount(agentID: "agt_limit", now: now) == 3)
        // Expired and revoked tokens free their place (whichever three were accepted).
        #expect(try await store.revoke(jti: try #require(accepted.first), at: now))
        #expect(try await store.recordIssued(Self.token("after-revoke", expires: now.addingTimeInterval(600)), limit: 3, now: now))
        #expect(try await !store.recordIssued(Self.token("over", expires: now.addingTimeInterval(600)), limit: 3, now: now))
        #expect(try await store.issued(jti: "over") == nil, "a refused token is not recorded")
    }
}
