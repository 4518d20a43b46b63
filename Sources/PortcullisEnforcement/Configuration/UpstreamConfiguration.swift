/// An upstream MCP server as the configuration declares it.
public struct UpstreamConfiguration: Sendable, Codable, Equatable {
    /// The namespace of its tools (`<name>.<tool>`) and the `/mcp/<name>` path: `[a-z0-9_-]{1,32}`.
    public var name: String
    /// A stdio server: the command and its arguments (the gateway starts and restarts it).
    public var command: [String]?
    /// Environment for a stdio server. The child gets only these, the names in ``passEnvironment``
    /// and a minimal base (`PATH`, `HOME`, `LANG`, `LC_ALL`, `TZ`, `TMPDIR`), never the gateway's own
    /// environment (which holds its secrets).
    public var env: [String: String]?
    /// Names of the gateway's environment variables a stdio server may inherit.
    public var passEnvironment: [String]?
    /// Take the upstream's MCP annotations (`readOnlyHint`, `destructiveHint`) as the effect of tools
    /// the configuration does not classify (default false: an upstream does not classify its own tools).
    public var trustAnnotations: Bool?
    /// A Streamable HTTP server's URL.
    public var url: String?
    /// Headers sent to an HTTP upstream: the gateway's own credentials for it, never an agent's token.
    public var headers: [String: String]?
    /// Whether the upstream's results are third-party content (web pages, mail): their values count as `untrusted`
    /// and reading them taints the agent. Unset: untrusted, unless a tool's classification says otherwise
    /// (`tools.<name>.untrustedResults`); `false` trusts every tool of the upstream that is not classified.
    public var untrusted: Bool?
    /// Seconds a call may take before it fails (default 30).
    public var timeoutSeconds: Double?

    public init(name: String, command: [String]? = nil, env: [String: String]? = nil, url: String? = nil,
                headers: [String: String]? = nil, untrusted: Bool? = nil, timeoutSeconds: Double? = nil,
                passEnvironment: [String]? = nil, trustAnnotations: Bool? = nil) {
        self.name = name
        self.command = command
        self.env = env
        self.passEnvironment = passEnvironment
        self.trustAnnotations = trustAnnotations
        self.url = url
        self.headers = headers
        self.untrusted = untrusted
        self.timeoutSeconds = timeoutSeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, command, env, passEnvironment, url, headers, untrusted, trustAnnotations, timeoutSeconds
    }

    /// Strict reading: an unknown key (a typo of `trustAnnotations`, say) is an error.
    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "upstream")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        command = try c.decodeIfPresent([String].self, forKey: .command)
        env = try c.decodeIfPresent([String: String].self, forKey: .env)
        passEnvironment = try c.decodeIfPresent([String].self, forKey: .passEnvironment)
        url = try c.decodeIfPresent(String.self, forKey: .url)
        headers = try c.decodeIfPresent([String: String].self, forKey: .headers)
        untrusted = try c.decodeIfPresent(Bool.self, forKey: .untrusted)
        trustAnnotations = try c.decodeIfPresent(Bool.self, forKey: .trustAnnotations)
        timeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .timeoutSeconds)
    }

    /// Checks the declaration; the message names the upstream.
    public func validate() throws(GatewayConfigurationError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_-")
        guard !name.isEmpty, name.count <= 32, name.allSatisfy(allowed.contains) else {
            throw GatewayConfigurationError("upstream name `\(name)` must be 1-32 characters of a-z, 0-9, _ and -")
        }
        switch (command, url) {
        case (let c?, nil):
            guard !c.isEmpty, !c[0].isEmpty else { throw GatewayConfigurationError("upstream `\(name)` has an empty command") }
        case (nil, let u?):
            guard u.hasPrefix("http://") || u.hasPrefix("https://") else {
                throw GatewayConfigurationError("upstream `\(name)` url must be http(s)")
            }
        default:
            throw GatewayConfigurationError("upstream `\(name)` needs exactly one of `command` or `url`")
        }
        if let t = timeoutSeconds, !(t > 0 && t <= 600) {
            throw GatewayConfigurationError("upstream `\(name)` timeoutSeconds must be in (0, 600]")
        }
    }
}

/// A problem in the gateway's configuration.
public struct GatewayConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
