public import Foundation
public import PortcullisCore
public import PortcullisEnforcement
public import PortcullisIdentity

/// The authorization server for agents: client authentication, grants, introspection, revocation.
///
/// Every path that cannot prove the request legitimate ends in an ``OAuthError``;
/// storage failures surface as errors too, so nothing is issued when the checks broke.
public struct TokenService: Sendable {
    public static let clientAssertionType = ClientCredentialsRequest.assertionType
    public static let tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
    public static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    public static let jwtTokenType = "urn:ietf:params:oauth:token-type:jwt"
    public static let idTokenType = "urn:ietf:params:oauth:token-type:id_token"

    let configuration: ServerConfiguration
    let agents: any AgentStore
    let tokens: any TokenStateStore
    let signingKey: SigningKey
    let identityProviders: [ExternalIdentityProvider]
    let now: @Sendable () -> Date
    /// Where issuances and revocations are recorded; a token is handed out only once recorded (nil: not recorded).
    let audit: (any AuditSink)?
    /// Where refusals before authentication are counted (aggregated in the audit log); nil records each.
    let refusals: RefusalTally?
    /// Agents and token records in memory for the per-request check; nil reads the store every time.
    let state: StateCache?
    /// Where revocations are announced, so that caches drop the token before the answer is sent.
    let feed: (any ChangeFeed)?

    public init(configuration: ServerConfiguration, agents: any AgentStore, tokens: any TokenStateStore,
                signingKey: SigningKey, identityProviders: [ExternalIdentityProvider],
                now: @escaping @Sendable () -> Date = { Date() }, audit: (any AuditSink)? = nil,
                refusals: RefusalTally? = nil, state: StateCache? = nil, feed: (any ChangeFeed)? = nil) {
        self.audit = audit
        self.refusals = refusals
        self.state = state
        self.feed = feed
        self.configuration = configuration
        self.agents = agents
        self.tokens = tokens
        self.signingKey = signingKey
        self.identityProviders = identityProviders
        self.now = now
    }

    var issuer: String { configuration.effectiveIssuer }
    var tokenEndpoint: String { issuer + "/oauth/token" }
    var verifier: AccessTokenVerifier { AccessTokenVerifier(issuer: issuer, keys: [signingKey]) }

    // MARK: - Metadata

    /// RFC 8414 authorization server metadata.
    public var metadata: [String: Any] {
        [
            "issuer": issuer,
            "authorization_endpoint": issuer + "/oauth/authorize",
            "token_endpoint": tokenEndpoint,
            "jwks_uri": issuer + "/oauth/jwks",
            "introspection_endpoint": issuer + "/oauth/introspect",
            "revocation_endpoint": issuer + "/oauth/revoke",
            "grant_types_supported": ["client_credentials", TokenService.tokenExchangeGrant],
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA"],
            "introspection_endpoint_auth_methods_supported": ["private_key_jwt", "bearer"],
            "revocation_endpoint_auth_methods_supported": ["private_key_jwt", "bearer"],
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
            "authorization_details_types_supported": ["payment", "email", "tool_call"],
            "scopes_supported": [String](),
        ]
    }

    // MARK: - Token endpoint

    /// Handles a token request (`application/x-www-form-urlencoded` parameters).
    public func token(form: [String: [String]], dpopProof: String?) async throws(OAuthError) -> [String: Any] {
        let grant = try single(form, "grant_type", required: true)!
        switch grant {
        case "client_credentials":
            let client = try await authenticateClient(form)
            return try await clientCredentials(client, form: form, dpopProof: dpopProof)
        case TokenService.tokenExchangeGrant:
            let client = try await authenticateClient(form)
            return try await tokenExchange(client, form: form, dpopProof: dpopProof)
        default:
            throw .unsupportedGrantType("grant type `\(grant)` is not supported; use client_credentials or token exchange")
        }
    }

    func single(_ form: [String: [String]], _ key: String, required: Bool = false) throws(OAuthError) -> String? {
        guard let values = form[key], let value = values.first, !value.isEmpty else {
            if required { throw .invalidRequest("missing `\(key)`") }
            return nil
        }
        return value
    }

    /// Authenticates an agent by `private_key_jwt` (RFC 7523), then checks its lifecycle and attestation.
    ///
    /// The assertion's `aud` may be the issuer, the token endpoint or the endpoint being called
    /// (client libraries differ: the MCP SDK uses the issuer, others the endpoint URL).
    func authenticateClient(_ form: [String: [String]], endpoint: String? = nil) async throws(OAuthError) -> Agent {
        guard let type = try single(form, "client_assertion_type"), let assertion = try single(form, "client_assertion")
        else {
            throw .invalidClient("client authentication required: private_key_jwt (client_assertion)")
        }
        guard type == TokenService.clientAssertionType else {
            throw .invalidClient("unsupported client_assertion_type `\(type)`")
        }
        let claimedID = try single(form, "client_id")
        guard let subject = JWTPeek.claim("sub", of: assertion) ?? JWTPeek.claim("iss", of: assertion) else {
            throw .invalidClient("the client assertion is not a JWT with `iss` and `sub`")
        }
        let agent = try await loadAgent(subject)
        let verified = try await ClientAssertionVerifier().verify(
            assertion, claimedClientID: claimedID, agentKeys: agent.publicKeys,
            acceptedAudiences: [issuer, tokenEndpoint] + (endpoint.map { [$0] } ?? []), now: now(), replay: tokens)
        try await checkLifecycle(agent)
        try await checkAttestation(agent, presented: verified.configDigest)
        return agent
    }

    func loadAgent(_ id: String) async throws(OAuthError) -> Agent {
        let agent: Agent?
        do {
            agent = try await agents.agent(id: id)
        } catch {
            throw OAuthError("server_error", "the agent registry is unavailable", status: 503)
        }
        guard let agent else { throw .invalidClient("unknown client") }
        return agent
    }

    func checkLifecycle(_ agent: Agent) async throws(OAuthError) {
        guard agent.status.canAuthenticate else {
            throw .invalidClient("agent `\(agent.id)` is \(agent.status.rawValue)")
        }
        if configuration.blockOverdueReviews, agent.nextReviewAt < now() {
            throw .unauthorizedClient("agent `\(agent.id)` is overdue for review since \(ISO8601DateFormatter().string(from: agent.nextReviewAt))")
        }
    }

    /// Compares the presented configuration digest with the pinned one; drift is recorded and refused.
    func checkAttestation(_ agent: Agent, presented: String?) async throws(OAuthError) {
        guard let pinned = agent.configDigest else { return }
        guard let presented else {
            throw .invalidClient("agent `\(agent.id)` has a pinned configuration digest; the client assertion must carry `agent_config_digest`")
        }
        guard presented.lowercased() != pinned.lowercased() else { return }
        let details = try? String(decoding: JSONSerialization.data(withJSONObject: ["pinned": pinned, "presented": presented],
                                                                   options: [.sortedKeys]), as: UTF8.self)
        do {
            try await agents.record(LifecycleEvent(agentID: agent.id, kind: .configurationDrift, actor: "token-service",
                                                   reason: "client assertion presented a different configuration digest",
                                                   details: details, at: now()))
        } catch {
            throw OAuthError("server_error", "could not record the configuration drift event", status: 503)
        }
        throw .invalidClient("configuration drift: agent `\(agent.id)` presented configuration digest \(presented), but \(pinned) is pinned")
    }

    /// The single audience the token is for (RFC 8707), which the agent must be allowed.
    func audience(_ form: [String: [String]], allowed: [String]) throws(OAuthError) -> String {
        let resources = form["resource"] ?? []
        guard resources.count <= 1 else { throw .invalidTarget("request one `resource` per token") }
        guard let resource = resources.first ?? (allowed.count == 1 ? allowed[0] : nil) else {
            throw .invalidTarget("`resource` is required (the agent may use several audiences)")
        }
        guard URLComponents(string: resource)?.scheme != nil, !resource.contains("#") else {
            throw .invalidTarget("`resource` must be an absolute URI without a fragment")
        }
        guard allowed.contains(resource) else { throw .invalidTarget("the agent may not obtain tokens for `\(resource)`") }
        return resource
    }

    /// The intersection of requested and allowed scopes; an empty result of a non-empty request is refused.
    func grantedScopes(_ form: [String: [String]], allowed: [String]) throws(OAuthError) -> [String] {
        guard let requested = try single(form, "scope") else { return allowed }
        let asked = requested.split(separator: " ").map(String.init)
        let granted = asked.filter(allowed.contains)
        guard !granted.isEmpty else { throw .invalidScope("none of the requested scopes is allowed for this agent") }
        var seen = Set<String>()
        return granted.filter { seen.insert($0).inserted }
    }

    /// Verifies a DPoP proof for the token endpoint, or insists on one when the agent requires it.
    func dpopBinding(_ proof: String?, agent: Agent) async throws(OAuthError) -> String? {
        guard let proof else {
            if agent.requireDPoP { throw .invalidDPoPProof("agent `\(agent.id)` must present a DPoP proof") }
            return nil
        }
        return try await DPoPVerifier().verify(proof: proof, method: "POST", url: tokenEndpoint, accessToken: nil,
                                               now: now(), replay: tokens).jkt
    }

    func clientCredentials(_ agent: Agent, form: [String: [String]], dpopProof: String?) async throws(OAuthError) -> [String: Any] {
        let aud = try audience(form, allowed: agent.allowedAudiences)
        let scopes = try grantedScopes(form, allowed: agent.allowedScopes)
        let jkt = try await dpopBinding(dpopProof, agent: agent)
        let lifetime = min(configuration.accessTokenTTL, agent.maxSessionSeconds)
        return try await issue(agent: agent, subject: agent.id, audience: aud, scopes: scopes, lifetime: lifetime,
                               jkt: jkt, act: nil, onBehalfOf: nil, authorizationDetails: nil, tokenType: nil,
                               parentJTI: nil)
    }

    // MARK: - Token exchange (RFC 8693)

    func tokenExchange(_ actor: Agent, form: [String: [String]], dpopProof: String?) async throws(OAuthError) -> [String: Any] {
        let subjectToken = try single(form, "subject_token", required: true)!
        let subjectType = try single(form, "subject_token_type", required: true)!
        if let requestedType = try single(form, "requested_token_type"), requestedType != TokenService.accessTokenType {
            throw .invalidRequest("only access tokens can be requested")
        }
        if let actorToken = try single(form, "actor_token") {
            // The actor authenticated with its key; an actor token, if sent, must be its own.
            let t = try verifyPortcullisToken(actorToken)
            guard t.clientID == actor.id else { throw .invalidGrant("the actor token does not belong to the authenticated agent") }
        }
        let requestedDetails = try parseAuthorizationDetails(form)
        let aud = try audience(form, allowed: actor.allowedAudiences)
        let jkt = try await dpopBinding(dpopProof, agent: actor)

        let subject: String
        var available: [String]
        var previousAct: JSONAny?
        var grantedDetails: [JSONAny]?
        var lifetime = min(configuration.accessTokenTTL, actor.maxSessionSeconds)
        var onBehalfOf: String?
        var parentJTI: String?
        // The user's task statement: only ever from the user's own token (the identity provider signed it), then
        // carried unchanged along the chain. A request parameter could be set by the agent, so there is none.
        var intent: String?

        switch subjectType {
        case TokenService.accessTokenType:
            // Agent → agent: the subject token is one Portcullis issued and that is still active.
            let t = try verifyPortcullisToken(subjectToken)
            try await ensureActive(t)
            if let bound = t.cnfJKT, bound != jkt {
                // A sender-constrained token is usable only with a proof of its key, here too.
                throw .invalidGrant("the subject token is DPoP-bound; the request must carry a DPoP proof of that key")
            }
            parentJTI = t.jti
            subject = t.sub
            available = t.scope.filter(actor.allowedScopes.contains)
            // A plain agent token makes that agent the subject; a delegated one keeps its actors.
            previousAct = t.act ?? (t.sub == t.clientID ? nil : .object(["sub": .string(t.clientID)]))
            grantedDetails = t.claims["authorization_details"].flatMap { if case .array(let a) = $0 { a } else { nil } }
            onBehalfOf = t.claims["on_behalf_of"]?.stringValue
            intent = t.claims["intent"]?.stringValue
            lifetime = min(lifetime, max(0, Int(t.exp.timeIntervalSince(now()))))
            guard lifetime > 0 else { throw .invalidGrant("the subject token has expired") }
            guard grantedDetails != nil || requestedDetails == nil else {
                throw .invalidAuthorizationDetails("the subject token delegates no authorization_details; they cannot be added")
            }
        case TokenService.jwtTokenType, TokenService.idTokenType:
            // User → agent: the subject token comes from a trusted identity provider.
            guard let iss = JWTPeek.claim("iss", of: subjectToken),
                  let idp = identityProviders.first(where: { $0.issuer == iss }) else {
                throw .invalidGrant("the subject token's issuer is not a trusted identity provider")
            }
            let claims = try idp.verify(subjectToken, now: now())
            guard let sub = claims["sub"]?.stringValue, !sub.isEmpty else { throw .invalidGrant("the subject token has no `sub`") }
            subject = sub
            onBehalfOf = sub
            if let stated = claims["intent"] {
                guard let text = stated.stringValue, !text.isEmpty, text.utf8.count <= 4096 else {
                    throw .invalidGrant("the subject token's `intent` must be a non-empty string of at most 4096 bytes")
                }
                intent = text
            }
            available = actor.allowedScopes
            if let userScope = claims["scope"]?.stringValue {
                let userScopes = Set(userScope.split(separator: " ").map(String.init))
                available = available.filter(userScopes.contains)
            }
            grantedDetails = claims["authorization_details"].flatMap { if case .array(let a) = $0 { a } else { nil } }
            // A delegated token never outlives the user's token.
            let userExpiry: Double? = switch claims["exp"] {
            case .int(let e): Double(e)
            case .double(let e): e
            default: nil
            }
            guard let userExpiry else { throw .invalidGrant("the subject token has no numeric `exp`") }
            lifetime = min(lifetime, Int(userExpiry - now().timeIntervalSince1970))
            guard lifetime > 0 else { throw .invalidGrant("the subject token has expired") }
        default:
            throw .invalidRequest("unsupported subject_token_type `\(subjectType)`")
        }

        let requestedScopes = try single(form, "scope").map { $0.split(separator: " ").map(String.init) }
        let scopes = try Delegation.narrowScopes(requested: requestedScopes, available: available)
        let details: [JSONAny]?
        if subjectType == TokenService.accessTokenType || grantedDetails != nil {
            details = try Delegation.narrowAuthorizationDetails(requested: requestedDetails, granted: grantedDetails)
        } else {
            // The user's delegation is stated by the request itself (the IdP token carries none).
            details = try Delegation.narrowAuthorizationDetails(requested: requestedDetails, granted: requestedDetails)
        }
        let act = Delegation.actChain(newActor: actor.id, previous: previousAct)
        let depth = Delegation.depth(of: act)
        guard depth <= configuration.maxDelegationDepth else {
            throw .invalidGrant("delegation chain of depth \(depth) exceeds the maximum of \(configuration.maxDelegationDepth)")
        }
        return try await issue(agent: actor, subject: subject, audience: aud, scopes: scopes, lifetime: lifetime, jkt: jkt,
                               act: act, onBehalfOf: onBehalfOf, authorizationDetails: details,
                               tokenType: TokenService.accessTokenType, parentJTI: parentJTI, intent: intent)
    }

    func parseAuthorizationDetails(_ form: [String: [String]]) throws(OAuthError) -> [JSONAny]? {
        guard let text = try single(form, "authorization_details") else { return nil }
        guard let parsed = try? JSONDecoder().decode(JSONAny.self, from: Data(text.utf8)), case .array(let items) = parsed,
              items.allSatisfy({ if case .object = $0 { true } else { false } }) else {
            throw .invalidAuthorizationDetails("authorization_details must be a JSON array of objects")
        }
        return items
    }

    func verifyPortcullisToken(_ token: String) throws(OAuthError) -> VerifiedToken {
        do {
            return try verifier.verify(token, expectedAudience: nil, now: now())
        } catch {
            throw .invalidGrant("subject token rejected: \(error.description)")
        }
    }

    /// The issued token's record: from the in-memory state when there is one, else from the store.
    func issuedRecord(_ jti: String) async throws -> IssuedToken? {
        if let state { return try await state.issued(jti: jti) }
        return try await tokens.issued(jti: jti)
    }

    /// The agent's record: from the in-memory state when there is one, else from the store.
    func agentRecord(_ id: String) async throws -> Agent? {
        if let state { return try await state.agent(id: id) }
        return try await agents.agent(id: id)
    }

    /// A token is active when it and every token it was exchanged from are recorded, unrevoked and
    /// unexpired, and every agent in it (the holder, the subject when it is an agent, each actor of
    /// the `act` chain) is active: suspending or revoking anywhere up the chain stops it at once.
    /// Returns the agents it loaded, by id.
    @discardableResult
    func ensureActive(_ t: VerifiedToken) async throws(OAuthError) -> [String: Agent] {
        do {
            var loaded: [String: Agent] = [:]
            var jti: String? = t.jti
            var hops = 0
            while let current = jti {
                guard let record = try await issuedRecord(current), record.revokedAt == nil,
                      record.expiresAt > now() else {
                    throw OAuthError.invalidGrant(hops == 0 ? "the token is not active"
                                                            : "a token this one was delegated from is no longer active")
                }
                jti = record.parentJTI
                hops += 1
                guard hops <= configuration.maxDelegationDepth + 2 else { throw OAuthError.invalidGrant("delegation chain too long") }
            }
            var agentIDs = [t.clientID] + Self.actors(t.act)
            if t.sub.hasPrefix("agt_") { agentIDs.append(t.sub) }
            for id in Set(agentIDs) {
                guard let agent = try await agentRecord(id) else {
                    throw OAuthError.invalidGrant("agent `\(id)` in the token is unknown")
                }
                guard agent.status.canAuthenticate else {
                    throw OAuthError.invalidGrant("agent `\(id)` in the token is \(agent.status.rawValue)")
                }
                loaded[id] = agent
            }
            return loaded
        } catch let e as OAuthError {
            throw e
        } catch let stale as StaleReplica {
            throw OAuthError("temporarily_unavailable", stale.description, status: 503)
        } catch {
            throw OAuthError("server_error", "the token store is unavailable", status: 503)
        }
    }

    // MARK: - Issuing

    func issue(agent: Agent, subject: String, audience: String, scopes: [String], lifetime: Int, jkt: String?,
               act: JSONAny?, onBehalfOf: String?, authorizationDetails: [JSONAny]?, tokenType: String?,
               parentJTI: String?, intent: String? = nil) async throws(OAuthError) -> [String: Any] {
        let issuedAt = now()
        let iat = Int64(issuedAt.timeIntervalSince1970)
        let jti = RandomToken.make(bytes: 18)
        var agentClaim: [String: JSONAny] = [
            "purpose": .string(agent.purpose),
            "model_provider": .string(agent.modelProvider),
            "model": .string(agent.modelName),
            "model_version": .string(agent.modelVersion),
            "trust_level": .int(Int64(agent.trustLevel)),
        ]
        if let digest = agent.configDigest { agentClaim["config_digest"] = .string(digest) }
        var claims: [String: JSONAny] = [
            "iss": .string(issuer),
            "sub": .string(subject),
            "aud": .string(audience),
            "iat": .int(iat),
            "nbf": .int(iat),
            "exp": .int(iat + Int64(lifetime)),
            "jti": .string(jti),
            "client_id": .string(agent.id),
            "scope": .string(scopes.joined(separator: " ")),
            "agent": .object(agentClaim),
        ]
        if let jkt { claims["cnf"] = .object(["jkt": .string(jkt)]) }
        if let act { claims["act"] = act }
        if let onBehalfOf { claims["on_behalf_of"] = .string(onBehalfOf) }
        if let authorizationDetails { claims["authorization_details"] = .array(authorizationDetails) }
        if let intent { claims["intent"] = .string(intent) }
        // The token this one was exchanged from: revoking it revokes every token derived from it.
        if let parentJTI { claims["parent_jti"] = .string(parentJTI) }
        let token: String
        do {
            token = try JWTSigner(key: signingKey).sign(type: "at+jwt", claims: claims)
        } catch {
            throw OAuthError("server_error", "could not sign the access token", status: 500)
        }
        let claimsJSON = (try? String(decoding: JSONEncoder.canonical.encode(claims), as: UTF8.self)) ?? "{}"
        let recorded: Bool
        do {
            recorded = try await tokens.recordIssued(IssuedToken(
                jti: jti, agentID: agent.id, subject: subject, audience: audience, scope: scopes.joined(separator: " "),
                issuedAt: issuedAt, expiresAt: issuedAt.addingTimeInterval(Double(lifetime)), jkt: jkt,
                claimsJSON: claimsJSON, parentJTI: parentJTI), limit: agent.maxConcurrentSessions, now: issuedAt)
        } catch {
            // Without a record the token could not be revoked or counted: do not hand it out.
            throw OAuthError("server_error", "the token store is unavailable", status: 503)
        }
        guard recorded else {
            throw .unauthorizedClient("agent `\(agent.id)` already holds its maximum of \(agent.maxConcurrentSessions) valid tokens; revoke one or wait for expiry")
        }
        try await auditIssuance(agent: agent, jti: jti, audience: audience, scopes: scopes, lifetime: lifetime, act: act,
                                onBehalfOf: onBehalfOf, exchanged: tokenType != nil, at: issuedAt)
        var response: [String: Any] = [
            "access_token": token,
            "token_type": jkt == nil ? "Bearer" : "DPoP",
            "expires_in": lifetime,
            "scope": scopes.joined(separator: " "),
        ]
        if let tokenType { response["issued_token_type"] = tokenType }
        if let authorizationDetails,
           let data = try? JSONEncoder.canonical.encode(authorizationDetails),
           let object = try? JSONSerialization.jsonObject(with: data) {
            response["authorization_details"] = object
        }
        return response
    }

    // MARK: - Introspection and revocation

    /// RFC 7662: an inactive answer for anything not currently valid.
    ///
    /// An agent (`callerAgentID`) learns only about tokens it holds or appears in; the administrator about all.
    public func introspect(_ token: String, callerAgentID: String? = nil) async throws(OAuthError) -> [String: Any] {
        guard let t = try? verifier.verify(token, expectedAudience: nil, now: now()) else { return ["active": false] }
        if let caller = callerAgentID, caller != t.clientID, caller != t.sub, !Self.actors(t.act).contains(caller) {
            return ["active": false]
        }
        do {
            try await ensureActive(t)
        } catch {
            if error.status == 503 { throw error }
            return ["active": false]
        }
        guard let data = try? JSONEncoder.canonical.encode(t.claims),
              var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return ["active": false]
        }
        object["active"] = true
        object["token_type"] = t.cnfJKT == nil ? "Bearer" : "DPoP"
        return object
    }

    static func actors(_ act: JSONAny?) -> [String] {
        var out: [String] = []
        var a = act
        while let current = a, let sub = current["sub"]?.stringValue {
            out.append(sub)
            a = current["act"]
        }
        return out
    }

    /// RFC 7009: revokes a token the caller may revoke; unknown tokens are not an error.
    public func revoke(_ token: String, by agentID: String?) async throws(OAuthError) {
        guard let t = try? verifier.verify(token, expectedAudience: nil, now: now()) else { return }
        if let agentID, agentID != t.clientID {
            throw OAuthError("unauthorized_client", "an agent may revoke only its own tokens", status: 400)
        }
        do {
            _ = try await tokens.revoke(jti: t.jti, at: now())
        } catch {
            throw OAuthError("server_error", "the token store is unavailable", status: 503)
        }
        // In force on the hot path before the answer goes out.
        await feed?.publish(.token(t.jti))
        try await auditRevocation(t, by: agentID)
    }
}

/// Reads a claim from a JWT payload WITHOUT verifying it: only to find which key verifies it.
enum JWTPeek {
    static func claim(_ name: String, of token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Base64URL.decode(parts[1]),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object[name] as? String
    }
}
