import Foundation
public import PortcullisCore

/// A REST API agents reach through the HTTP gateway (`/http/<name>/<path>`), as the configuration declares it.
///
/// Credentials are vault references (`vault:<secret>`), never literals; the agent's own token is never forwarded.
public struct HTTPUpstreamConfiguration: Sendable, Codable, Equatable {
    /// `[a-z0-9_-]{1,32}`: the path segment after `/http/` and the audience suffix `<issuer>/http/<name>`.
    public var name: String
    /// Where requests go: `https://api.example.com/v1` (plain http only to loopback).
    public var baseURL: String
    /// `public`, `internal` (default), `confidential` or `restricted`.
    public var dataClass: DataClass?
    /// Whether responses are third-party content (their values count as `untrusted`, reading them taints the agent).
    /// Unset: untrusted; `false` for an API whose answers the organisation controls.
    public var untrusted: Bool?
    public var timeoutSeconds: Double?
    /// Largest request body accepted from an agent (default 1 MiB).
    public var maxRequestBytes: Int?
    /// Largest response body accepted from the upstream (default 4 MiB); larger answers are refused.
    public var maxResponseBytes: Int?
    public var credentials: Credentials?
    /// The operations agents may call. With operations (or an OpenAPI document), a request that matches none is
    /// denied; without either, every path is an endpoint classified by its method.
    public var operations: [Operation]?
    /// An OpenAPI 3 document (JSON) whose `paths` become operations.
    public var openAPI: String?
    /// The effect of an `operationId`, overriding the method's.
    public var operationEffects: [String: ToolRecord.Effect]?

    /// Vault references for the credential injected upstream.
    public struct Credentials: Sendable, Codable, Equatable {
        /// Used for reads, and for everything when there is no `write`.
        public var read: String?
        /// Used only for calls classified write or destructive that policy allowed.
        public var write: String?

        public init(read: String? = nil, write: String? = nil) {
            self.read = read
            self.write = write
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case read, write }

        public init(from decoder: any Decoder) throws {
            try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "credentials")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            read = try c.decodeIfPresent(String.self, forKey: .read)
            write = try c.decodeIfPresent(String.self, forKey: .write)
        }
    }

    /// One operation: a method and a path template (`/tickets/{id}`).
    public struct Operation: Sendable, Codable, Equatable {
        public var method: String
        public var path: String
        public var operationId: String?
        public var effect: ToolRecord.Effect?
        public var risk: Int?
        public var tags: [String]?

        public init(method: String, path: String, operationId: String? = nil, effect: ToolRecord.Effect? = nil,
                    risk: Int? = nil, tags: [String]? = nil) {
            self.method = method
            self.path = path
            self.operationId = operationId
            self.effect = effect
            self.risk = risk
            self.tags = tags
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case method, path, operationId, effect, risk, tags }

        public init(from decoder: any Decoder) throws {
            try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "operation")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            method = try c.decode(String.self, forKey: .method).uppercased()
            path = try c.decode(String.self, forKey: .path)
            operationId = try c.decodeIfPresent(String.self, forKey: .operationId)
            effect = try c.decodeIfPresent(ToolRecord.Effect.self, forKey: .effect)
            risk = try c.decodeIfPresent(Int.self, forKey: .risk)
            tags = try c.decodeIfPresent([String].self, forKey: .tags)
        }

        var segments: [Substring] { path.split(separator: "/", omittingEmptySubsequences: true) }
    }

    public init(name: String, baseURL: String, dataClass: DataClass? = nil, untrusted: Bool? = nil,
                timeoutSeconds: Double? = nil, maxRequestBytes: Int? = nil, maxResponseBytes: Int? = nil,
                credentials: Credentials? = nil, operations: [Operation]? = nil, openAPI: String? = nil,
                operationEffects: [String: ToolRecord.Effect]? = nil) {
        self.name = name
        self.baseURL = baseURL
        self.dataClass = dataClass
        self.untrusted = untrusted
        self.timeoutSeconds = timeoutSeconds
        self.maxRequestBytes = maxRequestBytes
        self.maxResponseBytes = maxResponseBytes
        self.credentials = credentials
        self.operations = operations
        self.openAPI = openAPI
        self.operationEffects = operationEffects
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, baseURL, dataClass, untrusted, timeoutSeconds, maxRequestBytes, maxResponseBytes, credentials
        case operations, openAPI, operationEffects
    }

    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "httpUpstream")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        baseURL = try c.decode(String.self, forKey: .baseURL)
        dataClass = try c.decodeIfPresent(DataClass.self, forKey: .dataClass)
        untrusted = try c.decodeIfPresent(Bool.self, forKey: .untrusted)
        timeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .timeoutSeconds)
        maxRequestBytes = try c.decodeIfPresent(Int.self, forKey: .maxRequestBytes)
        maxResponseBytes = try c.decodeIfPresent(Int.self, forKey: .maxResponseBytes)
        credentials = try c.decodeIfPresent(Credentials.self, forKey: .credentials)
        operations = try c.decodeIfPresent([Operation].self, forKey: .operations)
        openAPI = try c.decodeIfPresent(String.self, forKey: .openAPI)
        operationEffects = try c.decodeIfPresent([String: ToolRecord.Effect].self, forKey: .operationEffects)
    }

    public var effectiveDataClass: DataClass { dataClass ?? .internal }
    public var effectiveTimeoutSeconds: Double { timeoutSeconds ?? 30 }
    public var effectiveMaxRequestBytes: Int { maxRequestBytes ?? 1 << 20 }
    public var effectiveMaxResponseBytes: Int { maxResponseBytes ?? 4 << 20 }

    public static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

    /// The effect a method has unless configured otherwise.
    public static func defaultEffect(method: String) -> ToolRecord.Effect {
        switch method {
        case "GET", "HEAD": .read
        case "DELETE": .destructive
        default: .write
        }
    }

    /// The vault secret a reference names (`vault:<secret>`), or nil when it is not a vault reference.
    public static func vaultSecret(_ reference: String) -> String? {
        reference.hasPrefix("vault:") && reference.count > 6 ? String(reference.dropFirst(6)) : nil
    }

    /// Checks the declaration; the message names the upstream.
    public func validate() throws(GatewayConfigurationError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_-")
        guard !name.isEmpty, name.count <= 32, name.allSatisfy(allowed.contains) else {
            throw GatewayConfigurationError("http upstream name `\(name)` must be 1-32 characters of a-z, 0-9, _ and -")
        }
        guard let url = URL(string: baseURL), let scheme = url.scheme, let host = url.host, !host.isEmpty,
              url.query == nil, url.fragment == nil, url.user == nil else {
            throw GatewayConfigurationError("http upstream `\(name)` baseURL must be an absolute http(s) URL without query, fragment or user")
        }
        let loopback = host == "127.0.0.1" || host == "localhost" || host == "::1"
        guard scheme == "https" || (scheme == "http" && loopback) else {
            throw GatewayConfigurationError("http upstream `\(name)` baseURL must be https (plain http only to loopback)")
        }
        if let t = timeoutSeconds, !(t > 0 && t <= 600) {
            throw GatewayConfigurationError("http upstream `\(name)` timeoutSeconds must be in (0, 600]")
        }
        for (key, value) in [("maxRequestBytes", maxRequestBytes), ("maxResponseBytes", maxResponseBytes)] {
            if let v = value, !(v > 0 && v <= 64 << 20) {
                throw GatewayConfigurationError("http upstream `\(name)` \(key) must be in (0, 64 MiB]")
            }
        }
        for reference in [credentials?.read, credentials?.write].compactMap({ $0 }) where Self.vaultSecret(reference) == nil {
            throw GatewayConfigurationError("http upstream `\(name)` credentials must be vault references (`vault:<secret>`), not literals")
        }
        if credentials?.write != nil && credentials?.read == nil {
            throw GatewayConfigurationError("http upstream `\(name)` has a write credential but no read credential")
        }
        for op in operations ?? [] {
            guard Self.methods.contains(op.method) else {
                throw GatewayConfigurationError("http upstream `\(name)` operation method `\(op.method)` is not one of \(Self.methods.sorted().joined(separator: ", "))")
            }
            guard op.path.hasPrefix("/"), !op.path.contains(".."), !op.path.contains("?") else {
                throw GatewayConfigurationError("http upstream `\(name)` operation path `\(op.path)` must start with / and hold no `..` or query")
            }
            if let r = op.risk, !(0...5).contains(r) {
                throw GatewayConfigurationError("http upstream `\(name)` operation `\(op.path)` risk must be 0-5")
            }
        }
    }

    /// The operation a request matches, with the template's parameter values; literal segments win over
    /// parameters. Nil when none matches.
    public static func match(method: String, segments: [String], in operations: [Operation])
        -> (operation: Operation, parameters: [String: String])?
    {
        var best: (Operation, [String: String], Int)?
        for op in operations where op.method == method || (method == "HEAD" && op.method == "GET") {
            let template = op.segments
            guard template.count == segments.count else { continue }
            var parameters: [String: String] = [:]
            var literals = 0
            var matched = true
            for (t, s) in zip(template, segments) {
                if t.hasPrefix("{") && t.hasSuffix("}") && t.count > 2 {
                    parameters[String(t.dropFirst().dropLast())] = s
                } else if t == s {
                    literals += 1
                } else {
                    matched = false
                    break
                }
            }
            if matched, literals > (best?.2 ?? -1) { best = (op, parameters, literals) }
        }
        return best.map { ($0.0, $0.1) }
    }
}
