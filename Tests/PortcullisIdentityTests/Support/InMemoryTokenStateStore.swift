import Foundation
import PortcullisCore

/// A replay cache in memory, recording every `recordOnce` call for assertions.
actor InMemoryTokenStateStore: TokenStateStore {
    struct Recorded: Equatable {
        var namespace: String
        var id: String
        var expiresAt: Date
    }

    private(set) var recorded: [Recorded] = []
    private var seen: [String: Date] = [:]
    private var tokens: [String: IssuedToken] = [:]

    func recordOnce(namespace: String, id: String, expiresAt: Date) async throws -> Bool {
        let key = namespace + "\u{0}" + id
        if seen[key] != nil { return false }
        seen[key] = expiresAt
        recorded.append(Recorded(namespace: namespace, id: id, expiresAt: expiresAt))
        return true
    }

    func recordIssued(_ token: IssuedToken) async throws { tokens[token.jti] = token }
    func recordIssued(_ token: IssuedToken, limit: Int, now: Date) async throws -> Bool {
        guard try await activeTokenCount(agentID: token.agentID, now: now) < limit else { return false }
        tokens[token.jti] = token
        return true
    }
    func issued(jti: String) async throws -> IssuedToken? { tokens[jti] }

    func revoke(jti: String, at: Date) async throws -> Bool {
        guard tokens[jti] != nil else { return false }
        tokens[jti]?.revokedAt = at
        return true
    }

    func revokeAll(agentID: String, at: Date) async throws -> Int {
        let matching = tokens.values.filter { $0.agentID == agentID && $0.revokedAt == nil }
        for token in matching { tokens[token.jti]?.revokedAt = at }
        return matching.count
    }

    func activeTokenCount(agentID: String, now: Date) async throws -> Int {
        tokens.values.filter { $0.agentID == agentID && $0.revokedAt == nil && $0.expiresAt > now }.count
    }

    func purgeExpired(now: Date) async throws {
        seen = seen.filter { $0.value > now }
    }
}

/// A replay cache whose backend is down: every call throws.
struct UnavailableTokenStateStore: TokenStateStore {
    struct Down: Error {}

    func recordOnce(namespace: String, id: String, expiresAt: Date) async throws -> Bool { throw Down() }
    func recordIssued(_ token: IssuedToken) async throws { throw Down() }
    func recordIssued(_ token: IssuedToken, limit: Int, now: Date) async throws -> Bool { throw Down() }
    func issued(jti: String) async throws -> IssuedToken? { throw Down() }
    func revoke(jti: String, at: Date) async throws -> Bool { throw Down() }
    func revokeAll(agentID: String, at: Date) async throws -> Int { throw Down() }
    func activeTokenCount(agentID: String, now: Date) async throws -> Int { throw Down() }
    func purgeExpired(now: Date) async throws { throw Down() }
}
