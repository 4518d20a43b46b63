import Cedar
public import Foundation
public import PortcullisGateway
public import PortcullisEnforcement
import PortcullisCore
import PortcullisStorePostgres

/// Everything `portcullis serve` needs, from defaults, a JSON file, the environment
/// and flags, in that order of precedence (later wins).
public struct ServerConfiguration: Sendable, Codable, Equatable {
    /// Where the database, keys and admin token live.
    public var dataDirectory: String = "./portcullis-data"
    /// Host to bind; loopback by default.
    public var host: String = "127.0.0.1"
    public var port: Int = 8640
    /// The OAuth issuer URL; derived from host and port when unset.
    public var issuer: String?
    /// Default lifetime of access tokens, in seconds (capped by each agent's max session).
    public var accessTokenTTL: Int = 900
    /// `ES256` (default, the interoperable choice) or `EdDSA`.
    public var signingAlgorithm: String = "ES256"
    /// Deepest allowed delegation chain (number of nested `act` claims).
    public var maxDelegationDepth: Int = 4
    /// Refuse tokens to agents whose review date has passed.
    public var blockOverdueReviews: Bool = true
    /// Largest request body accepted, in bytes.
    public var maxBodyBytes: Int = 65_536
    /// User identity providers trusted for user → agent token exchange (issuer + JWKS file, URL or inline).
    public var trustedIdentityProviders: [TrustedIdentityProvider] = []
    /// The MCP gateway: upstreams, tool classification, policies, limits, DLP.
    public var gateway: GatewayConfiguration = GatewayConfiguration()
    /// Access reviews: the grace period before an overdue agent is suspended, how often that is checked
    /// (docs/governance.md).
    public var governance: GovernanceSettings = GovernanceSettings()
    /// Logs and traces (docs/observability.md).
    public var observability: Observability = Observability()
    /// `portcullis serve --demo`: the demo tool server and agent run beside the node (never read from a file).
    public var demo: Bool = false
    /// Test-only switches (docs/response.md, "Testing clock"); nil in production.
    public var testing: Testing?
    /// Where state lives: the SQLite file in the data directory (nil, the default) or a shared PostgreSQL
    /// database for several replicas (docs/scale-out.md).
    public var store: Store?

    public struct Store: Sendable, Codable, Equatable {
        public var postgres: Postgres?

        public struct Postgres: Sendable, Codable, Equatable {
            /// `postgres://user@host:port/database?sslmode=disable` (a password here is allowed but a file is better).
            public var url: String
            /// A file whose first line is the password.
            public var passwordFile: String?
            /// Connections per replica (default 10).
            public var pool: Int?
            /// This replica's name on the change feed (default: random per start).
            public var node: String?
            /// How often the change feed checks its own delivery, in milliseconds (default 200).
            public var heartbeatMs: Int?
            /// How old the last confirmed delivery may be before the replica refuses calls, in ms (default 1000).
            public var staleAfterMs: Int?
            /// How long a statement may wait (for a connection included) before the call fails, in ms (default 5000).
            public var timeoutMs: Int?

            enum CodingKeys: String, CodingKey, CaseIterable {
                case url, passwordFile, pool, node, heartbeatMs, staleAfterMs, timeoutMs
            }

            public init(url: String) { self.url = url }

            public init(from decoder: any Decoder) throws {
                try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "store.postgres")
                let c = try decoder.container(keyedBy: CodingKeys.self)
                url = try c.decode(String.self, forKey: .url)
                passwordFile = try c.decodeIfPresent(String.self, forKey: .passwordFile)
                pool = try c.decodeIfPresent(Int.self, forKey: .pool)
                node = try c.decodeIfPresent(String.self, forKey: .node)
                heartbeatMs = try c.decodeIfPresent(Int.self, forKey: .heartbeatMs)
                staleAfterMs = try c.decodeIfPresent(Int.self, forKey: .staleAfterMs)
                timeoutMs = try c.decodeIfPresent(Int.self, forKey: .timeoutMs)
            }
        }

        public init(postgres: Postgres? = nil) { self.postgres = postgres }

        enum CodingKeys: String, CodingKey, CaseIterable { case postgres }

        public init(from decoder: any Decoder) throws {
            try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "store")
            postgres = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Postgres.self, forKey: .postgres)
        }
    }

    public struct Observability: Sendable, Codable, Equatable {
        /// `text` (default) or `json`: one JSON object per log line.
        public var logFormat: String = "text"
        /// OpenTelemetry traces over OTLP/HTTP; nil: calls are not traced.
        public var traces: Traces?

        public struct Traces: Sendable, Codable, Equatable {
            /// The OTLP/HTTP traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`.
            public var otlpEndpoint: String
            /// `service.name` of the spans (default `portcullis`).
            public var serviceName: String?
            /// Share of new traces recorded, 0–1 (default 1); a trace the agent started follows its sampled flag.
            public var sampleRatio: Double?
            /// How long spans wait to be sent in a batch, in milliseconds (default 1000).
            public var exportDelayMs: Int?

            public init(otlpEndpoint: String) { self.otlpEndpoint = otlpEndpoint }

            enum CodingKeys: String, CodingKey, CaseIterable { case otlpEndpoint, serviceName, sampleRatio, exportDelayMs }

            public init(from decoder: any Decoder) throws {
                try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "observability.traces")
                let c = try decoder.container(keyedBy: CodingKeys.self)
                otlpEndpoint = try c.decode(String.self, forKey: .otlpEndpoint)
                serviceName = try c.decodeIfPresent(String.self, forKey: .serviceName)
                sampleRatio = try c.decodeIfPresent(Double.self, forKey: .sampleRatio)
                exportDelayMs = try c.decodeIfPresent(Int.self, forKey: .exportDelayMs)
            }
        }

        public init() {}

        enum CodingKeys: String, CodingKey, CaseIterable { case logFormat, traces }

        public init(from decoder: any Decoder) throws {
            try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "observability")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            logFormat = try c.decodeIfPresent(String.self, forKey: .logFormat) ?? "text"
            traces = try c.decodeIfPresent(Traces.self, forKey: .traces)
        }
    }

    public struct GovernanceSettings: Sendable, Codable, Equatable {
        /// Suspend an active agent whose review is overdue by more than the grace period (default true).
        public var suspendOverdue: Bool = true
        /// Days past the review date before the suspension (default 7); an alert is raised when the date passes.
        public var reviewGraceDays: Int = 7
        /// How often overdue reviews are looked for, in seconds (default 300).
        public var sweepSeconds: Int = 300

        public init() {}

        enum CodingKeys: String, CodingKey, CaseIterable { case suspendOverdue, reviewGraceDays, sweepSeconds }

        public init(from decoder: any Decoder) throws {
            try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "governance")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            suspendOverdue = try c.decodeIfPresent(Bool.self, forKey: .suspendOverdue) ?? true
            reviewGraceDays = try c.decodeIfPresent(Int.self, forKey: .reviewGraceDays) ?? 7
            sweepSeconds = try c.decodeIfPresent(Int.self, forKey: .sweepSeconds) ?? 300
        }
    }

    public struct Testing: Sendable, Codable, Equatable {
        /// ISO 8601 start of a manual clock for the monitor and approvals, moved by `POST /admin/clock`.
        public var manualClock: String?

        public init(manualClock: String? = nil) {
            self.manualClock = manualClock
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case manualClock }

        public init(from decoder: any Decoder) throws {
            try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "testing")
            manualClock = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .manualClock)
        }
    }

    public init() {}

    /// The issuer URL in effect.
    public var effectiveIssuer: String {
        issuer ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }

    /// Reads a configuration file (JSON) over the defaults; unknown keys are errors.
    public static func load(file: String?, environment: [String: String]) throws -> ServerConfiguration {
        var config = ServerConfiguration()
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigurationError("cannot read configuration file `\(file)`")
            }
            do {
                config = try ConfigurationFile.decode(data)
            } catch let e as ConfigurationError {
                throw e
            } catch {
                throw ConfigurationError("configuration file `\(file)`: \(error)")
            }
        }
        try config.apply(environment: environment)
        return config
    }

    /// Applies `PORTCULLIS_*` environment variables.
    public mutating func apply(environment env: [String: String]) throws {
        if let v = env["PORTCULLIS_DATA_DIR"] { dataDirectory = v }
        if let v = env["PORTCULLIS_LISTEN"] { try setListen(v) }
        if let v = env["PORTCULLIS_ISSUER"] { issuer = v }
        if let v = env["PORTCULLIS_ACCESS_TOKEN_TTL"] {
            guard let n = Int(v), n > 0 else { throw ConfigurationError("PORTCULLIS_ACCESS_TOKEN_TTL must be a positive integer") }
            accessTokenTTL = n
        }
        if let v = env["PORTCULLIS_SIGNING_ALG"] { signingAlgorithm = v }
        if let v = env["PORTCULLIS_POLICY_DIR"] { gateway.policyDirectory = v }
        if let v = env["PORTCULLIS_POSTGRES_URL"] {
            var postgres = store?.postgres ?? Store.Postgres(url: v)
            postgres.url = v
            store = Store(postgres: postgres)
        }
        if let v = env["PORTCULLIS_LOG_FORMAT"] { observability.logFormat = v }
        if let v = env["PORTCULLIS_OTLP_ENDPOINT"] {
            var traces = observability.traces ?? Observability.Traces(otlpEndpoint: v)
            traces.otlpEndpoint = v
            observability.traces = traces
        }
        if let v = env["PORTCULLIS_MAX_DELEGATION_DEPTH"] {
            guard let n = Int(v), n >= 0 else { throw ConfigurationError("PORTCULLIS_MAX_DELEGATION_DEPTH must be a non-negative integer") }
            maxDelegationDepth = n
        }
    }

    /// Sets host and port from `HOST:PORT` (IPv6 as `[::1]:PORT`).
    public mutating func setListen(_ value: String) throws {
        guard let colon = value.lastIndex(of: ":"), let p = Int(value[value.index(after: colon)...]),
              (0...65_535).contains(p) else {
            throw ConfigurationError("listen address `\(value)` must be HOST:PORT")
        }
        var h = String(value[..<colon])
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        guard !h.isEmpty else { throw ConfigurationError("listen address `\(value)` has no host") }
        host = h
        port = p
    }

    /// Checks values that would otherwise fail later, with a clear message.
    /// Whether this build may run on the manual testing clock: debug builds only.
    public static var testingClockAvailable: Bool {
        #if DEBUG
        true
        #else
        false
        #endif
    }

    public func validate() throws {
        guard ["ES256", "EdDSA"].contains(signingAlgorithm) else {
            throw ConfigurationError("signingAlgorithm must be ES256 or EdDSA, not `\(signingAlgorithm)`")
        }
        guard accessTokenTTL > 0 else { throw ConfigurationError("accessTokenTTL must be positive") }
        guard maxBodyBytes >= 1024 else { throw ConfigurationError("maxBodyBytes must be at least 1024") }
        for idp in trustedIdentityProviders where idp.audience?.trimmingCharacters(in: .whitespaces).isEmpty ?? true {
            throw ConfigurationError("trusted identity provider `\(idp.issuer)` needs an `audience`: without it a user token minted for any application at that provider would be accepted")
        }
        guard ["text", "json"].contains(observability.logFormat) else {
            throw ConfigurationError("observability.logFormat must be `text` or `json`, not `\(observability.logFormat)`")
        }
        if let traces = observability.traces {
            guard let c = URLComponents(string: traces.otlpEndpoint), c.scheme == "http" || c.scheme == "https", c.host != nil else {
                throw ConfigurationError("observability.traces.otlpEndpoint must be an http(s) URL, not `\(traces.otlpEndpoint)`")
            }
            if let r = traces.sampleRatio, !(0...1).contains(r) {
                throw ConfigurationError("observability.traces.sampleRatio must be between 0 and 1")
            }
            if let d = traces.exportDelayMs, !(1...60_000).contains(d) {
                throw ConfigurationError("observability.traces.exportDelayMs must be between 1 and 60000")
            }
        }
        guard governance.reviewGraceDays >= 0 else { throw ConfigurationError("governance.reviewGraceDays must not be negative") }
        guard (1...86_400).contains(governance.sweepSeconds) else {
            throw ConfigurationError("governance.sweepSeconds must be between 1 and 86400")
        }
        if testing?.manualClock != nil, !Self.testingClockAvailable {
            throw ConfigurationError("testing.manualClock is only available in debug (test) builds; a release build never reads a clock someone can set")
        }
        if let start = testing?.manualClock, ManualClock.parse(start) == nil {
            throw ConfigurationError("testing.manualClock must be an ISO 8601 date-time, not `\(start)`")
        }
        if let postgres = store?.postgres {
            if let n = postgres.heartbeatMs, !(10...5000).contains(n) {
                throw ConfigurationError("store.postgres.heartbeatMs must be between 10 and 5000")
            }
            if let n = postgres.staleAfterMs, n < 2 * (postgres.heartbeatMs ?? 200) {
                throw ConfigurationError("store.postgres.staleAfterMs must be at least twice heartbeatMs")
            }
            if let n = postgres.timeoutMs, !(100...60_000).contains(n) {
                throw ConfigurationError("store.postgres.timeoutMs must be between 100 and 60000")
            }
            do {
                _ = try PostgresSettings(url: postgres.url, passwordFile: postgres.passwordFile, poolSize: postgres.pool ?? 10)
            } catch {
                throw ConfigurationError((error as? PortcullisError)?.reason ?? "\(error)")
            }
        }
        do {
            try gateway.validate()
        } catch {
            throw ConfigurationError("gateway: \(error.description)")
        }
        for idp in trustedIdentityProviders {
            let sources = [idp.jwksFile, idp.jwksURL, idp.jwks].compactMap { $0 }
            guard sources.count == 1 else {
                throw ConfigurationError("trusted identity provider `\(idp.issuer)` needs exactly one of `jwksFile`, `jwksURL` or `jwks`")
            }
            if let url = idp.jwksURL {
                guard let c = URLComponents(string: url), let host = c.host,
                      c.scheme == "https" || (c.scheme == "http" && (host == "127.0.0.1" || host == "localhost" || host == "::1"))
                else {
                    throw ConfigurationError("`jwksURL` of `\(idp.issuer)` must be https (http only on loopback)")
                }
            }
        }
    }
}

/// A user identity provider whose tokens may be exchanged for delegated agent tokens.
public struct TrustedIdentityProvider: Sendable, Codable, Equatable {
    /// The `iss` its tokens carry.
    public var issuer: String
    /// A JWKS file path.
    public var jwksFile: String?
    /// Or an HTTPS (or loopback HTTP) URL of the JWKS, fetched when the server starts.
    public var jwksURL: String?
    /// Or the JWKS inline, as JSON text.
    public var jwks: String?
    /// The `aud` its tokens must carry: this server's name at the provider. Required.
    public var audience: String?

    public init(issuer: String, jwksFile: String? = nil, jwksURL: String? = nil, jwks: String? = nil,
                audience: String? = nil) {
        self.issuer = issuer
        self.jwksFile = jwksFile
        self.jwksURL = jwksURL
        self.jwks = jwks
        self.audience = audience
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case issuer, jwksFile, jwksURL, jwks, audience }

    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "trusted identity provider")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        issuer = try c.decode(String.self, forKey: .issuer)
        jwksFile = try c.decodeIfPresent(String.self, forKey: .jwksFile)
        jwksURL = try c.decodeIfPresent(String.self, forKey: .jwksURL)
        jwks = try c.decodeIfPresent(String.self, forKey: .jwks)
        audience = try c.decodeIfPresent(String.self, forKey: .audience)
    }
}

/// A configuration problem, reported before the server starts.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Strict decoding of the configuration file: unknown keys are refused, so typos surface.
enum ConfigurationFile {
    static let knownKeys: Set<String> = [
        "dataDirectory", "host", "port", "issuer", "accessTokenTTL", "signingAlgorithm", "maxDelegationDepth",
        "blockOverdueReviews", "maxBodyBytes", "trustedIdentityProviders", "gateway", "testing", "store", "governance", "observability",
    ]

    static func decode(_ data: Data) throws -> ServerConfiguration {
        // A key given twice would mean one thing here and another to the reviewer's tool (Foundation
        // keeps the first, Python and jq the last): the strict reader refuses it, naming the key.
        do {
            _ = try JSONValue.parse(bytes: Array(data))
        } catch {
            throw ConfigurationError("the configuration file is not valid JSON: \(error)")
        }
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigurationError("the configuration file must hold a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !knownKeys.contains($0) }) {
            throw ConfigurationError("unknown configuration key `\(unknown)`")
        }
        // Missing keys keep their defaults.
        let defaults = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ServerConfiguration())) as! [String: Any]
        let merged = defaults.merging(object) { _, new in new }
        return try JSONDecoder().decode(ServerConfiguration.self, from: JSONSerialization.data(withJSONObject: merged))
    }
}
