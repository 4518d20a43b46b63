// MCP gateway benchmark: the latency the gateway adds to `tools/call`, and throughput, at concurrency 1 and 16.
//
//   swift build -c release --product GatewayBenchmarks
//   .build/release/GatewayBenchmarks [--calls1 5000] [--calls16 20000] [--warmup 500] [--no-tmpfs]
//                                    [--only gateway,gateway-tmpfs] [--data-dir DIR]
//                                    [--external .build/release/portcullis] [--concurrency 1,16,64]
//                                    [--peer LABEL=MCP_URL,TOKEN,TOOL,PID] [--contextforge DATA_DIR] [--peer-calls 300]
//                                    [--result-bytes 10240] [--postgres postgres://USER@HOST:PORT/DB?sslmode=disable]
//                                    [--traces]
//
// With --traces a second in-process gateway ("gateway-traced") traces every call with OpenTelemetry (a span per
// stage, the upstream and the audit records) and exports them over OTLP/HTTP to a sink on the upstream's server,
// which reads and drops them: what tracing adds to a call, beside "gateway".
//
// With --postgres the in-process gateway runs a second time on that PostgreSQL database (the scale-out store,
// docs/scale-out.md: agents, tokens, tools, approvals and rate limits in PostgreSQL, the change feed on
// LISTEN/NOTIFY), measured beside the SQLite one as `gateway-postgres`. Use a throwaway database.
//
// With --result-bytes N every answer of the upstream carries, beside the echo, N bytes of mail-like text (senders,
// URLs, an IBAN, ids, prose), and each in-process gateway is measured twice: as it runs, and with value provenance
// off ("-noprov": nothing labelled or remembered), so that what provenance adds to a call with such a result is
// read side by side (issue #17).
//
// With --external the gateways run as separate `portcullis serve` processes (bearer and DPoP agents),
// so that the gateway's own CPU per call and RSS are measured (from /proc/PID); --peer adds another
// gateway already running (e.g. ContextForge, Benchmarks/contextforge/start.sh) in front of the
// same upstream, measured the same way; --contextforge starts IBM ContextForge in front of this run's
// upstream with Benchmarks/contextforge/start.sh (its pinned version, auth on, SQLite) and stops it at the end.
//
// Results and how to read them: BENCHMARKS.md, "MCP gateway".
//
// Everything runs in this process on 127.0.0.1:
// - the upstream: a minimal Streamable HTTP MCP server (Hummingbird) with one read-only tool `echo`;
// - "direct": an AsyncHTTPClient client POSTs `tools/call echo` to the upstream (after `initialize`, with its session id);
// - "gateway": the whole Portcullis server (PortcullisApplication.open + build, a fresh data directory) with the
//   upstream declared as `bench`; a registered agent with an access token for `<issuer>/mcp`, scope `mcp`,
//   initializes through `/mcp` and POSTs `tools/call bench.echo` with its bearer token and session id.
// Each worker (1 or 16) has its own session and sends its next call when the previous answer is read. Every answer is
// checked (status 200, the echoed text). Latency is per call at the client: request sent to body read.
// The gateway's per-agent rate limit is lifted (the default is 120 calls per minute); nothing else is changed:
// tokens are verified (cached), Cedar decides, DLP and injection scans run, and each call's audit record is
// fsynced before the result is released. A second gateway instance ("gateway-tmpfs") puts its data directory
// (audit log) on tmpfs (/dev/shm), which makes fsync nearly free and shows what durability costs. Finally the parts
// of one call are timed in process (MCPGateway.handle, token check, scans, audit append).
import AsyncHTTPClient
import Cedar
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PortcullisCore
import PortcullisGateway
@_spi(Benchmarks) import PortcullisEnforcement
import PortcullisIdentity
import PortcullisAudit
import PortcullisServer
import Synchronization

// MARK: - Arguments

struct Options {
    var calls1 = 5_000
    var calls16 = 20_000
    var warmup = 500
    var tmpfs = true
    var dataDirectory: String?
    var postgres: String?
    /// Only the paths whose label starts with one of these (plus direct, always measured as the baseline).
    var only: [String] = []
    /// A release `portcullis` binary: gateways run as separate processes.
    var external: String?
    var concurrencies = [1, 16]
    /// Other gateways in front of the same upstream: label, MCP URL, bearer token, tool name, process id.
    var peers: [(label: String, url: String, token: String, tool: String, pid: Int32)] = []
    var contextforge: String?
    /// Calls per concurrency level for peers (a slow peer would take hours at the gateway's counts).
    var peerCalls = 300
    /// Bytes of mail-like text added to every answer of the upstream (0: none).
    var resultBytes = 0
    /// Also measure a gateway that traces every call (OTLP to a local sink).
    var traces = false

    init(_ args: [String]) {
        var i = 0
        func next() -> String {
            i += 1
            guard i < args.count else { fatalError("\(args[i - 1]) needs a value") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--calls1": calls1 = Int(next())!
            case "--calls16": calls16 = Int(next())!
            case "--warmup": warmup = Int(next())!
            case "--no-tmpfs": tmpfs = false
            case "--data-dir": dataDirectory = next()
            case "--postgres": postgres = next()
            case "--only": only = next().split(separator: ",").map(String.init)
            case "--external": external = next()
            case "--contextforge": contextforge = next()
            case "--peer-calls": peerCalls = Int(next())!
            case "--result-bytes": resultBytes = Int(next())!
            case "--traces": traces = true
            case "--concurrency": concurrencies = next().split(separator: ",").map { Int($0)! }
            case "--peer":
                let spec = next()
                guard let eq = spec.firstIndex(of: "=") else { fatalError("--peer LABEL=URL,TOKEN,TOOL,PID") }
                let parts = spec[spec.index(after: eq)...].split(separator: ",", maxSplits: 3).map(String.init)
                guard parts.count == 4, let pid = Int32(parts[3]) else { fatalError("--peer LABEL=URL,TOKEN,TOOL,PID") }
                peers.append((String(spec[..<eq]), parts[0], parts[1], parts[2], pid))
            default: fatalError("unknown argument \(args[i]); see the comment at the top of main.swift")
            }
            i += 1
        }
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let logger: Logger = {
    var logger = Logger(label: "gateway-bench")
    logger.logLevel = .warning
    return logger
}()

// MARK: - The upstream: a minimal Streamable HTTP MCP server

/// `--result-bytes` of mail-like JSON text: what an inbox tool answers, the kind of result value provenance reads.
let padding: String = {
    guard options.resultBytes > 0 else { return "" }
    func mail(_ i: Int) -> String {
        #"{"id":"m-\#(1000 + i)","from":"sender\#(i)@partner\#(i % 7).example","subject":"Quarterly update \#(i)","#
            + #""body":"Hi Alice, following up on invoice INV-2026-\#(4000 + i). The summary is on https://portal\#(i % 5).example/docs/\#(i)?tab=2 "#
            + #"and the payment goes to DE89 3704 0044 0532 0130 00 as usual. Call me on +44 7700 900\#(100 + i % 800) if anything is unclear. "#
            + #"We also discussed the roadmap, the hiring plan and the offsite; notes will follow next week. Best regards, Sam"}"#
    }
    var text = "["
    var i = 0
    while text.utf8.count < options.resultBytes - 600 {
        text += (i == 0 ? "" : ",") + mail(i)
        i += 1
    }
    return text + "]"
}()

/// Answers `initialize` (with a session id), notifications (202), `tools/list` (one read-only tool) and
/// `tools/call echo` (the text back) as application/json.
enum Upstream {
    static let tool = #"{"name":"echo","title":"Echo","description":"Returns the text it is given.","#
        + #""inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]},"#
        + #""annotations":{"readOnlyHint":true}}"#

    static func answer(_ body: ByteBuffer) -> Response {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let method = object["method"] as? String else {
            return Response(status: .badRequest)
        }
        guard let id = object["id"] else { return Response(status: .accepted) }  // a notification
        let idJSON = String(decoding: try! JSONSerialization.data(withJSONObject: id, options: [.fragmentsAllowed]),
                            as: UTF8.self)
        var headers: HTTPFields = [.contentType: "application/json"]
        let result: String
        switch method {
        case "initialize":
            let version = (object["params"] as? [String: Any])?["protocolVersion"] as? String ?? "2025-06-18"
            headers[HTTPField.Name("Mcp-Session-Id")!] = UUID().uuidString
            result = #"{"protocolVersion":"\#(version)","capabilities":{"tools":{"listChanged":false}},"#
                + #""serverInfo":{"name":"bench-upstream","version":"1.0.0"}}"#
        case "tools/list":
            result = #"{"tools":[\#(tool)]}"#
        case "tools/call":
            let params = object["params"] as? [String: Any]
            let text = (params?["arguments"] as? [String: Any])?["text"] as? String ?? ""
            var items = [["type": "text", "text": text]]
            if !padding.isEmpty { items.append(["type": "text", "text": padding]) }
            let content = try! JSONSerialization.data(withJSONObject: items)
            result = #"{"content":\#(String(decoding: content, as: UTF8.self)),"isError":false}"#
        case "ping":
            result = "{}"
        default:
            let body = #"{"jsonrpc":"2.0","id":\#(idJSON),"error":{"code":-32601,"message":"Method not found"}}"#
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let body = #"{"jsonrpc":"2.0","id":\#(idJSON),"result":\#(result)}"#
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// Starts the server on an ephemeral port of 127.0.0.1; returns its `/mcp` URL.
    static func start() async throws -> String {
        let router = Router()
        router.post("/mcp") { request, _ -> Response in
            answer(try await request.body.collect(upTo: 1 << 20))
        }
        router.delete("/mcp") { _, _ in Response(status: .noContent) }
        // An OTLP/HTTP traces sink for --traces: reads the export and answers an empty ExportTraceServiceResponse.
        router.post("/v1/traces") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 64 << 20)
            return Response(status: .ok, headers: [.contentType: "application/x-protobuf"])
        }
        let port = Mutex<Int?>(nil)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0),
                                                                     serverName: "bench-upstream"),
                              onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
                              logger: logger)
        Task { try await app.runService(gracefulShutdownSignals: []) }
        for _ in 0..<500 {
            if let p = port.withLock({ $0 }) { return "http://127.0.0.1:\(p)/mcp" }
            try await Task.sleep(for: .milliseconds(10))
        }
        fatalError("the upstream did not start")
    }
}

// MARK: - The client side

/// The benchmark's own HTTP client: enough connections for every worker (the default is 8 per host).
let client: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}()

struct Target: Sendable {
    let label: String
    let url: String
    let tool: String
    let bearer: String?
    /// The in-process node behind a gateway target.
    var services: PortcullisApplication.Services? = nil
    /// The gateway's process, when it runs in its own (its CPU and RSS are measured).
    var pid: Int32? = nil
    /// The proof-of-possession key of a DPoP-bound token: a fresh proof goes with every request.
    var dpop: DPoPProofSigner? = nil
    /// Another gateway than Portcullis (measured with fewer calls; it may not keep sessions).
    var peer = false
}

/// User + system CPU time of process `pid` and its children so far (a gateway may fork workers), in microseconds.
func processCPUMicros(pid: Int32) -> Double {
    var total = ownCPUMicros(pid: pid)
    if let children = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) {
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { total += processCPUMicros(pid: child) }
    }
    return total
}

/// User + system CPU time of process `pid` alone, in microseconds (from /proc/PID/stat).
func ownCPUMicros(pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime field 14, stime field 15 (1-based in proc(5)).
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK))) * 1e6
}

/// Resident memory of `pid` and its children, in MiB (VmRSS from /proc).
func residentMiB(pid: Int32) -> Double {
    func rss(_ p: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(p)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }
    var total = rss(pid)
    if let children = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) {
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { total += residentMiB(pid: child) }
    }
    return total
}

func post(_ target: Target, session: String?, body: String) async throws -> (status: UInt, headers: HTTPHeaders, body: String) {
    var request = HTTPClientRequest(url: target.url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.headers.add(name: "Accept", value: "application/json, text/event-stream")
    if let bearer = target.bearer {
        if let dpop = target.dpop {
            request.headers.add(name: "Authorization", value: "DPoP \(bearer)")
            request.headers.add(name: "DPoP", value: try dpop.proof(method: "POST", url: target.url, accessToken: bearer))
        } else {
            request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
        }
    }
    if let session, !session.isEmpty {
        request.headers.add(name: "Mcp-Session-Id", value: session)
        request.headers.add(name: "MCP-Protocol-Version", value: "2025-06-18")
    }
    request.body = .bytes(ByteBuffer(string: body))
    let response = try await client.execute(request, timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 1 << 20)
    return (response.status.code, response.headers, String(buffer: bytes))
}

/// `initialize` then `notifications/initialized`, as an MCP client does; returns the session id.
func openSession(_ target: Target) async throws -> String {
    let initialize = #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","#
        + #""capabilities":{},"clientInfo":{"name":"gateway-bench","version":"1"}}}"#
    let answer = try await post(target, session: nil, body: initialize)
    guard answer.status == 200, let session = answer.headers.first(name: "Mcp-Session-Id") ?? (target.peer ? "" : nil) else {
        fatalError("\(target.label): initialize answered \(answer.status): \(answer.body)")
    }
    // A peer without sessions (ContextForge's default, stateless mode) answers without an id.
    if session.isEmpty { return session }
    let notified = try await post(target, session: session, body: #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
    guard notified.status == 202 else { fatalError("\(target.label): notifications/initialized answered \(notified.status)") }
    return session
}

func callBody(_ tool: String, _ i: Int) -> String {
    #"{"jsonrpc":"2.0","id":\#(i + 1),"method":"tools/call","params":{"name":"\#(tool)","arguments":{"text":"echo-\#(i)"}}}"#
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

/// User + system CPU time of this process so far, in microseconds.
func processCPUMicros() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
}

/// A number of microseconds, rounded.
func us(_ x: Double) -> String { String(format: "%.0f", x) }

struct Run {
    let label: String
    let concurrency: Int
    let calls: Int
    let seconds: Double
    /// CPU time of the whole process (client, upstream and gateway) per call, in microseconds.
    let cpuMicros: Double
    /// CPU time of the gateway's own process per call, and its resident memory, when it runs in its own.
    var gatewayCPUMicros: Double? = nil
    var residentMiB: Double? = nil
    /// Sorted, in nanoseconds.
    let latencies: [UInt64]

    func percentile(_ p: Double) -> Double {
        let index = min(latencies.count - 1, Int((p * Double(latencies.count)).rounded(.up)) - 1)
        return Double(latencies[Swift.max(0, index)]) / 1000
    }
    var p50: Double { percentile(0.50) }
    var p99: Double { percentile(0.99) }
    var max: Double { Double(latencies.last!) / 1000 }
    var throughput: Double { Double(calls) / seconds }
}

/// `calls` tools/call requests from `concurrency` workers, each with its own session; per-call latency.
func measure(_ target: Target, concurrency: Int, calls: Int, warmup: Int) async throws -> Run {
    var opened: [String] = []
    for _ in 0..<concurrency { opened.append(try await openSession(target)) }
    let sessions = opened
    let next = Counter()
    func work(_ worker: Int, total: Int, offset: Int) async throws -> [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(total / concurrency + 1)
        while true {
            let i = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
            guard i < total else { return out }
            let n = offset + i
            let body = callBody(target.tool, n)
            let start = DispatchTime.now().uptimeNanoseconds
            let answer = try await post(target, session: sessions[worker], body: body)
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            guard answer.status == 200, answer.body.contains("\"echo-\(n)\""), !answer.body.contains("\"isError\":true") else {
                fatalError("\(target.label): call \(n) answered \(answer.status): \(answer.body)")
            }
            out.append(elapsed)
        }
    }
    func phase(total: Int, offset: Int) async throws -> ([UInt64], Double, Double) {
        next.value.store(0, ordering: .relaxed)
        let cpuStart = processCPUMicros()
        let start = DispatchTime.now().uptimeNanoseconds
        let all = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for w in 0..<concurrency { group.addTask { try await work(w, total: total, offset: offset) } }
            var all: [UInt64] = []
            for try await part in group { all.append(contentsOf: part) }
            return all
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (all, seconds, (processCPUMicros() - cpuStart) / Double(total))
    }
    _ = try await phase(total: warmup, offset: 1_000_000)
    let gatewayStart = target.pid.map { processCPUMicros(pid: $0) }
    let (latencies, seconds, cpu) = try await phase(total: calls, offset: 0)
    precondition(latencies.count == calls)
    var run = Run(label: target.label, concurrency: concurrency, calls: calls, seconds: seconds, cpuMicros: cpu,
                  latencies: latencies.sorted())
    if let pid = target.pid, let gatewayStart {
        run.gatewayCPUMicros = (processCPUMicros(pid: pid) - gatewayStart) / Double(calls)
        run.residentMiB = residentMiB(pid: pid)
    }
    return run
}

// MARK: - The gateway side

/// Opens a Portcullis node on a free port with `upstreamURL` as upstream `bench`, registers an agent and returns
/// the `/mcp` target with its access token.
func startGateway(label: String, dataDirectory: String, upstreamURL: String, postgres: String? = nil,
                  traces: String? = nil) async throws -> Target {
    let port = try freePort()
    var configuration = ServerConfiguration()
    if let traces {
        var settings = ServerConfiguration.Observability.Traces(otlpEndpoint: traces)
        settings.exportDelayMs = 1000
        configuration.observability.traces = settings
    }
    if let postgres { configuration.store = .init(postgres: .init(url: postgres)) }
    configuration.dataDirectory = dataDirectory
    configuration.host = "127.0.0.1"
    configuration.port = port
    configuration.gateway = GatewayConfiguration(
        upstreams: [UpstreamConfiguration(name: "bench", url: upstreamURL)],
        tools: ["bench.echo": ToolClassification(effect: .read)],
        rateLimit: RateLimit(perMinute: 1e9, burst: 1e9), agentRateLimit: RateLimit(perMinute: 1e9, burst: 1e9))
    let services = try await PortcullisApplication.open(configuration: configuration, logger: logger)
    let app = PortcullisApplication.build(services, logger: logger)
    Task { try await app.runService(gracefulShutdownSignals: []) }
    let issuer = configuration.effectiveIssuer
    // Ready when /healthz answers.
    var ready = false
    for _ in 0..<500 where !ready {
        if let r = try? await client.execute(HTTPClientRequest(url: issuer + "/healthz"), timeout: .seconds(1)), r.status == .ok {
            ready = true
        } else {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
    guard ready else { fatalError("\(label): the server did not start") }

    // An agent, as an administrator registers it, and its access token (client_credentials, private_key_jwt).
    let agentKey = SigningKey.generate(.es256)
    let jwk = String(decoding: try JSONEncoder.canonical.encode(agentKey.publicJWK), as: UTF8.self)
    let registration = #"{"name":"bench","owner":"bench","purpose":"gateway benchmark","modelProvider":"x","#
        + #""model":"m","modelVersion":"1","publicKeys":[\#(jwk)],"scopes":["mcp"],"audiences":["\#(issuer)/mcp"],"#
        + #""maxConcurrentSessions":100}"#
    let agent = try await services.registry.register(
        try JSONDecoder().decode(AgentRegistry.Registration.self, from: Data(registration.utf8)), actor: "bench")
    let now = Int64(Date().timeIntervalSince1970)
    let assertion = try JWTSigner(key: agentKey).sign(type: "JWT", claims: [
        "iss": .string(agent.id), "sub": .string(agent.id), "aud": .string(issuer + "/oauth/token"),
        "iat": .int(now), "exp": .int(now + 300), "jti": .string(UUID().uuidString),
    ])
    let token = try await services.tokenService.token(form: [
        "grant_type": ["client_credentials"], "client_assertion_type": [TokenService.clientAssertionType],
        "client_assertion": [assertion], "resource": [issuer + "/mcp"], "scope": ["mcp"],
    ], dpopProof: nil)
    guard let accessToken = token["access_token"] as? String else { fatalError("\(label): no access token: \(token)") }
    return Target(label: label, url: issuer + "/mcp", tool: "bench.echo", bearer: accessToken, services: services)
}

/// The same gateway with value provenance off while it is measured: nothing labelled or remembered.
func withoutProvenance(_ target: Target) -> Target {
    Target(label: target.label + "-noprov", url: target.url, tool: target.tool, bearer: target.bearer, services: target.services,
           pid: target.pid, dpop: target.dpop, peer: target.peer)
}

/// Starts `portcullis serve` (the binary at `binary`) as its own process with `upstreamURL` as upstream `bench`,
/// registers an agent through the admin API and obtains its token through `/oauth/token`, as a deployment
/// would; `dpop` binds the token to a key (RFC 9449) and every call then carries a fresh proof.
func startExternalGateway(label: String, binary: String, dataDirectory: String, upstreamURL: String, dpop: Bool)
    async throws -> Target
{
    let port = try freePort()
    let issuer = "http://127.0.0.1:\(port)"
    try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
    let configPath = dataDirectory + "/../\(label).json"
    let unlimited = #"{"perMinute":1e9,"burst":1e9}"#
    try #"{"gateway":{"upstreams":[{"name":"bench","url":"\#(upstreamURL)"}],"tools":{"bench.echo":{"effect":"read"}},"rateLimit":\#(unlimited),"agentRateLimit":\#(unlimited)}}"#
        .write(toFile: configPath, atomically: true, encoding: .utf8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["serve", "--config", configPath, "--data-dir", dataDirectory, "--listen", "127.0.0.1:\(port)"]
    process.environment = ["PATH": "/usr/bin:/bin", "LOG_LEVEL": "warning"]
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    externalProcesses.withLock { $0.append(process) }
    var ready = false
    for _ in 0..<1000 where !ready {
        if let r = try? await client.execute(HTTPClientRequest(url: issuer + "/healthz"), timeout: .seconds(1)), r.status == .ok {
            ready = true
        } else {
            try await Task.sleep(for: .milliseconds(20))
        }
    }
    guard ready else { fatalError("\(label): `portcullis serve` did not start") }
    let adminToken = try String(contentsOfFile: dataDirectory + "/admin.token", encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)

    let agentKey = SigningKey.generate(.es256)
    let jwk = String(decoding: try JSONEncoder.canonical.encode(agentKey.publicJWK), as: UTF8.self)
    var register = HTTPClientRequest(url: issuer + "/admin/agents")
    register.method = .POST
    register.headers.add(name: "Authorization", value: "Bearer \(adminToken)")
    register.headers.add(name: "Content-Type", value: "application/json")
    register.body = .bytes(ByteBuffer(string: #"{"name":"bench","owner":"bench","purpose":"gateway benchmark","model_provider":"x","#
        + #""model":"m","model_version":"1","public_keys":[\#(jwk)],"scopes":["mcp"],"audiences":["\#(issuer)/mcp"],"#
        + #""max_concurrent_sessions":1000,"require_dpop":\#(dpop)}"#))
    let registered = try await client.execute(register, timeout: .seconds(10))
    let agentBody = try await registered.body.collect(upTo: 1 << 20)
    guard registered.status == .created,
          let agentID = (try JSONSerialization.jsonObject(with: Data(agentBody.readableBytesView)) as? [String: Any])?["client_id"] as? String
    else { fatalError("\(label): registration answered \(registered.status): \(String(buffer: agentBody))") }

    let now = Int64(Date().timeIntervalSince1970)
    let assertion = try JWTSigner(key: agentKey).sign(type: "JWT", claims: [
        "iss": .string(agentID), "sub": .string(agentID), "aud": .string(issuer + "/oauth/token"),
        "iat": .int(now), "exp": .int(now + 300), "jti": .string(UUID().uuidString),
    ])
    let proofKey = dpop ? DPoPProofSigner(key: SigningKey.generate(.es256)) : nil
    var tokenRequest = HTTPClientRequest(url: issuer + "/oauth/token")
    tokenRequest.method = .POST
    tokenRequest.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
    if let proofKey { tokenRequest.headers.add(name: "DPoP", value: try proofKey.proof(method: "POST", url: issuer + "/oauth/token")) }
    let form = ["grant_type=client_credentials",
                "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer",
                "client_assertion=\(assertion)",
                "resource=\(issuer.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)%2Fmcp", "scope=mcp"]
    tokenRequest.body = .bytes(ByteBuffer(string: form.joined(separator: "&")))
    let tokenResponse = try await client.execute(tokenRequest, timeout: .seconds(10))
    let tokenBody = try await tokenResponse.body.collect(upTo: 1 << 20)
    guard let accessToken = (try? JSONSerialization.jsonObject(with: Data(tokenBody.readableBytesView)) as? [String: Any])?["access_token"] as? String
    else { fatalError("\(label): no access token: \(String(buffer: tokenBody))") }
    return Target(label: label, url: issuer + "/mcp", tool: "bench.echo", bearer: accessToken,
                  pid: process.processIdentifier, dpop: proofKey)
}

let externalProcesses = Mutex<[Process]>([])
let contextforgePID = Mutex<Int32?>(nil)

/// Runs `arguments` (an absolute path first) and waits for it; its exit status, or -1.
func spawnAndWait(_ arguments: [String]) -> Int32 {
    var pid: pid_t = 0
    let argv = arguments.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    guard posix_spawn(&pid, arguments[0], nil, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1
}

/// Starts ContextForge in front of `upstreamURL` (Benchmarks/contextforge/start.sh) and reads what it prints.
func startContextForge(dataDirectory: String, upstreamURL: String) throws -> Target {
    let port = try freePort()
    // A file, not a pipe: the daemon it leaves running inherits the descriptor and would hold a pipe open.
    // posix_spawn + waitpid rather than Foundation's Process, whose wait did not return here once the
    // script had left a daemon behind.
    let outputPath = dataDirectory + ".start-output"
    let status = spawnAndWait(["/bin/bash", "-c",
                               "exec Benchmarks/contextforge/start.sh \(port) '\(dataDirectory)' '\(upstreamURL)' > '\(outputPath)'"])
    let data = FileManager.default.contents(atPath: outputPath) ?? Data()
    var values: [String: String] = [:]
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
        if let eq = line.firstIndex(of: "=") { values[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
    }
    guard status == 0, let url = values["MCP_URL"], let token = values["TOKEN"], let tool = values["TOOL"],
          let pid = values["PID"].flatMap(Int32.init) else {
        fatalError("ContextForge did not start (exit \(status)); see \(dataDirectory)/contextforge.log")
    }
    contextforgePID.withLock { $0 = pid }
    return Target(label: "contextforge", url: url, tool: tool, bearer: token, pid: pid, peer: true)
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
            guard bind(fd, p, length) == 0 else { return -1 }
            return getsockname(fd, p, &length)
        }
    }
    precondition(bound == 0, "cannot bind 127.0.0.1:0")
    return Int(UInt16(bigEndian: address.sin_port))
}

func temporaryDirectory(under base: String) -> String {
    let path = (base as NSString).appendingPathComponent("portcullis-gateway-bench-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

// MARK: - Run

let upstreamURL = try await Upstream.start()
let direct = Target(label: "direct", url: upstreamURL, tool: "echo", bearer: nil)
var created: [String] = []
let diskDirectory = options.dataDirectory ?? temporaryDirectory(under: FileManager.default.currentDirectoryPath + "/.build-bench")
created.append(diskDirectory)
var targets = [direct]
if let binary = options.external {
    targets.append(try await startExternalGateway(label: "portcullis-bearer", binary: binary,
                                                  dataDirectory: diskDirectory + "/bearer", upstreamURL: upstreamURL, dpop: false))
    targets.append(try await startExternalGateway(label: "portcullis-dpop", binary: binary,
                                                  dataDirectory: diskDirectory + "/dpop", upstreamURL: upstreamURL, dpop: true))
    for peer in options.peers {
        targets.append(Target(label: peer.label, url: peer.url, tool: peer.tool, bearer: peer.token, pid: peer.pid, peer: true))
    }
    if let directory = options.contextforge {
        targets.append(try startContextForge(dataDirectory: directory, upstreamURL: upstreamURL))
    }
} else {
    targets.append(try await startGateway(label: "gateway", dataDirectory: diskDirectory + "/data", upstreamURL: upstreamURL))
    if let postgres = options.postgres {
        targets.append(try await startGateway(label: "gateway-postgres", dataDirectory: diskDirectory + "/pg",
                                              upstreamURL: upstreamURL, postgres: postgres))
    }
    if options.traces {
        targets.append(try await startGateway(label: "gateway-traced", dataDirectory: diskDirectory + "/traced",
                                              upstreamURL: upstreamURL,
                                              traces: upstreamURL.replacingOccurrences(of: "/mcp", with: "/v1/traces")))
    }
}
if options.external == nil, options.tmpfs, FileManager.default.fileExists(atPath: "/dev/shm") {
    let shm = temporaryDirectory(under: "/dev/shm")
    created.append(shm)
    targets.append(try await startGateway(label: "gateway-tmpfs", dataDirectory: shm + "/data",
                                          upstreamURL: upstreamURL))
}
if options.resultBytes > 0 {
    // Each in-process gateway again, with provenance off, measured right after it.
    targets = targets.flatMap { $0.services == nil ? [$0] : [$0, withoutProvenance($0)] }
    print("every answer carries \(padding.utf8.count) more bytes of mail-like text")
}

// How long one fsync of the audit file's file system takes here (the dominant fixed cost, when it is).
func fsyncMicros(in directory: String, count: Int = 200) -> Double {
    let path = directory + "/fsync-probe"
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    precondition(fd >= 0)
    defer { close(fd); unlink(path) }
    let line = Array(repeating: UInt8(ascii: "x"), count: 600) + [0x0A]
    var samples: [UInt64] = []
    for _ in 0..<count {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        samples.append(DispatchTime.now().uptimeNanoseconds - start)
    }
    samples.sort()
    return Double(samples[count / 2]) / 1000
}

print("upstream \(upstreamURL); gateway data directory \(diskDirectory)")
print(String(format: "write + fsync of a 600-byte line, p50: %.1f µs (data directory's file system)", fsyncMicros(in: diskDirectory)))
if created.count > 1 {
    print(String(format: "write + fsync of a 600-byte line, p50: %.1f µs (/dev/shm)", fsyncMicros(in: created[1])))
}
print("")

var runs: [Run] = []
for concurrency in options.concurrencies {
    let gatewayCalls = concurrency == 1 ? options.calls1 : options.calls16
    for target in targets where target.label == "direct" || options.only.isEmpty
    || options.only.contains(target.label) {
        let calls = target.peer ? options.peerCalls : gatewayCalls
        target.services?.gateway.pipeline.provenance.enabled.store(!target.label.hasSuffix("-noprov"), ordering: .relaxed)
        let run = try await measure(target, concurrency: concurrency, calls: calls,
                                    warmup: target.peer ? min(options.warmup, 30) : options.warmup)
        runs.append(run)
        print("  measured \(run.label) c=\(concurrency): p50 \(us(run.p50)) µs, \(us(run.throughput)) calls/s")
    }
}

// MARK: - Where the time goes: parts of one gateway call, timed in process (single task, sequential)

/// p50 and p99 of `n` sequential runs of `body`, in microseconds.
func time(_ n: Int, _ body: () async throws -> Void) async rethrows -> (p50: Double, p99: Double) {
    var samples: [UInt64] = []
    samples.reserveCapacity(n)
    for _ in 0..<n {
        let start = DispatchTime.now().uptimeNanoseconds
        try await body()
        samples.append(DispatchTime.now().uptimeNanoseconds - start)
    }
    samples.sort()
    return (Double(samples[n / 2]) / 1000, Double(samples[min(n - 1, n * 99 / 100)]) / 1000)
}

if let gateway = targets.first(where: { $0.label == "gateway" }), let services = gateway.services, let bearer = gateway.bearer {
    let n = 2_000
    let issuer = services.configuration.effectiveIssuer
    func authenticate() async throws -> ResourceAuthentication {
        try await services.tokenService.authenticateResource(
            authorization: ["Bearer \(bearer)"], dpopProofs: [], audiences: [issuer + "/mcp"], method: "POST",
            url: issuer + "/mcp", requiredScope: "mcp", cache: services.tokenCache)
    }
    let auth = try await authenticate()
    let caller = GatewayCaller(agent: auth.agent, tokenID: auth.token.jti,
                               scopes: auth.token.scope, sourceAddress: "127.0.0.1")
    func request(_ body: String, session: String?) -> GatewayHTTPRequest {
        var headers: [(name: String, value: String)] = [("content-type", "application/json"),
                                                        ("accept", "application/json, text/event-stream")]
        if let session { headers += [("mcp-session-id", session), ("mcp-protocol-version", "2025-06-18")] }
        return GatewayHTTPRequest(method: "POST", scope: nil, headers: headers, body: Array(body.utf8), caller: caller)
    }
    let initialize = await services.gateway.handle(request(
        #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"#
            + #""clientInfo":{"name":"gateway-bench","version":"1"}}}"#, session: nil))
    guard let session = initialize.headers.first(where: { $0.name == "mcp-session-id" })?.value else {
        fatalError("in-process initialize failed: \(String(decoding: initialize.body, as: UTF8.self))")
    }
    var i = 2_000_000
    let handled = await time(n) {
        i += 1
        let answer = await services.gateway.handle(request(callBody("bench.echo", i), session: session))
        guard answer.status == 200, String(decoding: answer.body, as: UTF8.self).contains("echo-\(i)") else {
            fatalError("in-process call: \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
        }
    }
    let upstreamHop = try await time(n) {
        i += 1
        _ = try await post(direct, session: nil, body: callBody("echo", i))
    }
    let authenticated = try await time(n) { _ = try await authenticate() }
    let result = try JSONValue.parse(#"{"content":[{"type":"text","text":"echo-123456"}],"isError":false}"#)
    let strings = JSONStrings.all(result)
    let scanned = await time(n) { precondition(InjectionScanner.findings(inStringsOf: strings).isEmpty) }
    let arguments = try JSONValue.parse(#"{"text":"echo-123456"}"#)
    let dlp = await time(n) {
        precondition(JSONStrings.redacting(arguments).kinds.isEmpty && JSONStrings.redacting(result).kinds.isEmpty)
    }
    let digest = await time(n) { precondition(!GatewayCall.digest(of: arguments).isEmpty) }
    let audited = try await time(n) {
        _ = try await services.audit.append(AuditEvent(
            timeNanos: Int64(Date().timeIntervalSince1970 * 1e9), id: "evt_" + String(repeating: "0", count: 32),
            kind: .decision, agent: AuditEvent.AgentRef(id: caller.agent.id, model: "m", version: "1"), action: "call_tool",
            resource: "bench.echo", argumentsDigest: GatewayCall.digest(of: arguments), decision: .allow,
            determiningPolicies: ["read-tools"], reason: "read-only tools are allowed",
            outcome: AuditEvent.Outcome(status: "ok", bytes: 80), latencyNanos: 1_000_000, sessionID: "s_0123456789abcdef",
            sourceAddress: "127.0.0.1"))
    }
    // The decision's input as each decision record keeps it (issue #16: `policy replay`), and the decision itself.
    let benchTool = ToolRecord(qualifiedName: "bench.echo", upstream: "bench", name: "echo", definition: "{}", definitionHash: "h",
                               pinnedHash: "h", status: .approved, effect: .read, risk: 1, dataClass: "internal", tags: [],
                               findings: [], firstSeenAt: Date(), updatedAt: Date())
    let (cedarRequest, cedarEntities) = try CedarMapping.request(
        action: .callTool, caller: caller, tool: benchTool, upstream: "bench", arguments: arguments,
        session: SessionSnapshot(), dlpKinds: [], listing: false, now: Date())
    let decisionInput = DecisionInput(request: cedarRequest, entities: cedarEntities, verdict: .allow)
    let inputJSON = await time(n) { precondition(decisionInput.recorded(arguments: nil) != .null) }
    let decided = await time(n) { precondition(services.gateway.policies.authorize(cedarRequest, entities: cedarEntities).0.decision == .allow) }
    let withInput = decisionInput.recorded(arguments: nil)
    let auditedWithInput = try await time(n) {
        var event = AuditEvent(
            timeNanos: Int64(Date().timeIntervalSince1970 * 1e9), id: "evt_" + String(repeating: "1", count: 32),
            kind: .decision, agent: AuditEvent.AgentRef(id: caller.agent.id, model: "m", version: "1"), action: "call_tool",
            resource: "bench.echo", argumentsDigest: GatewayCall.digest(of: arguments), decision: .allow,
            determiningPolicies: ["read-tools"], reason: "read-only tools are allowed",
            outcome: AuditEvent.Outcome(status: "ok", bytes: 80), latencyNanos: 1_000_000, sessionID: "s_0123456789abcdef",
            sourceAddress: "127.0.0.1")
        event.decisionInput = withInput
        _ = try await services.audit.append(event)
    }
    // What the metrics add to a call: per stage two clock reads and a histogram update; per decision two counters.
    let stageNames = ["kill", "inspect-arguments", "provenance", "decide", "arguments-dlp", "automatic-response",
                      "obligations", "rate-limit", "approval", "history"]
    let stageTimers = stageNames.map { services.gateway.pipeline.metrics.timer(GatewayMetrics.Name.stageDuration, ("stage", $0)) }
    let metered = await time(n) {
        for timer in stageTimers {
            let started = ContinuousClock.now
            GatewayMetrics.record(timer, ContinuousClock.now - started)
        }
        services.gateway.pipeline.metrics.count(GatewayMetrics.Name.decisions, ("action", "call_tool"), ("decision", "allow"))
        services.gateway.pipeline.metrics.count(GatewayMetrics.Name.refusals, ("reason", "denied"))
    }
    print("")
    print("Parts of one gateway call, in process, sequential (\(n) runs each):")
    print("")
    print("| part | p50 µs | p99 µs |")
    print("|---|---:|---:|")
    for (label, t) in [("MCPGateway.handle(tools/call), upstream hop included", handled),
                       ("  of which: the upstream hop (HTTP POST to the upstream, as measured directly)", upstreamHop),
                       ("  of which: InjectionScanner on the result's strings", scanned),
                       ("  of which: DLP scan of arguments and result (JSONStrings.redacting)", dlp),
                       ("  of which: SHA-256 digest of the arguments (MCPGateway.digest)", digest),
                       ("  of which: one audit append (Merkle log, group commit, fsync)", audited),
                       ("  of which: the Cedar decision (PolicyEngine.authorize, the built-in pack)", decided),
                       ("  of which: the decision's input for its record (request and entities as Cedar JSON)", inputJSON),
                       ("  the same audit append with that input in the entry", auditedWithInput),
                       ("  of which: the metrics of one call (10 stage timings, 2 counters, Prometheus)", metered),
                       ("TokenService.authenticateResource (cached token; SQLite reads)", authenticated)] {
        print("| \(label) | \(us(t.p50)) | \(us(t.p99)) |")
    }
}

print("")
print("| path | concurrency | calls | p50 µs | p99 µs | max µs | calls/s | CPU µs/call | gateway CPU µs/call | gateway RSS MiB | added p50 µs | added p99 µs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for run in runs {
    let base = runs.first { $0.label == "direct" && $0.concurrency == run.concurrency }!
    let added = run.label == "direct" ? ("", "") : (us(run.p50 - base.p50), us(run.p99 - base.p99))
    print("| \(run.label) | \(run.concurrency) | \(run.calls) | \(us(run.p50)) | \(us(run.p99)) | \(us(run.max)) | "
        + "\(us(run.throughput)) | \(us(run.cpuMicros)) | \(run.gatewayCPUMicros.map(us) ?? "") | "
        + "\(run.residentMiB.map { String(format: "%.0f", $0) } ?? "") | \(added.0) | \(added.1) |")
}

// Stop the gateways this run started, by their process ids.
for process in externalProcesses.withLock({ $0 }) {
    process.terminate()
    process.waitUntilExit()
}
if let pid = contextforgePID.withLock({ $0 }) {
    _ = spawnAndWait(["/bin/bash", "Benchmarks/contextforge/stop.sh", String(pid)])
}
for path in created { try? FileManager.default.removeItem(atPath: path) }
exit(0)
