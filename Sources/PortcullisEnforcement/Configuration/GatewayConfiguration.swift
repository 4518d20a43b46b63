/// The MCP gateway's part of the server configuration (`"gateway"` in the configuration file).
public struct GatewayConfiguration: Sendable, Codable, Equatable {
    /// What DLP does with findings.
    public enum DLPAction: String, Sendable, Codable, CaseIterable {
        /// Refuse the call (arguments) or withhold the result.
        case block
        /// Replace each finding with `[REDACTED:<kind>]`.
        case redact
        /// Let it through (policies still see the findings in `context.dlp`).
        case allow
    }

    public struct DLP: Sendable, Codable, Equatable {
        /// Findings in call arguments. Default: block.
        public var arguments: DLPAction?
        /// Findings in tool results. Default: redact.
        public var results: DLPAction?

        public init(arguments: DLPAction? = nil, results: DLPAction? = nil) {
            self.arguments = arguments
            self.results = results
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case arguments, results }

        public init(from decoder: any Decoder) throws {
            try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "dlp")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            arguments = try c.decodeIfPresent(DLPAction.self, forKey: .arguments)
            results = try c.decodeIfPresent(DLPAction.self, forKey: .results)
        }
    }

    public var upstreams: [UpstreamConfiguration]
    /// REST APIs behind the HTTP gateway.
    public var httpUpstreams: [HTTPUpstreamConfiguration]?
    /// Classification of tools by qualified name (`time.get_current_time`): effect, risk, data class, tags.
    public var tools: [String: ToolClassification]?
    /// A directory of `.cedar` files; the built-in default pack when unset.
    public var policyDirectory: String?
    /// Pin and allow tools the first time they are seen when their description scans clean (default true);
    /// false holds every new tool for an administrator.
    public var approveNewTools: Bool?
    /// The default rate limit per agent and tool, taken by allowed calls (default 600/min, burst 60).
    public var rateLimit: RateLimit?
    /// The rate limit per agent over every method (tools/list, initialize, ping, calls, unknown
    /// methods; default 1,200/min, burst 200).
    public var agentRateLimit: RateLimit?
    /// How long an agent stays tainted after its last untrusted input, in seconds (default 28,800: eight hours).
    public var taintSeconds: Double?
    /// How long a tool listing is trusted before `tools/list` lists the upstream again, in seconds (default 60).
    /// Agents only ever see definitions the gateway listed and pinned; a shorter time notices a changed
    /// definition sooner, a longer one lists less.
    /// A `notifications/tools/list_changed` from the upstream, or an administrator's change, refreshes sooner.
    public var toolListSeconds: Double?
    /// Rate limits by qualified tool name.
    public var toolRateLimits: [String: RateLimit]?
    public var dlp: DLP?
    /// Largest JSON-RPC message accepted from an agent, in bytes (default 1 MiB).
    public var maxMessageBytes: Int?
    /// The scope every gateway token must carry (default `mcp`).
    public var requiredScope: String?
    /// Keep DLP-redacted arguments in the audit log (default false: only their digest).
    public var auditArguments: Bool?
    /// Keep each decision's Cedar request and entities in its audit entry, for `portcullis policy replay` (default
    /// true; about 2–3 KB per decision, arguments only as `auditArguments` keeps them).
    public var auditDecisionInputs: Bool?
    /// Human approvals: wait and expiry.
    public var approvals: ApprovalSettings?
    /// Behavioural monitoring: detector thresholds and the alert webhook.
    public var monitoring: MonitoringSettings?
    /// Graduated response rules.
    public var response: ResponseSettings?

    public init(upstreams: [UpstreamConfiguration] = [], tools: [String: ToolClassification]? = nil,
                policyDirectory: String? = nil, approveNewTools: Bool? = nil, rateLimit: RateLimit? = nil,
                agentRateLimit: RateLimit? = nil, taintSeconds: Double? = nil, toolListSeconds: Double? = nil,
                toolRateLimits: [String: RateLimit]? = nil, dlp: DLP? = nil, maxMessageBytes: Int? = nil,
                requiredScope: String? = nil, auditArguments: Bool? = nil, approvals: ApprovalSettings? = nil,
                monitoring: MonitoringSettings? = nil, response: ResponseSettings? = nil) {
        self.upstreams = upstreams
        self.tools = tools
        self.policyDirectory = policyDirectory
        self.approveNewTools = approveNewTools
        self.rateLimit = rateLimit
        self.agentRateLimit = agentRateLimit
        self.taintSeconds = taintSeconds
        self.toolListSeconds = toolListSeconds
        self.toolRateLimits = toolRateLimits
        self.dlp = dlp
        self.maxMessageBytes = maxMessageBytes
        self.requiredScope = requiredScope
        self.auditArguments = auditArguments
        self.approvals = approvals
        self.monitoring = monitoring
        self.response = response
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case upstreams, tools, policyDirectory, approveNewTools, rateLimit, agentRateLimit, taintSeconds, toolListSeconds
        case toolRateLimits, dlp, maxMessageBytes
        case requiredScope, auditArguments, auditDecisionInputs, approvals, monitoring, response, httpUpstreams
    }

    /// Strict reading: unknown keys are errors, so a typo does not silently change enforcement.
    public init(from decoder: any Decoder) throws {
        try StrictKeys.check(decoder, CodingKeys.allCases.map(\.rawValue), "gateway")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        upstreams = try c.decodeIfPresent([UpstreamConfiguration].self, forKey: .upstreams) ?? []
        tools = try c.decodeIfPresent([String: ToolClassification].self, forKey: .tools)
        policyDirectory = try c.decodeIfPresent(String.self, forKey: .policyDirectory)
        approveNewTools = try c.decodeIfPresent(Bool.self, forKey: .approveNewTools)
        rateLimit = try c.decodeIfPresent(RateLimit.self, forKey: .rateLimit)
        agentRateLimit = try c.decodeIfPresent(RateLimit.self, forKey: .agentRateLimit)
        taintSeconds = try c.decodeIfPresent(Double.self, forKey: .taintSeconds)
        toolListSeconds = try c.decodeIfPresent(Double.self, forKey: .toolListSeconds)
        toolRateLimits = try c.decodeIfPresent([String: RateLimit].self, forKey: .toolRateLimits)
        dlp = try c.decodeIfPresent(DLP.self, forKey: .dlp)
        maxMessageBytes = try c.decodeIfPresent(Int.self, forKey: .maxMessageBytes)
        requiredScope = try c.decodeIfPresent(String.self, forKey: .requiredScope)
        auditArguments = try c.decodeIfPresent(Bool.self, forKey: .auditArguments)
        auditDecisionInputs = try c.decodeIfPresent(Bool.self, forKey: .auditDecisionInputs)
        approvals = try c.decodeIfPresent(ApprovalSettings.self, forKey: .approvals)
        monitoring = try c.decodeIfPresent(MonitoringSettings.self, forKey: .monitoring)
        response = try c.decodeIfPresent(ResponseSettings.self, forKey: .response)
        httpUpstreams = try c.decodeIfPresent([HTTPUpstreamConfiguration].self, forKey: .httpUpstreams)
    }

    public var effectiveMaxMessageBytes: Int { maxMessageBytes ?? 1 << 20 }
    public var effectiveRequiredScope: String { requiredScope ?? "mcp" }
    public var effectiveApprovals: ApprovalSettings { approvals ?? ApprovalSettings() }
    public var effectiveMonitoring: MonitoringSettings { monitoring ?? MonitoringSettings() }
    public var effectiveResponse: ResponseSettings { response ?? ResponseSettings() }
    public var effectiveRateLimit: RateLimit { rateLimit ?? RateLimit(perMinute: 600, burst: 60) }
    public var effectiveAgentRateLimit: RateLimit { agentRateLimit ?? RateLimit(perMinute: 1200, burst: 200) }
    public var effectiveTaintSeconds: Double { taintSeconds ?? 28_800 }
    public var effectiveToolListSeconds: Double { toolListSeconds ?? 60 }

    /// Whether a result carries third-party content (mail bodies, web pages, files, chat messages): its values
    /// count as `untrusted` for provenance and reading it taints the agent. Decided per tool: the tool's
    /// classification (`untrustedResults`), else its upstream's `untrusted`, else untrusted (the safe default for
    /// tools nobody classified). An upstream's own annotations are never asked.
    public func resultsUntrusted(upstream: String, tool: String?, http: Bool = false) -> Bool {
        if http { return httpUpstreams?.first { $0.name == upstream }?.untrusted ?? true }
        if let tool, let declared = tools?[tool]?.untrustedResults { return declared }
        return upstreams.first { $0.name == upstream }?.untrusted ?? true
    }

    public func validate() throws(GatewayConfigurationError) {
        var names = Set<String>()
        for u in upstreams {
            try u.validate()
            guard names.insert(u.name).inserted else { throw GatewayConfigurationError("upstream `\(u.name)` is declared twice") }
        }
        var httpNames = Set<String>()
        for u in httpUpstreams ?? [] {
            try u.validate()
            guard httpNames.insert(u.name).inserted else { throw GatewayConfigurationError("http upstream `\(u.name)` is declared twice") }
        }
        var limits = toolRateLimits ?? [:]
        if let rateLimit { limits["rateLimit"] = rateLimit }
        if let agentRateLimit { limits["agentRateLimit"] = agentRateLimit }
        for (name, limit) in limits {
            guard limit.perMinute > 0, limit.burst >= 1 else {
                throw GatewayConfigurationError("rate limit `\(name)` needs perMinute > 0 and burst >= 1")
            }
        }
        for (name, c) in tools ?? [:] {
            if let r = c.risk, !(0...5).contains(r) { throw GatewayConfigurationError("tool `\(name)` risk must be 0-5") }
        }
        if let t = taintSeconds, !(t > 0) { throw GatewayConfigurationError("taintSeconds must be positive") }
        if let t = toolListSeconds, !(t >= 0) { throw GatewayConfigurationError("toolListSeconds must be 0 or more") }
        if let m = maxMessageBytes, m < 1024 { throw GatewayConfigurationError("maxMessageBytes must be at least 1024") }
        if let a = approvals, !(a.effectiveWaitSeconds >= 0 && a.effectiveWaitSeconds <= 300 && a.effectiveExpirySeconds > 0) {
            throw GatewayConfigurationError("approvals: waitSeconds must be 0-300 and expirySeconds positive")
        }
        try monitoring?.validate()
        try response?.validate()
    }
}
