import PortcullisEnforcement
public import Cedar

/// JSON-RPC 2.0 error codes the gateway answers with.
public enum RPCErrorCode {
    public static let parseError = -32700
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    public static let invalidParams = -32602
    public static let internalError = -32603
    /// MCP 2026-07-28: a routing header disagrees with the body.
    public static let headerMismatch = -32020
    /// MCP 2026-07-28: the requested protocol version is not served.
    public static let unsupportedProtocolVersion = -32022
    /// Portcullis: the call was denied by policy (reason in `data`).
    public static let denied = -32001
    /// Portcullis: the upstream failed, timed out or is unavailable.
    public static let upstreamUnavailable = -32002
    /// Portcullis: a rate or session limit was reached.
    public static let limited = -32003
    /// Portcullis: the decision could not be recorded, so the call was not made.
    public static let auditUnavailable = -32004
    /// Portcullis: the call waits for a person's approval (id in `data.approvalId`); retry it later.
    public static let approvalPending = -32005
}

/// One incoming JSON-RPC message: a request (with an id) or a notification (without).
public struct RPCMessage: Sendable {
    /// The id as sent (string or number); nil for a notification.
    public var id: JSONValue?
    public var method: String
    public var params: JSONValue?

    public var isNotification: Bool { id == nil }

    /// `params` as an object's members, or empty.
    public var paramMembers: [(String, JSONValue)] {
        if case .object(let members)? = params { return members }
        return []
    }

    public subscript(param key: String) -> JSONValue? { params?[key] }

    /// Reads one message from a request body. Batches (JSON arrays) are refused: MCP removed
    /// them in 2025-06-18, and they multiply the work one request can ask for.
    public static func parse(_ bytes: [UInt8]) -> Result<RPCMessage, RPCFailure> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes: bytes)
        } catch {
            return .failure(RPCFailure(id: nil, code: RPCErrorCode.parseError, message: "parse error: \(error.message)"))
        }
        if case .array = value {
            return .failure(RPCFailure(id: nil, code: RPCErrorCode.invalidRequest,
                                       message: "JSON-RPC batches are not supported; send one message per request"))
        }
        guard case .object = value else {
            return .failure(RPCFailure(id: nil, code: RPCErrorCode.invalidRequest, message: "the message must be a JSON object"))
        }
        let id = value["id"]
        if let id {
            switch id {
            case .string, .number: break
            default:
                return .failure(RPCFailure(id: nil, code: RPCErrorCode.invalidRequest, message: "id must be a string or a number"))
            }
        }
        guard value["jsonrpc"] == .string("2.0") else {
            return .failure(RPCFailure(id: id, code: RPCErrorCode.invalidRequest, message: "jsonrpc must be \"2.0\""))
        }
        guard case .string(let method)? = value["method"] else {
            if value["result"] != nil || value["error"] != nil {
                return .failure(RPCFailure(id: id, code: RPCErrorCode.invalidRequest,
                                           message: "the gateway sends no requests to clients; responses are not accepted"))
            }
            return .failure(RPCFailure(id: id, code: RPCErrorCode.invalidRequest, message: "method is missing"))
        }
        let params = value["params"]
        if let params {
            guard case .object = params else {
                return .failure(RPCFailure(id: id, code: RPCErrorCode.invalidParams, message: "params must be an object"))
            }
        }
        return .success(RPCMessage(id: id, method: method, params: params))
    }
}

/// A JSON-RPC error to send back.
public struct RPCFailure: Error, Sendable {
    public var id: JSONValue?
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(id: JSONValue?, code: Int, message: String, data: JSONValue? = nil) {
        self.id = id
        self.code = code
        self.message = message
        self.data = data
    }

    /// The error response object.
    public var response: JSONValue {
        var error: [(String, JSONValue)] = [("code", .number(String(code))), ("message", .string(message))]
        if let data { error.append(("data", data)) }
        return .object([("jsonrpc", .string("2.0")), ("id", id ?? .null), ("error", .object(error))])
    }
}

enum RPC {
    /// A success response.
    static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        .object([("jsonrpc", .string("2.0")), ("id", id), ("result", result)])
    }

    static func request(id: Int, method: String, params: JSONValue?) -> JSONValue {
        var members: [(String, JSONValue)] = [("jsonrpc", .string("2.0")), ("id", .number(String(id))), ("method", .string(method))]
        if let params { members.append(("params", params)) }
        return .object(members)
    }

    static func notification(method: String, params: JSONValue? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [("jsonrpc", .string("2.0")), ("method", .string(method))]
        if let params { members.append(("params", params)) }
        return .object(members)
    }
}
