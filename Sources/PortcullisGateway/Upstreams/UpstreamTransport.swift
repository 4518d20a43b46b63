import PortcullisEnforcement
public import Cedar

/// Why an upstream call failed. Every case ends the call with an error to the agent (fail closed).
public enum UpstreamError: Error, Sendable, CustomStringConvertible {
    /// The upstream did not answer in time.
    case timeout(String)
    /// The upstream is not running or cannot be reached.
    case unavailable(String)
    /// The upstream answered with something that is not a valid JSON-RPC response.
    case protocolViolation(String)
    /// The upstream answered with a JSON-RPC error (passed on to the agent).
    case rpcError(code: Int, message: String, data: JSONValue?)

    public var description: String {
        switch self {
        case .timeout(let s): "timeout: \(s)"
        case .unavailable(let s): "unavailable: \(s)"
        case .protocolViolation(let s): "protocol violation: \(s)"
        case .rpcError(let code, let message, _): "error \(code): \(message)"
        }
    }
}

/// A connection to one upstream MCP server, shared by every agent session.
///
/// The gateway speaks the session-based revision to upstreams (an `initialize` handshake,
/// then requests); request ids are the gateway's own, so agents never choose them.
public protocol UpstreamTransport: Sendable {
    /// Sends a request and returns its `result`.
    func call(method: String, params: JSONValue?, timeoutSeconds: Double) async throws(UpstreamError) -> JSONValue
    /// Whether the upstream said its tool list changed since the last `tools/list`; clears the flag.
    func takeToolsChanged() async -> Bool
    /// The same, without clearing the flag.
    func takeToolsChangedPeek() async -> Bool
    /// Stops the upstream (a stdio child is terminated).
    func shutdown() async
}

/// The MCP revisions the gateway speaks.
public enum MCPVersion {
    /// Session-based revisions, newest first.
    public static let handshake = ["2025-11-25", "2025-06-18"]
    /// The stateless revision (per-request `_meta`).
    public static let modern = ["2026-07-28"]
    /// What the gateway asks upstreams for.
    static let upstream = "2025-06-18"

    public static let protocolVersionMetaKey = "io.modelcontextprotocol/protocolVersion"
    public static let clientCapabilitiesMetaKey = "io.modelcontextprotocol/clientCapabilities"
    public static let clientInfoMetaKey = "io.modelcontextprotocol/clientInfo"
    /// Where an agent puts its reasoning for a call (audited, not interpreted).
    public static let reasoningMetaKey = "io.portcullis/reasoning"

    static var initializeParams: JSONValue {
        .object([
            ("protocolVersion", .string(upstream)),
            ("capabilities", .object([])),
            ("clientInfo", .object([("name", .string("portcullis-gateway")), ("version", .string("0.1.0"))])),
        ])
    }
}

/// Matches a response line from an upstream with the waiting call.
enum UpstreamResponse {
    /// Splits a response into result or error.
    static func outcome(_ message: JSONValue) -> Result<JSONValue, UpstreamError> {
        if let error = message["error"] {
            let code = error["code"].flatMap { v -> Int? in if case .number(let n) = v { return Int(n) } else { return nil } }
            return .failure(.rpcError(code: code ?? RPCErrorCode.internalError,
                                      message: error["message"]?.stringValue ?? "upstream error", data: error["data"]))
        }
        guard let result = message["result"] else { return .failure(.protocolViolation("response has neither result nor error")) }
        guard case .object = result else { return .failure(.protocolViolation("result is not an object")) }
        return .success(result)
    }
}
