public import AsyncHTTPClient
public import Cedar
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import PortcullisCore
import PortcullisEnforcement
public import PortcullisVault
import Synchronization

/// An upstream MCP server reached over Streamable HTTP.
///
/// The gateway initializes one upstream session and sends every call through it with the
/// configured headers (the gateway's own credentials for this upstream; an agent's token is
/// never forwarded). Answers may be JSON or an SSE stream; a session the upstream forgot
/// (404) is re-initialized once.
public final class HTTPUpstream: UpstreamTransport {
    private struct State {
        var sessionID: String?
        var initialized = false
        var nextID = 1
        var toolsChanged = false
    }

    public let name: String
    let url: String
    let headers: [String: String]
    /// Resolves header values written `vault:<secret>` for each request (so a rotated secret applies at once).
    let injector: CredentialInjector?
    let client: HTTPClient
    let logger: Logger
    /// Largest upstream answer accepted.
    let maxResponseBytes: Int
    private let state = Mutex(State())

    /// Whether ``client`` is this upstream's own (and is shut down with it).
    let ownsClient: Bool

    /// - Parameter client: nil gives the upstream its own client: its own connection pool, no redirects
    ///   followed (a redirect could send the gateway's credentials for this upstream elsewhere), a
    ///   2-second connect timeout and no retrying of refused connections, so that an unreachable
    ///   upstream fails at once with an error that names it.
    public init(name: String, url: String, headers: [String: String], client: HTTPClient? = nil, logger: Logger,
                maxResponseBytes: Int = 8 << 20, injector: CredentialInjector? = nil) {
        self.name = name
        self.url = url
        self.headers = headers
        self.injector = injector
        self.client = client ?? HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.clientConfiguration)
        self.ownsClient = client == nil
        self.logger = logger
        self.maxResponseBytes = maxResponseBytes
    }

    /// The configured headers, with `vault:<secret>` values replaced by the secret's header value. A secret that
    /// cannot be read fails the request: nothing is sent without its credential.
    func resolvedHeaders() async throws(UpstreamError) -> [(String, String)] {
        var out: [(String, String)] = []
        for (k, v) in headers {
            guard let secret = HTTPUpstreamConfiguration.vaultSecret(v) else {
                out.append((k, v))
                continue
            }
            guard let injector else { throw .unavailable("upstream `\(name)` needs vault:\(secret), but no vault is open") }
            do {
                out.append((k, try await injector.headerValue(secret: secret)))
            } catch {
                throw .unavailable("the credential vault:\(secret) for upstream `\(name)` is unavailable: \(error)")
            }
        }
        return out
    }

    /// The configuration of an upstream's own client.
    public static var clientConfiguration: HTTPClient.Configuration {
        var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        pool.retryConnectionEstablishment = false
        return HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2)),
                                        connectionPool: pool)
    }

    public func call(method: String, params: JSONValue?, timeoutSeconds: Double) async throws(UpstreamError) -> JSONValue {
        if !state.withLock({ $0.initialized }) { try await initialize(timeoutSeconds: timeoutSeconds) }
        do {
            return try await post(method: method, params: params, timeoutSeconds: timeoutSeconds)
        } catch .unavailable(let reason) where reason == "session expired" {
            state.withLock { $0.initialized = false }
            try await initialize(timeoutSeconds: timeoutSeconds)
            return try await post(method: method, params: params, timeoutSeconds: timeoutSeconds)
        }
    }

    public func takeToolsChanged() async -> Bool {
        state.withLock { s in
            defer { s.toolsChanged = false }
            return s.toolsChanged
        }
    }

    public func takeToolsChangedPeek() async -> Bool {
        state.withLock { $0.toolsChanged }
    }

    public func shutdown() async {
        // The session is closed upstream only with its credential; without one, the upstream lets it expire.
        if let session = state.withLock({ $0.sessionID }), let resolved = try? await resolvedHeaders() {
            var request = HTTPClientRequest(url: url)
            request.method = .DELETE
            for (k, v) in resolved { request.headers.add(name: k, value: v) }
            request.headers.add(name: "Mcp-Session-Id", value: session)
            _ = try? await client.execute(request, timeout: .seconds(2))
        }
        if ownsClient { try? await client.shutdown() }
    }

    private func initialize(timeoutSeconds: Double) async throws(UpstreamError) {
        state.withLock { $0.sessionID = nil }
        _ = try await post(method: "initialize", params: MCPVersion.initializeParams, timeoutSeconds: timeoutSeconds)
        try await notify("notifications/initialized", timeoutSeconds: timeoutSeconds)
        state.withLock { $0.initialized = true }
    }

    private func notify(_ method: String, timeoutSeconds: Double) async throws(UpstreamError) {
        _ = try await exchange(RPC.notification(method: method), id: nil, timeoutSeconds: timeoutSeconds)
    }

    private func post(method: String, params: JSONValue?, timeoutSeconds: Double) async throws(UpstreamError) -> JSONValue {
        let id = state.withLock { s -> Int in
            defer { s.nextID += 1 }
            return s.nextID
        }
        guard let message = try await exchange(RPC.request(id: id, method: method, params: params), id: id,
                                               timeoutSeconds: timeoutSeconds) else {
            throw .protocolViolation("upstream `\(name)` sent no response to \(method)")
        }
        return try UpstreamResponse.outcome(message).get()
    }

    /// POSTs one message; returns the response with `id` (nil for a notification).
    private func exchange(_ message: JSONValue, id: Int?, timeoutSeconds: Double) async throws(UpstreamError) -> JSONValue? {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (k, v) in try await resolvedHeaders() { request.headers.add(name: k, value: v) }
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        request.headers.replaceOrAdd(name: "Accept", value: "application/json, text/event-stream")
        let session = state.withLock { $0.sessionID }
        if let session {
            request.headers.add(name: "Mcp-Session-Id", value: session)
            request.headers.add(name: "MCP-Protocol-Version", value: MCPVersion.upstream)
        }
        request.body = .bytes(ByteBuffer(string: message.serialized))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(timeoutSeconds * 1000)))
            body = try await response.body.collect(upTo: maxResponseBytes)
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout {
            throw .timeout("upstream `\(name)` did not answer within \(timeoutSeconds)s")
        } catch let e as NIOTooManyBytesError {
            throw .protocolViolation("upstream `\(name)` answer is larger than \(maxResponseBytes) bytes: \(e)")
        } catch {
            throw .unavailable("upstream `\(name)` cannot be reached (\(Self.describe(error)))")
        }
        if (300..<400).contains(Int(response.status.code)) {
            throw .protocolViolation("upstream `\(name)` answered with a redirect (\(response.status.code)); redirects are not followed")
        }
        if session != nil && response.status == .notFound { throw .unavailable("session expired") }
        if let newSession = response.headers.first(name: "Mcp-Session-Id") {
            state.withLock { $0.sessionID = newSession }
        }
        guard id != nil else {
            guard (200..<300).contains(Int(response.status.code)) else {
                throw .unavailable("upstream `\(name)` refused a notification with \(response.status.code)")
            }
            return nil
        }
        let bytes = Array(buffer: body)
        // Only the two media types of Streamable HTTP are read; anything else (HTML, a JSON look-alike
        // type, two content types) is refused rather than guessed at.
        let mediaType = Self.mediaType(response.headers[canonicalForm: "Content-Type"].map(String.init))
        guard mediaType == "application/json" || mediaType == "text/event-stream" else {
            throw .protocolViolation("upstream `\(name)` answered \(response.status.code) with media type `\(mediaType ?? "none")`, not application/json or text/event-stream")
        }
        if mediaType == "text/event-stream" {
            for data in SSE.dataFields(bytes) {
                guard let event = try? JSONValue.parse(bytes: data) else { continue }
                if event["method"]?.stringValue == "notifications/tools/list_changed" {
                    state.withLock { $0.toolsChanged = true }
                }
                if let id, event["id"] == .number(String(id)), event["method"] == nil { return event }
            }
            throw .protocolViolation("upstream `\(name)` closed its event stream without a response")
        }
        guard let value = try? JSONValue.parse(bytes: bytes) else {
            throw .protocolViolation("upstream `\(name)` answered \(response.status.code) without a JSON-RPC message")
        }
        return value
    }
}

extension HTTPUpstream {
    /// The media type of exactly one `Content-Type` value, lowercased, without parameters; nil otherwise.
    static func mediaType(_ values: [String]) -> String? {
        guard values.count == 1 else { return nil }
        return HTTPText.mediaType(values[0])
    }

    /// A transport error in a sentence (NIO's connection errors are long and nested).
    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("connectTimeout") { return "connect timeout" }
        if text.contains("NXDOMAIN") || text.contains("nameResolution") { return "name not resolved" }
        return Printable.clip(text, 160)
    }
}

/// Server-sent events: the `data` of each event (RFC 8895-style parsing of `text/event-stream`).
enum SSE {
    /// Splits on LF, CRLF or CR at the byte level (a Swift `String` would treat CRLF as one character).
    static func dataFields(_ bytes: [UInt8]) -> [[UInt8]] {
        var events: [[UInt8]] = []
        var data: [UInt8] = []
        var hasData = false
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0A || bytes[i] == 0x0D {
                lines.append(bytes[start..<i])
                if bytes[i] == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A { i += 1 }
                start = i + 1
            }
            i += 1
        }
        if start < bytes.count { lines.append(bytes[start...]) }
        let prefix = Array("data:".utf8)
        for line in lines {
            if line.isEmpty {
                if hasData { events.append(data) }
                data = []
                hasData = false
            } else if line.starts(with: prefix) {
                var value = line.dropFirst(prefix.count)
                if value.first == 0x20 { value = value.dropFirst() }
                if hasData { data.append(0x0A) }
                data.append(contentsOf: value)
                hasData = true
            }
        }
        if hasData { events.append(data) }
        return events
    }
}
