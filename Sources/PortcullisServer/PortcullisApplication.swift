public import Foundation
public import Hummingbird
import Prometheus
public import Logging
import NIOCore
public import PortcullisCore
import PortcullisIdentity
public import PortcullisAudit
public import PortcullisGateway
public import PortcullisEnforcement
public import PortcullisVault
import AsyncHTTPClient
import NIOHTTP1
import ServiceLifecycle
import Tracing

/// Wires the stores, the token service and the routes into a Hummingbird application.
public enum PortcullisApplication {
    /// The services one node runs, ready for routing (also used by in-process tests).
    public struct Services: Sendable {
        public let configuration: ServerConfiguration
        public let registry: AgentRegistry
        public let tokenService: TokenService
        public let adminToken: String
        public let jwks: String
        /// The tamper-evident audit log (issue #5); every decision and admin action is appended here.
        public let audit: any MerkleAuditLog
        public let toolStore: any ToolStore
        /// The MCP gateway behind `/mcp`.
        public let gateway: MCPGateway
        /// Access tokens already verified (signature and claims), shared by the resource routes.
        public let tokenCache: VerifiedTokenCache
        /// Approvers (their token digests) and approvals.
        public let approvalStore: any ApprovalStore
        /// Alerts, baselines and risk states.
        public let monitorStore: any MonitorStore
        /// The testing clock, when `testing.manualClock` is set.
        public let manualClock: ManualClock?
        /// Where state changes are announced (agents, tokens, kills, policies, tools, approvals).
        public let feed: any ChangeFeed
        /// Agents and token records in memory, invalidated by ``feed``.
        public let state: StateCache
        /// Upstream credentials, sealed under a key outside the database.
        public let vault: Vault
        /// The HTTP gateway behind `/http/<upstream>`.
        public let httpGateway: HTTPGateway
        /// Injects vault credentials into upstream requests (and caches the OAuth kinds' access tokens).
        public let injector: CredentialInjector
        /// Users' consent flows for per-user credentials (`/connect`).
        public let connections: UserConnections
        /// This node's metrics (`/metrics`, Prometheus text format; docs/observability.md).
        public let metrics: GatewayMetrics
        let metricsRegistry: PrometheusCollectorRegistry
        let metricsToken: String
        let dataDirectory: DataDirectory
        /// The web console's sessions, sign-in links and authorization (docs/console.md).
        public let console: ConsoleState
        /// Exports the calls' spans (OTLP), when `observability.traces` is set.
        var tracingService: (any Service)? = nil

        /// Appends an administrator's action to the audit log (throws when it cannot: the action is then refused).
        func recordAdmin(actor: String, action: String, resource: String, reason: String) async throws {
            try await audit.record(AuditEvent.admin(action: action, resource: resource, actor: actor, reason: reason))
        }
    }

    /// Opens the data directory: creates it, its keys, admin token and database on first start.
    public static func open(configuration: ServerConfiguration, now: @escaping @Sendable () -> Date = { Date() },
                            logger: Logger = Logger(label: "portcullis")) async throws -> Services {
        try configuration.validate()
        let directory = DataDirectory(path: configuration.dataDirectory)
        for warning in try directory.prepare() { logger.warning("\(warning)") }
        let backend = try await StoreBackend.open(configuration, directory: directory, logger: logger)
        let store = backend.store
        let key = try directory.signingKey(algorithm: configuration.signingAlgorithm == "EdDSA" ? .eddsa : .es256)
        let adminToken = try directory.adminToken()
        let metricsToken = try directory.metricsToken()
        let audit = try await backend.openAuditLog(directory, logger: logger)
        let (metrics, metricsRegistry) = Self.metrics()
        var idps: [ExternalIdentityProvider] = []
        for idp in configuration.trustedIdentityProviders {
            let jwks: String
            if let inline = idp.jwks {
                jwks = inline
            } else if let file = idp.jwksFile, let data = FileManager.default.contents(atPath: file) {
                jwks = String(decoding: data, as: UTF8.self)
            } else if let url = idp.jwksURL {
                jwks = try await fetchJWKS(url, issuer: idp.issuer)
            } else {
                throw ConfigurationError("cannot read the JWKS of identity provider `\(idp.issuer)`")
            }
            idps.append(try await ExternalIdentityProvider(issuer: idp.issuer, jwksJSON: jwks, audience: idp.audience))
        }
        let policies: PolicyEngine
        do {
            policies = try PolicyEngine(directory: configuration.gateway.policyDirectory)
        } catch {
            throw ConfigurationError("policies: \(error.description)")
        }
        var manualClock: ManualClock?
        if let start = configuration.testing?.manualClock.flatMap(ManualClock.parse) {
            logger.warning("testing.manualClock is on: monitoring and approvals read a manual clock (tests only)")
            manualClock = ManualClock(start: start)
        }
        let vault: Vault
        do {
            vault = try await directory.openVault(store: store)
        } catch {
            throw ConfigurationError("vault: \(error)")
        }
        let upstreamClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPUpstream.clientConfiguration)
        let assertionSigner = JWTSigner(key: key)
        let issuer = configuration.effectiveIssuer
        // RFC 8693 subject tokens for token exchange at an upstream's authorization server: short, for one audience,
        // naming the user and (in `act`, current actor outermost) the agents.
        let injector = CredentialInjector(vault: vault, client: upstreamClient, clock: now) { user, actors, audience in
            let issuedAt = Int(now().timeIntervalSince1970)
            var act: JSONAny?
            for actor in actors {
                act = act.map { .object(["sub": .string(actor), "act": $0]) } ?? .object(["sub": .string(actor)])
            }
            var claims: [String: JSONAny] = [
                "iss": .string(issuer), "sub": .string(user), "aud": .string(audience), "iat": .int(Int64(issuedAt)),
                "exp": .int(Int64(issuedAt + 60)), "jti": .string(Hex.random(16)),
            ]
            if let act { claims["act"] = act }
            if let agent = actors.last { claims["client_id"] = .string(agent) }
            return try assertionSigner.sign(type: "JWT", claims: claims)
        }
        let (tracer, tracingService): ((any Tracer)?, (any Service)?)
        do {
            (tracer, tracingService) = try TracingBackend.make(configuration.observability.traces, logger: logger)
        } catch {
            throw ConfigurationError("observability.traces: \(error)")
        }
        let gateway = try MCPGateway(configuration: configuration.gateway,
                                     upstreams: MCPGateway.connectUpstreams(configuration.gateway, logger: logger,
                                                                            injector: injector),
                                     toolStore: store, policies: policies, audit: audit, approvalStore: store,
                                     monitorStore: store, logger: logger, now: now,
                                     responseClock: manualClock.map { clock -> @Sendable () -> Date in { clock.now } },
                                     metrics: metrics, rateBudget: backend.rateBudget, tracer: tracer,
                                     approvalsURL: issuer + "/console/approvals")
        try await gateway.monitor.load()
        let feed = backend.feed
        let state = StateCache(agents: store, tokens: store, feed: feed)
        let httpGateway: HTTPGateway
        do {
            httpGateway = try HTTPGateway(configuration: configuration.gateway, pipeline: gateway.pipeline,
                                          injector: injector, client: upstreamClient, logger: logger,
                                          connectLink: { upstream in "\(issuer)/connect/\(upstream)" })
        } catch {
            throw ConfigurationError("gateway: \(error.description)")
        }
        let services = Services(
            configuration: configuration,
            registry: AgentRegistry(agents: store, tokens: store, now: now, audit: audit, feed: feed),
            tokenService: TokenService(configuration: configuration, agents: store, tokens: store, signingKey: key,
                                       identityProviders: idps, now: now, audit: audit, refusals: gateway.pipeline.refusals,
                                       state: state, feed: feed),
            adminToken: adminToken, jwks: JWKS.document([key]), audit: audit, toolStore: store, gateway: gateway,
            tokenCache: VerifiedTokenCache(), approvalStore: store, monitorStore: store, manualClock: manualClock,
            feed: feed, state: state, vault: vault, httpGateway: httpGateway, injector: injector,
            connections: UserConnections(vault: vault, client: upstreamClient, clock: now), metrics: metrics,
            metricsRegistry: metricsRegistry, metricsToken: metricsToken, dataDirectory: directory,
            console: ConsoleState(signingKeyJWK: key.privateJWK, issuer: issuer), tracingService: tracingService)
        // A decided approval wakes the calls waiting for it (here, or on another replica through the feed).
        feed.subscribe { [gateway] change in
            if case .approval(let id) = change { gateway.approvals.wake(id) }
        }
        if let replicaFeed = backend.replicaFeed { services.followReplicas(replicaFeed, logger: logger) }
        // The graduated response suspends and kills through the same paths as a person.
        gateway.monitor.setEnforcer { [services] (agentID: String, action: ResponseAction, reason: String) in
            do {
                switch action {
                case .kill:
                    _ = try await services.kill(.agent(agentID), actor: "monitor", reason: reason)
                case .suspend:
                    _ = try await services.registry.transition(id: agentID, .suspend, actor: "monitor", reason: reason)
                    _ = services.gateway.disconnect([agentID])
                default:
                    break
                }
            } catch {
                logger.critical("automatic response failed", metadata: ["agent": "\(agentID)", "action": "\(action.rawValue)",
                                                                      "error": "\(error)"])
            }
        }
        return services
    }

    /// A registry of this node's own (no process-wide bootstrap) and the metrics on it. Durations in buckets from
    /// 50 µs: a gateway's stages take microseconds, its calls milliseconds.
    static func metrics() -> (GatewayMetrics, PrometheusCollectorRegistry) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .seconds(1), .microseconds(2_500_000), .seconds(10),
        ]
        return (GatewayMetrics(factory: factory), registry)
    }

    /// Fetches an identity provider's JWKS; any failure stops the start (no provider without keys).
    static func fetchJWKS(_ url: String, issuer: String) async throws -> String {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            guard response.status == .ok else {
                throw ConfigurationError("JWKS of `\(issuer)` at \(url) answered \(response.status.code)")
            }
            let body = try await response.body.collect(upTo: 1 << 20)
            return String(buffer: body)
        } catch let e as ConfigurationError {
            throw e
        } catch {
            throw ConfigurationError("cannot fetch the JWKS of `\(issuer)` from \(url): \(error)")
        }
    }

    /// The router with every route.
    public static func router(_ services: Services) -> Router<PortcullisRequestContext> {
        let router = Router(context: PortcullisRequestContext.self)
        router.get("/healthz") { _, _ in HTTP.json(object: ["status": "ok"]) }
        MetricsRoutes(services: services).register(on: router)
        OAuthRoutes(services: services).register(on: router)
        AdminRoutes(services: services).register(on: router)
        AuditRoutes(services: services).register(on: router)
        MCPRoutes(services: services).register(on: router)
        HTTPGatewayRoutes(services: services).register(on: router)
        ConnectRoutes(services: services).register(on: router)
        ConsoleRoutes(services: services).register(on: router)
        if services.configuration.demo { DemoToolServer().register(on: router) }
        return router
    }

    /// Runs the application until SIGINT or SIGTERM, then shuts down gracefully.
    public static func run(_ services: Services, logger: Logger) async throws {
        try await build(services, logger: logger).runService()
    }

    /// Builds the application listening where the configuration says.
    public static func build(_ services: Services, logger: Logger) -> some ApplicationProtocol {
        Application(
            router: router(services),
            configuration: .init(address: .hostname(services.configuration.host, port: services.configuration.port),
                                 serverName: "portcullis"),
            services: [services.audit, GatewayService(gateway: services.gateway, logger: logger) { action, summary in
                try await services.recordAdmin(actor: "system", action: action,
                                               resource: services.gateway.policies.snapshot.source, reason: summary)
            }.announcing(on: services.feed), GovernanceService(governance: services.governance, logger: logger)]
                + (services.tracingService.map { [$0] } ?? [])
                + (services.configuration.demo ? [DemoAgent(services: services, logger: logger)] : []),
            logger: logger)
    }
}
