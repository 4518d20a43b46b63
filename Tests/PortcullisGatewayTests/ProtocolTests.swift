import Cedar
import Testing
@testable import PortcullisGateway
@testable import PortcullisEnforcement

@Suite struct JSONRPCTests {
    func failure(_ text: String) -> RPCFailure? {
        if case .failure(let f) = RPCMessage.parse(Array(text.utf8)) { return f }
        return nil
    }

    @Test func parsesRequestsAndNotifications() throws {
        let r = try RPCMessage.parse(Array(#"{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{}}"#.utf8)).get()
        #expect(r.id == .string("a") && r.method == "tools/list" && !r.isNotification)
        let n = try RPCMessage.parse(Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8)).get()
        #expect(n.isNotification)
    }

    @Test(arguments: [
        ("{", RPCErrorCode.parseError),
        (#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, RPCErrorCode.invalidRequest),
        (#""just a string""#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":1}"#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":1,"result":{}}"#, RPCErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#, RPCErrorCode.invalidParams),
        (#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#, RPCErrorCode.parseError),
    ])
    func refuses(_ text: String, _ code: Int) {
        #expect(failure(text)?.code == code)
    }

    @Test func canonicalFormSortsMembersRecursively() throws {
        let v = try JSONValue.parse(#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":null}}"#)
        #expect(v.canonical.serialized == #"{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}"#)
        #expect(GatewayCall.digest(of: v) == GatewayCall.digest(of: try JSONValue.parse(#"{"a":{"c":null,"d":[{"z":1,"y":2}]},"b":1}"#)))
    }

    @Test func sseEventsWithAnyLineEnding() {
        let body = "event: message\r\ndata: {\"id\":1}\r\n\r\n: comment\ndata: a\ndata: b\n\n"
        let events = SSE.dataFields(Array(body.utf8)).map { String(decoding: $0, as: UTF8.self) }
        #expect(events == ["{\"id\":1}", "a\nb"])
    }

    @Test func headerValuesDecode() {
        #expect(HeaderValue.decode("tools.echo") == "tools.echo")
        #expect(HeaderValue.decode("=?base64?w6lsYW4=?=") == "élan")
        #expect(HeaderValue.decode(nil) == nil)
    }
}
