import PortcullisCore
import PortcullisTesting
import Cedar
import Foundation
import PortcullisEnforcement
import Testing

@testable import PortcullisGateway

/// A fixed-seed run of the properties scripts/fuzz-edge.sh fuzzes (Fuzz/EdgeFuzzers/), so that CI
/// checks them on every build: a mutated input gives a value or a clear error, never a trap.
@Suite("Gateway edge readers on mutated input")
struct EdgeFuzzTests {
    static let iterations = 5_000

    static let messages = [
        #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"time.get_current_time","arguments":{"timezone":"UTC"}}}"#,
        #"{"jsonrpc":"2.0","id":"a-1","method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        #"{"jsonrpc":"2.0","id":-1.5e3,"method":"tools/call","params":{"name":"fs.read","arguments":{"path":"\u002Fetc\ud83d\ude00\n","n":[1,true,null,{}]}}}"#,
        #"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}]"#,
        #"{"jsonrpc":"2.0","id":1,"result":{}}"#,
    ]

    static let answers = [
        #"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"12:00"}],"isError":false}}"#,
        #"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad arguments","data":{"field":"x"}}}"#,
        #"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
    ]

    static let streams = [
        "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\r\n\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{}}\n\n",
        ": comment\rid: 7\rdata:{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-1,\"message\":\"no\"}}\r\r",
    ]

    static let configurations = [
        #"{"upstreams":[{"name":"time","command":["mcp-server-time","--local-timezone","UTC"]},{"name":"web","url":"https://tools.internal/mcp","headers":{"Authorization":"Bearer x"},"untrusted":true,"timeoutSeconds":20}],"tools":{"git.git_commit":{"effect":"write","risk":3,"dataClass":"source","tags":["vcs"]}},"approveNewTools":true,"rateLimit":{"perMinute":120,"burst":30},"toolRateLimits":{"git.git_commit":{"perMinute":6,"burst":2}},"dlp":{"arguments":"block","results":"redact"},"maxMessageBytes":1048576,"requiredScope":"mcp"}"#,
        #"{"approvals":{"waitSeconds":1,"expirySeconds":600},"monitoring":{"enabled":true,"burstFactor":5,"offHoursShare":0.02,"webhook":"https://alerts.example/hook"},"response":{"rules":[{"minScore":1,"action":"alert"},{"minScore":60,"action":"read_only"},{"minScore":95,"action":"kill"}]}}"#,
    ]

    /// Bytes and fragments that JSON and event streams are made of.
    static let fragments = [
        "{", "}", "[", "]", ":", ",", "\"", "\\", "\\u0000", "\\ud800", "\\udc00", "null", "true", "1e999", "-0", "0.5",
        "\"id\":", "\"method\":", "\"params\":[]", "\"error\":{}", "\"result\":1", "data:", "data: ", "\r", "\n", "\r\n",
        "\u{0}", "\u{1F600}", "\u{301}", "\"rateLimit\":{}", "\"upstreams\":[{}]",
    ].map { Array($0.utf8) }

    /// One to four byte-level edits: delete, insert a fragment, overwrite, or cut a run.
    static func mutate(_ text: String, _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = Array(text.utf8)
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: bytes.remove(at: i)
            case 1: bytes.insert(contentsOf: fragments.randomElement(using: &rng)!, at: i)
            case 2: bytes[i] = fragments.randomElement(using: &rng)!.first ?? 0
            default: bytes.removeSubrange(i..<min(bytes.count, i + Int.random(in: 1...12, using: &rng)))
            }
        }
        return bytes
    }

    @Test("5,000 mutated agent messages parse and round-trip, or fail with a JSON-RPC error that can be sent back")
    func agentMessages() {
        var rng = SplitMix64(state: 0x5EED_0001)
        var accepted = 0
        var refused = 0
        for i in 0..<Self.iterations {
            let bytes = Self.mutate(Self.messages[i % Self.messages.count], &rng)
            switch RPCMessage.parse(bytes) {
            case .success(let message):
                accepted += 1
                #expect(message.id.map(Self.isValidID) ?? true)
                let text = Self.reserialized(message).serialized
                guard case .success(let again) = RPCMessage.parse(Array(text.utf8)) else {
                    Issue.record("the re-serialised message is refused: \(text)")
                    continue
                }
                #expect(again.id == message.id, "\(text)")
                #expect(again.method.utf8.elementsEqual(message.method.utf8), "\(text)")
                #expect(again.params == message.params, "\(text)")
            case .failure(let failure):
                refused += 1
                #expect(!failure.message.isEmpty)
                #expect([RPCErrorCode.parseError, RPCErrorCode.invalidRequest, RPCErrorCode.invalidParams].contains(failure.code))
                #expect(failure.id.map(Self.isValidID) ?? true)
                #expect((try? JSONValue.parse(failure.response.serialized)) == failure.response)
            }
            Self.expectJSONRoundTrip(bytes)
        }
        // Both outcomes must occur, or the mutations are not exercising the reader.
        #expect(accepted > 200)
        #expect(refused > 1_000)
    }

    @Test("5,000 mutated upstream answers and event streams read as a result or an upstream error")
    func upstreamAnswers() {
        var rng = SplitMix64(state: 0x5EED_0002)
        var results = 0
        var errors = 0
        func read(_ bytes: [UInt8]) {
            guard let message = try? JSONValue.parse(bytes: bytes) else { return }
            switch UpstreamResponse.outcome(message) {
            case .success(let result):
                results += 1
                #expect(message["error"] == nil)
                if case .object = result {} else { Issue.record("a result that is not an object: \(result.serialized)") }
            case .failure(let error):
                errors += 1
                #expect(!error.description.isEmpty)
                if message["error"] != nil {
                    guard case .rpcError = error else {
                        Issue.record("an error member read as \(error)")
                        return
                    }
                }
            }
            Self.expectJSONRoundTrip(bytes)
        }
        for i in 0..<Self.iterations {
            if i.isMultiple(of: 2) {
                read(Self.mutate(Self.answers[i / 2 % Self.answers.count], &rng))
            } else {
                let bytes = Self.mutate(Self.streams[i / 2 % Self.streams.count], &rng)
                let events = SSE.dataFields(bytes)
                #expect(events.count <= Self.dataLineCount(bytes))
                for event in events {
                    #expect(!event.contains(0x0D))
                    read(event)
                }
            }
        }
        #expect(results > 200)
        #expect(errors > 200)
    }

    @Test("5,000 mutated trace contexts read as nothing or as one that reads back to itself")
    func traceParents() {
        var rng = SplitMix64(state: 0x7ACE)
        let seeds = ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                     "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future"]
        var accepted = 0
        for i in 0..<Self.iterations {
            let text = String(decoding: Self.mutate(seeds[i % seeds.count], &rng), as: UTF8.self)
            guard let parsed = TraceParent(text) else { continue }
            accepted += 1
            #expect(TraceParent(parsed.header) == parsed)
            #expect(parsed.header.utf8.count == 55 && parsed.traceID != String(repeating: "0", count: 32))
            #expect((parsed.traceID + parsed.parentID + parsed.flags).allSatisfy { "0123456789abcdef".contains($0) })
        }
        #expect(accepted > 0 && accepted < Self.iterations)
        #expect(TraceParent(seeds[0])?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceParent(seeds[1])?.header == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        for bad in ["", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"] {
            #expect(TraceParent(bad) == nil, "accepted \(bad)")
        }
    }

    @Test("5,000 mutated gateway configurations decode and round-trip, or fail with a decoding error")
    func configurations() {
        var rng = SplitMix64(state: 0x5EED_0003)
        var decoded = 0
        var refused = 0
        for i in 0..<Self.iterations {
            let data = Data(Self.mutate(Self.configurations[i % Self.configurations.count], &rng))
            let configuration: GatewayConfiguration
            do {
                configuration = try JSONDecoder().decode(GatewayConfiguration.self, from: data)
            } catch {
                refused += 1
                #expect(error is DecodingError, "\(type(of: error))")
                #expect(!String(describing: error).isEmpty)
                continue
            }
            decoded += 1
            Self.expectKnownKeys(data)
            do {
                let again = try JSONDecoder().decode(GatewayConfiguration.self, from: JSONEncoder().encode(configuration))
                #expect(again == configuration)
            } catch {
                Issue.record("a decoded configuration does not round-trip: \(error)")
            }
            do {
                try configuration.validate()
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        #expect(decoded > 100)
        #expect(refused > 1_000)
    }

    static let requestFiles = [
        #"{"agent": {"id": "agt_1", "trust_level": 1, "teams": ["payments"]}, "tool": {"name": "git.git_commit", "effect": "write"}, "arguments": {"message": "fix"}, "session": {"tainted": true, "taint_sources": ["web.fetch"]}, "user": "alice@example.com", "time": "2026-11-23T03:00:00Z"}"#,
        #"{"action": "http_request", "user": "alice", "authorization_details": [{"type": "payment", "recipient": "acme", "max_amount": 200}], "session": {"data_classes": ["confidential"]}, "http": {"upstream": "payments", "method": "POST", "path": "/refunds/{id}", "path_parameters": {"id": "7"}, "data_class": "confidential", "operation_id": "createRefund", "query": {"dry": "1"}, "body": {"amount": 120, "recipient": "acme"}, "tags": ["money"], "risk": 4}}"#,
    ]

    @Test("5,000 mutated policy-test request files parse into a request that decides, or fail with a clear error")
    func requestFiles() async throws {
        var rng = SplitMix64(state: 0x5EED_0004)
        let engine = try PolicyEngine(directory: nil)
        var parsed = 0
        var refused = 0
        for i in 0..<Self.iterations {
            let text = String(decoding: Self.mutate(Self.requestFiles[i % Self.requestFiles.count], &rng), as: UTF8.self)
            do {
                let request = try OfflineRequest.parse(text)
                parsed += 1
                if i % 10 == 0 {
                    // A decision always names why, whichever way it goes.
                    let decision = await request.decide(with: engine)
                    #expect(!decision.reasons.isEmpty || !decision.determining.isEmpty)
                }
            } catch {
                refused += 1
                #expect(!error.description.isEmpty)
            }
        }
        #expect(parsed > 100)
        #expect(refused > 1_000)
    }

    @Test("an unknown key is refused at every level of the gateway configuration", arguments: [
        ("gateway", #"{"upstreamz": []}"#),
        ("approvals", #"{"approvals": {"waitSecond": 1}}"#),
        ("monitoring", #"{"monitoring": {"burstFactr": 3}}"#),
        ("response", #"{"response": {"rule": []}}"#),
        ("response rule", #"{"response": {"rules": [{"minScore": 10, "action": "alert", "actoin": "kill"}]}}"#),
        ("upstreams", #"{"upstreams": [{"name": "web", "url": "https://tools.internal/mcp", "untrused": true}]}"#),
        ("dlp", #"{"dlp": {"argument": "allow"}}"#),
        ("rateLimit", #"{"rateLimit": {"perMinute": 1, "burst": 1, "brust": 100}}"#),
        ("toolRateLimits", #"{"toolRateLimits": {"a.b": {"perMinute": 1, "burst": 1, "perMinue": 600}}}"#),
        ("tools", #"{"tools": {"a.b": {"effect": "read", "rsik": 5}}}"#),
    ])
    func unknownKey(_ level: String, _ json: String) {
        #expect(throws: DecodingError.self, "\(level)") {
            try JSONDecoder().decode(GatewayConfiguration.self, from: Data(json.utf8))
        }
    }

    // MARK: - Properties

    /// A document the JSON reader accepts serialises to text that reads back to the same value, and
    /// serialising is a fixpoint.
    static func expectJSONRoundTrip(_ bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes: bytes) else { return }
        let text = value.serialized
        let again = try? JSONValue.parse(text)
        #expect(again == value, "\(text)")
        #expect(again?.serialized.utf8.elementsEqual(text.utf8) == true, "\(text)")
        #expect(value.canonical.canonical == value.canonical, "\(text)")
    }

    /// Every object of a configuration that decoded has only keys its type reads (the unknown-key
    /// test above covers each level one key at a time; this covers what the mutations produce).
    static func expectKnownKeys(_ data: Data) {
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return }
        func expect(_ object: Any?, knows value: Any, _ level: String) {
            guard let object = object as? [String: Any] else { return }
            let known = propertyNames(value)
            for key in object.keys where !known.contains(key) {
                Issue.record("the \(level) object accepted the unknown key \(key.debugDescription)")
            }
        }
        func members(_ key: String) -> [String: Any] { root[key] as? [String: Any] ?? [:] }
        let limit = RateLimit(perMinute: 1, burst: 1)
        expect(root, knows: GatewayConfiguration(), "gateway")
        expect(root["approvals"], knows: ApprovalSettings(), "approvals")
        expect(root["monitoring"], knows: MonitoringSettings(), "monitoring")
        expect(root["response"], knows: ResponseSettings(), "response")
        expect(root["dlp"], knows: GatewayConfiguration.DLP(), "dlp")
        expect(root["rateLimit"], knows: limit, "rateLimit")
        expect(root["agentRateLimit"], knows: limit, "agentRateLimit")
        for rule in members("response")["rules"] as? [Any] ?? [] {
            expect(rule, knows: ResponseSettings.Rule(minScore: 1, action: .alert), "response rule")
        }
        for upstream in root["upstreams"] as? [Any] ?? [] { expect(upstream, knows: UpstreamConfiguration(name: ""), "upstream") }
        for tool in members("tools").values { expect(tool, knows: ToolClassification(), "tool") }
        for toolLimit in members("toolRateLimits").values { expect(toolLimit, knows: limit, "tool rate limit") }
    }

    /// The keys a type reads: its stored properties' names, which its coding keys repeat.
    static func propertyNames(_ value: Any) -> Set<String> {
        Set(Mirror(reflecting: value).children.compactMap(\.label))
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
