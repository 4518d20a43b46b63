import Foundation
import HTTPTypes
import Hummingbird
import PortcullisCore
import PortcullisIdentity
import PortcullisEnforcement

/// The authorization server's HTTP surface (RFC 8414, 7517, 6749, 7523, 8693, 9449, 7662, 7009).
struct OAuthRoutes: Sendable {
    let services: PortcullisApplication.Services

    var tokens: TokenService { services.tokenService }
    var limit: Int { services.configuration.maxBodyBytes }

    func register(on router: Router<PortcullisRequestContext>) {
        router.get("/.well-known/oauth-authorization-server") { _, _ in HTTP.json(object: tokens.metadata) }
        router.get("/oauth/jwks") { _, _ in
            HTTP.json(Data(services.jwks.utf8), extraHeaders: [.contentType: "application/jwk-set+json"])
        }
        router.get("/oauth/authorize") { _, _ in
            // Published because MCP clients require the metadata field; agents authenticate with keys, not browsers.
            HTTP.oauthError(OAuthError("unsupported_response_type",
                                       "interactive authorization is not offered; agents use client_credentials with private_key_jwt"))
        }
        router.post("/oauth/token") { request, _ in
            var request = request
            var form: [String: [String]] = [:]
            do throws(OAuthError) {
                form = try HTTP.form(try await HTTP.body(&request, limit: limit), repeatable: ["resource"])
                let dpop = request.headers[values: .dpop]
                guard dpop.count <= 1 else { throw OAuthError.invalidDPoPProof("send exactly one DPoP header") }
                let issued = try await tokens.token(form: form, dpopProof: dpop.first)
                let grant = form["grant_type"]?.first ?? ""
                services.metrics.count(GatewayMetrics.Name.tokens,
                                       ("grant", grant == "client_credentials" ? "client_credentials"
                                           : grant == TokenService.tokenExchangeGrant ? "token_exchange" : "other"))
                return HTTP.json(object: issued)
            } catch {
                await tokens.auditRefusal(form: form, error: error)
                return HTTP.oauthError(error)
            }
        }
        router.post("/oauth/introspect") { request, _ in
            var request = request
            do throws(OAuthError) {
                let form = try HTTP.form(try await HTTP.body(&request, limit: limit))
                let agentID = try await caller(request, form: form, endpoint: tokens.issuer + "/oauth/introspect")
                guard let token = form["token"]?.first else { throw OAuthError.invalidRequest("missing `token`") }
                return HTTP.json(object: try await tokens.introspect(token, callerAgentID: agentID))
            } catch {
                return HTTP.oauthError(error)
            }
        }
        router.post("/oauth/revoke") { request, _ in
            var request = request
            do throws(OAuthError) {
                let form = try HTTP.form(try await HTTP.body(&request, limit: limit))
                let agentID = try await caller(request, form: form, endpoint: tokens.issuer + "/oauth/revoke")
                guard let token = form["token"]?.first else { throw OAuthError.invalidRequest("missing `token`") }
                try await tokens.revoke(token, by: agentID)
                return HTTP.json(object: [:])
            } catch {
                return HTTP.oauthError(error)
            }
        }
    }

    /// Authenticates the caller of introspection or revocation: the admin token, or an agent's key.
    /// Returns the agent id, or nil for the administrator.
    func caller(_ request: Request, form: [String: [String]], endpoint: String) async throws(OAuthError) -> String? {
        if let bearer = HTTP.bearer(request) {
            guard HTTP.constantTimeEqual(bearer, services.adminToken) else {
                throw .invalidClient("invalid credentials")
            }
            return nil
        }
        return try await tokens.authenticateClient(form, endpoint: endpoint).id
    }
}
