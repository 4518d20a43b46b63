import Foundation
import PortcullisCore
import PortcullisEnforcement
import PortcullisIdentity

extension TokenService {
    /// Records an issued token before it is handed out; if the log cannot take it, the token is
    /// revoked and the request fails with 503 (no unrecorded token leaves the server).
    func auditIssuance(agent: Agent, jti: String, audience: String, scopes: [String], lifetime: Int, act: JSONAny?,
                       onBehalfOf: String?, exchanged: Bool, at issuedAt: Date) async throws(OAuthError) {
        guard let audit else { return }
        let event = AuditEvent(
            timeNanos: AuditEvent.nowNanos(issuedAt), id: AuditEvent.newID(), kind: .token,
            agent: .init(id: agent.id, model: agent.modelName, version: agent.modelVersion, configDigest: agent.configDigest),
            onBehalfOf: onBehalfOf, delegationChain: Self.actors(act), action: exchanged ? "token.exchange" : "token.issue",
            resource: audience, decision: .allow,
            reason: "jti=\(jti) scope=\(scopes.joined(separator: " ")) expires_in=\(lifetime)")
        do {
            try await audit.append(event)
        } catch {
            _ = try? await tokens.revoke(jti: jti, at: now())
            await feed?.publish(.token(jti))
            throw OAuthError("server_error", "the audit log is unavailable; no token was issued", status: 503)
        }
    }

    /// Records a revocation (after it took effect: revoking is never held back by the log).
    func auditRevocation(_ t: VerifiedToken, by agentID: String?) async throws(OAuthError) {
        guard let audit else { return }
        let event = AuditEvent(
            timeNanos: AuditEvent.nowNanos(now()), id: AuditEvent.newID(), kind: .token, agent: .init(id: t.clientID),
            onBehalfOf: t.claims["on_behalf_of"]?.stringValue, delegationChain: Self.actors(t.act),
            actor: agentID == nil ? "admin" : agentID, action: "token.revoke", resource: t.jti, decision: .allow,
            reason: "revoked by \(agentID ?? "admin")")
        do {
            try await audit.append(event)
        } catch {
            throw OAuthError("server_error", "the token was revoked, but the audit log could not record it", status: 503)
        }
    }

    /// Records a refused token request (best effort: the answer is a refusal either way).
    ///
    /// A refusal of an authenticated agent (its lifecycle, attestation, grant or scopes) is recorded one
    /// by one, under the agent. A refusal before the client was authenticated (no or a bad assertion,
    /// an unknown client, a malformed request) is anyone's to send: it is counted in ``refusals`` and
    /// recorded once per flush with the count, so that a flood cannot flood the audit log.
    func auditRefusal(form: [String: [String]], error: OAuthError) async {
        guard let audit, error.status != 503 else { return }
        let client = form["client_id"]?.first ?? form["client_assertion"]?.first.flatMap { JWTPeek.claim("sub", of: $0) }
        if let refusals, !Self.refusedAfterAuthentication(error) {
            let action = form["grant_type"]?.first == TokenService.tokenExchangeGrant ? "token.exchange.refused" : "token.issue.refused"
            refusals.note(action: action, subject: client.map { String($0.prefix(64)) } ?? "unauthenticated",
                          reason: "\(error.error): \(Printable.clip(error.description, 120))")
            return
        }
        let event = AuditEvent(
            timeNanos: AuditEvent.nowNanos(now()), id: AuditEvent.newID(), kind: .token,
            agent: client.map { .init(id: String($0.prefix(200))) },
            action: form["grant_type"]?.first == TokenService.tokenExchangeGrant ? "token.exchange" : "token.issue",
            resource: form["resource"]?.first.map { String($0.prefix(500)) }, decision: .deny,
            reason: "\(error.error): \(error.description)")
        _ = try? await audit.append(event)
    }

    /// Whether the refusal came after the client proved who it is.
    static func refusedAfterAuthentication(_ e: OAuthError) -> Bool {
        switch e.error {
        case "invalid_grant", "invalid_scope", "invalid_target", "unauthorized_client": true
        case "invalid_client": e.description.hasPrefix("agent `") || e.description.hasPrefix("configuration drift")
        default: false
        }
    }
}
