import Foundation
import PortcullisCore

/// Records with every field set, at fixed times.
enum Fixtures {
    /// 2026-01-01T00:00:00Z; fixtures are placed relative to it.
    static let epoch = Date(timeIntervalSince1970: 1_767_225_600)

    /// An agent with every field set away from its default, and millisecond dates.
    static func agent(
        id: String = "agt_full",
        createdAt: Date = epoch.addingTimeInterval(0.123),
        configDigest: String? = nil,
        status: AgentStatus = .active
    ) -> Agent {
        var agent = Agent(
            id: id,
            name: "Invoice reconciler",
            owner: "team-finance@example.com",
            purpose: "Reconcile invoices; quotes \" slashes / and émoji 🚀",
            modelProvider: "anthropic",
            modelName: "claude-sonnet",
            modelVersion: "2026-01-01",
            createdAt: createdAt,
            reviewCadenceDays: 30,
            nextReviewAt: epoch.addingTimeInterval(30 * 86_400 + 0.456),
            maxSessionSeconds: 900,
            maxConcurrentSessions: 3,
            trustLevel: 4,
            allowedScopes: ["invoices:read", "invoices:write"],
            allowedAudiences: ["https://api.example.com/", "urn:example:ledger"],
            publicKeys: [
                JWKJSON(json: #"{"crv":"P-256","kid":"k1","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","#
                    + #""y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#),
                // Whitespace and key order are the owner's and must survive.
                JWKJSON(json: #"{ "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }"#),
            ],
            configDigest: configDigest,
            requireDPoP: true,
            teams: ["finance", "team:eu/ops"],
            status: status
        )
        agent.updatedAt = epoch.addingTimeInterval(60.789)
        return agent
    }

    /// The `registered` event for an agent.
    static func registered(_ agent: Agent) -> LifecycleEvent {
        LifecycleEvent(agentID: agent.id, kind: .registered, actor: "admin@example.com", reason: "onboarding",
                       at: agent.createdAt)
    }

    /// An issued token of `agentID`, valid from `issuedAt` for `lifetime` seconds.
    static func token(
        jti: String, agentID: String = "agt_full", issuedAt: Date = epoch, lifetime: TimeInterval = 600,
        revokedAt: Date? = nil
    ) -> IssuedToken {
        IssuedToken(
            jti: jti, agentID: agentID, subject: "user:alice", audience: "https://api.example.com/",
            scope: "invoices:read invoices:write", issuedAt: issuedAt, expiresAt: issuedAt.addingTimeInterval(lifetime),
            revokedAt: revokedAt, jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
            claimsJSON: #"{"iss":"https://portcullis.example","sub":"user:alice","jti":"\#(jti)"}"#)
    }
}
