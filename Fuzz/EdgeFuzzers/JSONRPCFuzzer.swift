// libFuzzer entry point for the JSON-RPC edge of the gateway. Built by scripts/fuzz-edge.sh with
// `swiftc -sanitize=fuzzer,address` into a partial `PortcullisGateway` module: JSONRPC.swift,
// UpstreamTransport.swift, and the `SSE` enum cut out of HTTPUpstream.swift at build time (the rest
// of that file needs AsyncHTTPClient); over `Cedar` and a partial `PortcullisEnforcement` holding
// the public `JSONValue` accessors (JSONValue+Access.swift).
//
// The first byte picks the reader; the rest is the input:
//   0  a message from an agent: `RPCMessage.parse`
//   1  an answer from an upstream (a stdio line or an HTTP JSON body): `JSONValue.parse`, then
//      `UpstreamResponse.outcome`
//   2  an upstream's `text/event-stream` body: `SSE.dataFields`, then each event as in 1
// Every reader must return a value or a failure with a message, and the properties below must
// hold; a trap, a hang or an address-sanitizer report is a bug.

import Cedar
import PortcullisEnforcement

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONRPC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 4 {
    case 0: JSONRPCProperties.agentMessage(body)
    case 1: JSONRPCProperties.upstreamAnswer(body)
    case 2: JSONRPCProperties.eventStream(body)
    default: JSONRPCProperties.traceParent(body)
    }
    return 0
}

enum JSONRPCProperties {
    /// A `traceparent` an agent sent reads as nothing, or as a context whose header reads back to itself: version
    /// 00, lowercase hex ids that are not all zero.
    static func traceParent(_ bytes: [UInt8]) {
        guard let parsed = TraceParent(String(decoding: bytes, as: UTF8.self)) else { return }
        let header = parsed.header
        guard header.utf8.count == 55, header.hasPrefix("00-"), TraceParent(header) == parsed else {
            fuzzFail("a trace context that does not read back: \(header)")
        }
        guard parsed.traceID != String(repeating: "0", count: 32), parsed.parentID != String(repeating: "0", count: 16),
              (parsed.traceID + parsed.parentID + parsed.flags).allSatisfy({ "0123456789abcdef".contains($0) }) else {
            fuzzFail("an invalid trace context was accepted: \(header)")
        }
    }

    /// An agent's message parses to a well-formed message, or to a JSON-RPC error that can be sent back.
    static func agentMessage(_ bytes: [UInt8]) {
        switch RPCMessage.parse(bytes) {
        case .success(let message):
            fuzzAssert(message.id.map(isValidID) ?? true, "accepted an id that is neither string nor number")
            if let params = message.params {
                guard case .object = params else { fuzzFail("accepted params that are not an object") }
            }
            // Re-serialising the message and parsing it again gives the same message.
            let text = reserialized(message).serialized
            guard case .success(let again) = RPCMessage.parse(Array(text.utf8)) else {
                fuzzFail("the re-serialised message is refused: \(text)")
            }
            fuzzAssert(again.id == message.id, "id changed on a round trip: \(text)")
            fuzzAssert(again.method.utf8.elementsEqual(message.method.utf8), "method changed on a round trip: \(text)")
            fuzzAssert(again.params == message.params, "params changed on a round trip: \(text)")
        case .failure(let failure):
            fuzzAssert(!failure.message.isEmpty, "a failure without a message")
            let codes = [RPCErrorCode.parseError, RPCErrorCode.invalidRequest, RPCErrorCode.invalidParams]
            fuzzAssert(codes.contains(failure.code), "unexpected error code \(failure.code)")
            fuzzAssert(failure.id.map(isValidID) ?? true, "a failure echoes an id that is neither string nor number")
            // The error response is itself a JSON-RPC document that reads back unchanged.
            let response = failure.response
            fuzzAssert((try? JSONValue.parse(response.serialized)) == response,
                       "the error response does not read back: \(response.serialized)")
        }
        jsonRoundTrip(bytes)
    }

    /// An upstream's answer is a result object or an error, never both and never a crash.
    static func upstreamAnswer(_ bytes: [UInt8]) {
        guard let message = try? JSONValue.parse(bytes: bytes) else { return }
        switch UpstreamResponse.outcome(message) {
        case .success(let result):
            fuzzAssert(message["error"] == nil, "an answer with an error member read as a success")
            guard case .object = result else { fuzzFail("a result that is not an object was accepted") }
        case .failure(let error):
            fuzzAssert(!error.description.isEmpty, "an upstream error without a description")
            if message["error"] != nil {
                guard case .rpcError = error else { fuzzFail("an upstream error member read as \(error)") }
            }
        }
        jsonRoundTrip(bytes)
    }

    /// An event stream yields at most one event per `data:` line, without carriage returns.
    static func eventStream(_ bytes: [UInt8]) {
        let events = SSE.dataFields(bytes)
        fuzzAssert(events.count <= dataLineCount(bytes), "more events than data lines")
        for event in events {
            fuzzAssert(!event.contains(0x0D), "an event's data holds a carriage return")
            upstreamAnswer(event)
        }
    }

    /// Any document the JSON reader accepts serialises to text that reads back to the same value,
    /// and serialising is a fixpoint; the canonical form is idempotent.
    static func jsonRoundTrip(_ bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes: bytes) else { return }
        let text = value.serialized
        guard let again = try? JSONValue.parse(text) else { fuzzFail("serialised JSON does not parse: \(text)") }
        fuzzAssert(again == value, "a JSON round trip changed the value: \(text)")
        fuzzAssert(again.serialized.utf8.elementsEqual(text.utf8), "serialising is not a fixpoint: \(text)")
        let canonical = value.canonical
        fuzzAssert(canonical.canonical == canonical, "the canonical form is not idempotent: \(text)")
    }

    static func isValidID(_ id: JSONValue) -> Bool {
        switch id {
        case .string, .number: true
        default: false
        }
    }

    /// The message as a client would send it again.
    static func reserialized(_ message: RPCMessage) -> JSONValue {
        var members: [(String, JSONValue)] = [("jsonrpc", .string("2.0"))]
        if let id = message.id { members.append(("id", id)) }
        members.append(("method", .string(message.method)))
        if let params = message.params { members.append(("params", params)) }
        return .object(members)
    }

    /// Lines that start with `data:` (after LF, CR or CRLF), counted independently of `SSE`.
    static func dataLineCount(_ bytes: [UInt8]) -> Int {
        let prefix = Array("data:".utf8)
        var count = 0
        for i in bytes.indices where i == 0 || bytes[i - 1] == 0x0A || bytes[i - 1] == 0x0D {
            if bytes[i...].starts(with: prefix) { count += 1 }
        }
        return count
    }
}

/// Stops the fuzzer when a property fails; libFuzzer keeps the input as a crash.
func fuzzAssert(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fuzzFail(message()) }
}

func fuzzFail(_ message: String) -> Never {
    fatalError("property violated: \(message)")
}
