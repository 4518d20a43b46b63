public import AsyncHTTPClient
import Cedar
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import PortcullisCore
public import PortcullisEnforcement
public import PortcullisVault

/// An agent's request to a REST API, as the HTTP route hands it over (after authentication).
public struct HTTPProxyRequest: Sendable {
    public var method: String
    /// The upstream's name: the segment after `/http/`.
    public var upstream: String
    /// The path after `/http/<upstream>`, exactly as sent (still percent-encoded), starting with `/` or empty.
    public var rawPath: String
    /// The query string as sent, without `?`; nil when there was none.
    public var rawQuery: String?
    /// Header names lowercased, in arrival order.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var caller: GatewayCaller

    public init(method: String, upstream: String, rawPath: String, rawQuery: String?,
                headers: [(name: String, value: String)], body: [UInt8], caller: GatewayCaller) {
        self.method = method
        self.upstream = upstream
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.body = body
        self.caller = caller
    }

    func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
}

/// The HTTP gateway: agents' REST calls, decided by the same enforcement pipeline as MCP tool calls.
///
/// This is protocol only: it turns a request into a ``GatewayCall`` (an `http_request` on an `Endpoint`), lets the
/// pipeline decide, record, forward and inspect it, and turns the outcome back into HTTP. What it refuses before the
/// pipeline is what cannot be decided safely: request targets that normalize differently here and upstream,
/// method overrides, bodies it cannot inspect. docs/http-gateway.md has the model and the rules.
public final class HTTPGateway: Sendable {
    public let pipeline: EnforcementPipeline
    let upstreams: [String: Upstream]
    let injector: CredentialInjector?
    let client: HTTPClient
    let logger: Logger
    /// Where a user connects an upstream's per-user credential (named in the refusal when they have not).
    let connectLink: (@Sendable (String) -> String)?

    struct Upstream: Sendable {
        var configuration: HTTPUpstreamConfiguration
        /// nil: every path is an endpoint, classified by its method.
        var operations: [HTTPUpstreamConfiguration.Operation]?
    }

    /// Headers an agent may send upstream; everything else (its token, cookies, hop-by-hop headers, `Host`,
    /// forwarding headers) stays here.
    static let forwardedRequestHeaders: Set<String> = [
        "accept", "accept-language", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
        "idempotency-key", "traceparent", "tracestate",
    ]
    /// Headers of the upstream's answer the agent gets.
    static let forwardedResponseHeaders: Set<String> = [
        "etag", "last-modified", "cache-control", "retry-after", "x-request-id", "content-language",
    ]
    /// Headers that ask a server to treat a request as another method: refused, since policy decided this one.
    static let methodOverrides: Set<String> = ["x-http-method-override", "x-http-method", "x-method-override"]

    public init(configuration: GatewayConfiguration, pipeline: EnforcementPipeline, injector: CredentialInjector?,
                client: HTTPClient, logger: Logger, connectLink: (@Sendable (String) -> String)? = nil)
        throws(GatewayConfigurationError)
    {
        var table: [String: Upstream] = [:]
        for u in configuration.httpUpstreams ?? [] {
            try u.validate()
            table[u.name] = Upstream(configuration: u, operations: try u.resolvedOperations())
        }
        upstreams = table
        self.pipeline = pipeline
        self.injector = injector
        self.client = client
        self.logger = logger
        self.connectLink = connectLink
    }

    /// The upstreams' names (for the protected-resource metadata).
    public var upstreamNames: [String] { upstreams.keys.sorted() }

    public func handle(_ request: HTTPProxyRequest) async -> GatewayHTTPResponse {
        if let refusal = await pipeline.admit(request.caller, method: "HTTP \(request.method)") { return Self.render(refusal) }
        guard let upstream = upstreams[request.upstream] else {
            return Self.error(404, "not_found", "no HTTP upstream named `\(Printable.clip(request.upstream, 64))`")
        }
        let prepared: Prepared
        switch prepare(request, upstream) {
        case .success(let p): prepared = p
        case .failure(let rejection):
            // Refused before any decision: recorded like any refusal, so probing leaves a trace.
            let call = GatewayCall(kind: .http, action: .httpRequest, caller: request.caller, upstream: upstream.configuration.name,
                                   resourceName: "\(upstream.configuration.name):\(request.method) \(Printable.clip(request.rawPath, 200))")
            if let failure = await pipeline.recordRefusal(call, Refusal(.invalid, rejection.message)) {
                return Self.render(failure)
            }
            return Self.error(rejection.status, "invalid_request", rejection.message)
        }
        var call = GatewayCall(kind: .http, action: .httpRequest, caller: request.caller, upstream: upstream.configuration.name,
                               tool: prepared.endpoint, arguments: prepared.arguments,
                               session: pipeline.snapshot(SessionSnapshot(), caller: request.caller), http: prepared.facts)
        call.credential = credential(for: prepared.endpoint.effect, upstream.configuration)
        let outcome = await pipeline.execute(call) { [self] decided in
            await self.forward(decided, prepared: prepared, upstream: upstream, request: request)
        }
        switch outcome {
        case .refused(let refusal):
            return Self.render(refusal)
        case .upstreamError(let code, let message, _):
            return Self.error(502, "upstream_error", "the upstream answered \(code): \(message)")
        case .result(let value):
            return Self.response(from: value)
        }
    }

    /// The vault secret for a call: the write credential only for a call that may change something.
    func credential(for effect: ToolRecord.Effect, _ u: HTTPUpstreamConfiguration) -> String? {
        let reference = effect == .read ? u.credentials?.read : (u.credentials?.write ?? u.credentials?.read)
        return reference.flatMap(HTTPUpstreamConfiguration.vaultSecret)
    }

    // MARK: - Preparing a request

    struct Rejection: Error {
        var status: Int
        var message: String
        init(_ status: Int, _ message: String) {
            self.status = status
            self.message = message
        }
    }

    struct Prepared: Sendable {
        var endpoint: ToolRecord
        var facts: HTTPRequestFacts
        var arguments: JSONValue
        /// The path as it goes upstream: the validated segments, re-encoded.
        var path: String
        /// What kind of body the agent sent (and the upstream gets, re-serialized from what was inspected).
        var bodyKind: BodyKind
    }

    enum BodyKind: Sendable {
        case none, json, form, text
    }

    func prepare(_ r: HTTPProxyRequest, _ u: Upstream) -> Result<Prepared, Rejection> {
        guard HTTPUpstreamConfiguration.methods.contains(r.method) else {
            return .failure(Rejection(405, "method \(Printable.clip(r.method, 16)) is not allowed (GET, HEAD, POST, PUT, PATCH, DELETE)"))
        }
        if let override = r.headers.first(where: { Self.methodOverrides.contains($0.name) }) {
            return .failure(Rejection(400, "the \(override.name) header is refused: the method is the one policy decides"))
        }
        if r.header("transfer-encoding") != nil && r.header("content-length") != nil {
            return .failure(Rejection(400, "Content-Length together with Transfer-Encoding is refused"))
        }
        if r.headers.contains(where: { $0.value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 } }) {
            return .failure(Rejection(400, "a header value holds a line break or NUL"))
        }
        let segments: [String]
        switch Self.segments(of: r.rawPath) {
        case .success(let s): segments = s
        case .failure(let e): return .failure(e)
        }
        let upstreamName = u.configuration.name
        let template: String
        var parameters: [String: String] = [:]
        var operationID: String?
        var effect = HTTPUpstreamConfiguration.defaultEffect(method: r.method)
        var risk: Int?
        var tags: [String] = []
        if let operations = u.operations {
            guard let (op, values) = HTTPUpstreamConfiguration.match(method: r.method, segments: segments, in: operations) else {
                return .failure(Rejection(404, "no operation of `\(upstreamName)` matches \(r.method) /\(Printable.clip(segments.joined(separator: "/"), 200))"))
            }
            template = op.path
            parameters = values
            operationID = op.operationId
            if let e = op.effect { effect = e }
            risk = op.risk
            tags = op.tags ?? []
        } else {
            template = "/" + segments.joined(separator: "/")
        }
        // Query parameters: every value is inspected (a secret in a URL ends up in logs everywhere).
        guard let queryPairs = FormEncoding.pairs(r.rawQuery ?? "") else {
            return .failure(Rejection(400, "the query string is not valid percent-encoding"))
        }
        let query = Dictionary(queryPairs.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
        // The body, bounded, in a form the gateway can inspect; anything else is refused, not passed blind.
        let limit = u.configuration.effectiveMaxRequestBytes
        guard r.body.count <= limit else {
            return .failure(Rejection(413, "the request body is \(r.body.count) bytes; `\(upstreamName)` accepts at most \(limit)"))
        }
        var bodyKind = BodyKind.none
        var body: JSONValue = .null
        if !r.body.isEmpty || r.header("content-type") != nil {
            let type = r.header("content-type").flatMap { HTTPText.mediaType($0) }
            switch type {
            case "application/json":
                guard let parsed = try? JSONValue.parse(bytes: r.body) else {
                    return .failure(Rejection(400, "the request body is not valid JSON"))
                }
                body = parsed
                bodyKind = .json
            case "application/x-www-form-urlencoded":
                guard let pairs = FormEncoding.pairs(String(decoding: r.body, as: UTF8.self)) else {
                    return .failure(Rejection(400, "the form body is not valid percent-encoding"))
                }
                body = .object(pairs.map { ($0.name, .string($0.value)) })
                bodyKind = .form
            case "text/plain":
                guard let text = String(validating: r.body, as: UTF8.self) else {
                    return .failure(Rejection(400, "the text body is not UTF-8"))
                }
                body = .string(text)
                bodyKind = .text
            default:
                return .failure(Rejection(415, "content type `\(Printable.clip(r.header("content-type") ?? "none", 64))` is refused: the gateway inspects JSON, form and plain-text bodies only"))
            }
        }
        let name = "\(upstreamName):\(r.method) \(template)"
        let now = Date()
        let endpoint = ToolRecord(
            qualifiedName: name, upstream: upstreamName, name: "\(r.method) \(template)", definition: "", definitionHash: "",
            pinnedHash: nil, status: .approved, effect: effect, risk: risk ?? ToolClassification.defaultRisk(effect),
            dataClass: u.configuration.effectiveDataClass.rawValue, tags: tags, findings: [], firstSeenAt: now, updatedAt: now,
            classifiedBy: "config")
        let facts = HTTPRequestFacts(method: r.method, pathTemplate: template, operationID: operationID,
                                     dataClass: u.configuration.effectiveDataClass.rawValue, pathParameters: parameters,
                                     query: query)
        var arguments: [(String, JSONValue)] = [("query", .object(queryPairs.map { ($0.name, .string($0.value)) }))]
        if bodyKind != .none { arguments.append(("body", body)) }
        arguments.append(("path", .object(parameters.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        let path = segments.isEmpty ? "" : "/" + segments.map(Self.percentEncodeSegment).joined(separator: "/")
        return .success(Prepared(endpoint: endpoint, facts: facts, arguments: .object(arguments), path: path, bodyKind: bodyKind))
    }

    /// The decoded segments of a request path, refusing every form that two parsers could read differently:
    /// dot segments (plain or encoded), encoded slashes and backslashes, double encoding, empty segments (`//`),
    /// matrix parameters (`;`), control characters.
    static func segments(of raw: String) -> Result<[String], Rejection> {
        guard !raw.isEmpty && raw != "/" else { return .success([]) }
        guard raw.hasPrefix("/") else { return .failure(Rejection(400, "the request target must be a path (origin form)")) }
        var out: [String] = []
        let parts = raw.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            if part.isEmpty {
                // A trailing slash is allowed; an empty segment inside (`//`) is not.
                if i == parts.count - 1 { continue }
                return .failure(Rejection(400, "the path has an empty segment (`//`)"))
            }
            let lower = part.lowercased()
            if part.contains(";") { return .failure(Rejection(400, "the path has a `;` (matrix parameters are refused)")) }
            if part.contains("\\") || lower.contains("%5c") { return .failure(Rejection(400, "the path has a backslash")) }
            if lower.contains("%2f") { return .failure(Rejection(400, "the path has an encoded slash")) }
            if lower.contains("%25") { return .failure(Rejection(400, "the path is encoded twice (`%25`)")) }
            guard let decoded = part.removingPercentEncoding else {
                return .failure(Rejection(400, "the path is not valid percent-encoding"))
            }
            if decoded == "." || decoded == ".." { return .failure(Rejection(400, "the path has a dot segment (`.` or `..`)")) }
            if decoded.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                return .failure(Rejection(400, "the path has a control character"))
            }
            out.append(decoded)
        }
        return .success(out)
    }

    static func percentEncodeSegment(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~!$&'()*+,=:@")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    // MARK: - Forwarding

    func forward(_ call: GatewayCall, prepared: Prepared, upstream: Upstream, request: HTTPProxyRequest) async -> UpstreamReply {
        let u = upstream.configuration
        let args = call.forwardedArguments
        // What was inspected (and perhaps redacted) is what goes upstream, re-serialized: never bytes the gateway
        // did not parse.
        let query = Self.stringPairs(args?["query"])
        var url = u.baseURL.hasSuffix("/") ? String(u.baseURL.dropLast()) : u.baseURL
        url += prepared.path
        if !query.isEmpty { url += "?" + FormEncoding.encode(query) }
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers where Self.forwardedRequestHeaders.contains(name) {
            outgoing.headers.add(name: name, value: value)
        }
        outgoing.headers.replaceOrAdd(name: "User-Agent", value: "portcullis")
        // A traced call: the upstream's parent is the gateway's span of the round trip, not the agent's span.
        if let traceparent = call.upstreamTraceParent { outgoing.headers.replaceOrAdd(name: "traceparent", value: traceparent) }
        let body = args?["body"]
        switch prepared.bodyKind {
        case .none:
            break
        case .json:
            outgoing.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            outgoing.body = .bytes(ByteBuffer(string: (body ?? .null).serialized))
        case .form:
            outgoing.headers.replaceOrAdd(name: "Content-Type", value: "application/x-www-form-urlencoded")
            outgoing.body = .bytes(ByteBuffer(string: FormEncoding.encode(Self.stringPairs(body))))
        case .text:
            outgoing.headers.replaceOrAdd(name: "Content-Type", value: "text/plain; charset=utf-8")
            outgoing.body = .bytes(ByteBuffer(string: body?.stringValue ?? ""))
        }
        if let secret = call.credential {
            guard let injector else { return .failure("the vault is not available, so `\(u.name)`'s credential cannot be injected") }
            // A per-user credential is the user's own: injected only for a call acting for that user.
            let subject = CredentialSubject(user: call.caller.onBehalfOf, actors: call.caller.chain)
            do {
                for (name, value) in try await injector.headers(secret: secret, for: subject) {
                    outgoing.headers.replaceOrAdd(name: name, value: value)
                }
            } catch let e as VaultError where e.code == .needsUser || e.code == .notConnected {
                var data: [(String, JSONValue)] = [("upstream", .string(u.name))]
                if e.code == .notConnected, let link = connectLink?(u.name) { data.append(("connect", .string(link))) }
                return .refused(Refusal(.credentialUnavailable, e.message, data: data))
            } catch {
                return .failure("the credential for `\(u.name)` is unavailable: \(error)")
            }
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        let limit = u.effectiveMaxResponseBytes
        do {
            response = try await client.execute(outgoing, timeout: .milliseconds(Int64(u.effectiveTimeoutSeconds * 1000)))
            if (300..<400).contains(Int(response.status.code)) {
                return .failure("`\(u.name)` answered with a redirect (\(response.status.code)); the gateway does not follow redirects")
            }
            bytes = try await response.body.collect(upTo: limit)
        } catch let error as NIOTooManyBytesError {
            _ = error
            return .failure("`\(u.name)` answered more than \(limit) bytes; the answer was dropped")
        } catch {
            return .failure("`\(u.name)` could not be reached: \(HTTPUpstream.describe(error))")
        }
        let raw = [UInt8](bytes.readableBytesView)
        var answer: JSONValue = .null
        if !raw.isEmpty {
            let type = response.headers.first(name: "content-type").flatMap { HTTPText.mediaType($0) }
            switch type {
            case .some(let t) where t == "application/json" || t.hasSuffix("+json"):
                guard let parsed = try? JSONValue.parse(bytes: raw) else {
                    return .failure("`\(u.name)` answered invalid JSON")
                }
                answer = parsed
            case .some(let t) where t.hasPrefix("text/"):
                guard let text = String(validating: raw, as: UTF8.self) else { return .failure("`\(u.name)` answered text that is not UTF-8") }
                answer = .string(text)
            default:
                return .failure("`\(u.name)` answered `\(type ?? "no content type")`, which the gateway cannot inspect; the answer was dropped")
            }
        }
        var headers: [(String, JSONValue)] = []
        for (name, value) in response.headers where Self.forwardedResponseHeaders.contains(name.lowercased()) {
            headers.append((name.lowercased(), .string(value)))
        }
        return .result(.object([
            ("status", .number(String(response.status.code))),
            ("headers", .object(headers)),
            ("body", answer),
            ("isError", .bool(response.status.code >= 400)),
        ]))
    }

    /// The members of a (possibly redacted) query or form object, as they go upstream.
    static func stringPairs(_ value: JSONValue?) -> [(String, String)] {
        guard case .object(let members)? = value else { return [] }
        return members.map { ($0.0, $0.1.stringValue ?? "") }
    }

    // MARK: - Answers

    static func response(from value: JSONValue) -> GatewayHTTPResponse {
        var status = 502
        if case .number(let n)? = value["status"], let code = Int(n) { status = code }
        var headers: [(name: String, value: String)] = []
        if case .object(let members)? = value["headers"] {
            for (n, v) in members { if let s = v.stringValue { headers.append((n, s)) } }
        }
        let body = value["body"] ?? .null
        switch body {
        case .null:
            return GatewayHTTPResponse(status: status, headers: headers)
        case .string(let text):
            headers.append(("content-type", "text/plain; charset=utf-8"))
            return GatewayHTTPResponse(status: status, headers: headers, body: Array(text.utf8))
        default:
            headers.append(("content-type", "application/json"))
            return GatewayHTTPResponse(status: status, headers: headers, body: Array(body.serialized.utf8))
        }
    }

    public static func render(_ refusal: Refusal) -> GatewayHTTPResponse {
        let status: Int
        switch refusal.code {
        case .denied, .killed, .suspended, .approvalRefused, .obligationUnknown, .credentialUnavailable: status = 403
        case .rateLimited: status = 429
        case .approvalPending: status = 403
        case .auditUnavailable, .stateUnavailable: status = 503
        case .upstreamUnavailable, .withheld: status = 502
        case .invalid: status = 400
        }
        var members: [(String, JSONValue)] = [("error", .string(refusal.code.rawValue)), ("message", .string(refusal.reason))]
        members.append(contentsOf: refusal.data)
        var headers: [(name: String, value: String)] = [("content-type", "application/json")]
        if let seconds = refusal.retryAfterSeconds { headers.append(("retry-after", String(seconds))) }
        return GatewayHTTPResponse(status: status, headers: headers, body: Array(JSONValue.object(members).serialized.utf8))
    }

    public static func error(_ status: Int, _ code: String, _ message: String) -> GatewayHTTPResponse {
        GatewayHTTPResponse(status: status, headers: [("content-type", "application/json")],
                            body: Array(JSONValue.object([("error", .string(code)), ("message", .string(message))]).serialized.utf8))
    }
}
