import Crypto
public import Foundation
public import PortcullisCore
public import PortcullisIdentity
import Synchronization

/// A request to a protected resource (the MCP gateway) that passed authentication.
public struct ResourceAuthentication: Sendable {
    public let token: VerifiedToken
    public let agent: Agent
}

extension TokenService {
    /// Authenticates a request to one of this node's resource servers (RFC 6750, RFC 9449).
    ///
    /// - Parameters:
    ///   - authorization: The `Authorization` header values (exactly one is accepted).
    ///   - dpopProofs: The `DPoP` header values.
    ///   - audiences: Resource identifiers this request may carry in `aud` (the path's own first).
    ///   - method: The HTTP method, for the DPoP proof.
    ///   - url: The request URL as the client addressed it, for the DPoP proof.
    ///   - requiredScope: A scope the token must carry; missing it is `insufficient_scope` (403).
    /// - Throws: ``OAuthError`` `invalid_request`, `invalid_token` (401), `invalid_dpop_proof` (401),
    ///   `insufficient_scope` (403), `server_error` (503) when the token store is down.
    public func authenticateResource(authorization: [String], dpopProofs: [String], audiences: [String], method: String,
                                     url: String, requiredScope: String?, cache: VerifiedTokenCache) async throws(OAuthError)
        -> ResourceAuthentication
    {
        guard authorization.count <= 1 else { throw OAuthError("invalid_request", "send one Authorization header", status: 400) }
        guard let header = authorization.first else { throw OAuthError("invalid_token", "an access token is required", status: 401) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { throw OAuthError("invalid_request", "malformed Authorization header", status: 400) }
        let scheme = parts[0].lowercased()
        let token = String(HTTPText.trimmed(parts[1]))
        guard scheme == "bearer" || scheme == "dpop" else {
            throw OAuthError("invalid_request", "the Authorization scheme must be Bearer or DPoP", status: 400)
        }
        let verified: VerifiedToken
        if let hit = cache.lookup(token, now: now()) {
            verified = hit
        } else {
            do {
                verified = try verifier.verify(token, expectedAudience: nil, now: now())
            } catch {
                throw OAuthError("invalid_token", error.description, status: 401)
            }
            cache.store(token, verified)
        }
        guard verified.exp > now().addingTimeInterval(-30) else { throw OAuthError("invalid_token", "the token has expired", status: 401) }
        guard verified.aud.contains(where: audiences.contains) else {
            throw OAuthError("invalid_token", "the token is not for this resource", status: 401)
        }
        if let jkt = verified.cnfJKT {
            guard scheme == "dpop" else {
                throw OAuthError("invalid_token", "a DPoP-bound token must be sent with the DPoP scheme", status: 401)
            }
            guard dpopProofs.count == 1, let proof = dpopProofs.first else {
                throw OAuthError("invalid_dpop_proof", "send exactly one DPoP proof", status: 401)
            }
            let checked: DPoPProof
            do {
                checked = try await DPoPVerifier().verify(proof: proof, method: method, url: url, accessToken: token,
                                                          now: now(), replay: tokens)
            } catch {
                throw OAuthError("invalid_dpop_proof", error.description, status: 401)
            }
            guard checked.jkt == jkt else { throw OAuthError("invalid_dpop_proof", "the proof is not signed by the token's key", status: 401) }
        } else if scheme == "dpop" {
            throw OAuthError("invalid_token", "the token is not DPoP-bound; use the Bearer scheme", status: 401)
        }
        let loaded: [String: Agent]
        do {
            loaded = try await ensureActive(verified)
        } catch {
            if error.status == 503 { throw error }
            throw OAuthError("invalid_token", error.description, status: 401)
        }
        // ensureActive loaded (and checked) every agent of the token, the holder included.
        guard let agent = loaded[verified.clientID] else {
            throw OAuthError("invalid_token", "the token's agent is unknown", status: 401)
        }
        if agent.requireDPoP && verified.cnfJKT == nil {
            throw OAuthError("invalid_token", "this agent must use DPoP-bound tokens", status: 401)
        }
        if let requiredScope, !verified.scope.contains(requiredScope) {
            throw OAuthError("insufficient_scope", "the token lacks the `\(requiredScope)` scope", status: 403)
        }
        return ResourceAuthentication(token: verified, agent: agent)
    }
}

/// Access tokens whose signature and claims were verified, until they expire.
///
/// Signature verification is the most expensive step of a gateway request; this cache keeps
/// it to once per token. Everything that can change during a token's life (revocation, the
/// agents' status, DPoP proofs, audience, scope) is still checked on every request.
public final class VerifiedTokenCache: Sendable {
    private let entries = Mutex<[String: VerifiedToken]>([:])
    let capacity: Int

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    func lookup(_ token: String, now: Date) -> VerifiedToken? {
        entries.withLock { table in
            guard let hit = table[token] else { return nil }
            if hit.exp <= now {
                table.removeValue(forKey: token)
                return nil
            }
            return hit
        }
    }

    func store(_ token: String, _ verified: VerifiedToken) {
        entries.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[token] = verified
        }
    }
}
