import PortcullisEnforcement
public import PortcullisVault
public import Cedar
import Dispatch
import Foundation
public import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An upstream MCP server the gateway runs as a child process, speaking newline-delimited
/// JSON-RPC on stdin/stdout.
///
/// The child is started on first use, restarted with exponential backoff when it exits, and its
/// stderr goes to the log line by line. Requests the child sends (sampling, elicitation, roots)
/// are refused: the gateway never lets an upstream reach back into an agent. A call that gets no
/// answer in time fails; a child that exits fails every call in flight.
public final class StdioUpstream: UpstreamTransport {
    private struct Pending {
        var continuation: CheckedContinuation<Result<JSONValue, UpstreamError>, Never>
        var timer: Task<Void, Never>?
    }

    private struct State {
        var process: Process?
        var stdin: FileHandle?
        var ready = false
        var starting: Task<Result<Void, UpstreamError>, Never>?
        var pending: [Int: Pending] = [:]
        var nextID = 1
        var generation = 0
        var toolsChanged = false
        var backoffSeconds = 0.5
        var startedAt = Date.distantPast
        var stopped = false
    }

    public let name: String
    let command: [String]
    let environment: [String: String]
    /// Resolves environment values written `vault:<secret>` each time the child starts.
    let injector: CredentialInjector?
    let logger: Logger
    private let state = Mutex(State())
    private let writer: DispatchQueue

    /// Names of the gateway's environment passed through to the child.
    let passEnvironment: [String]

    /// The variables every child gets from the gateway's environment when set: enough to find and run a program.
    public static let baseEnvironment = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"]

    public init(name: String, command: [String], environment: [String: String] = [:], passEnvironment: [String] = [],
                logger: Logger, injector: CredentialInjector? = nil) {
        self.injector = injector
        self.passEnvironment = passEnvironment
        self.name = name
        self.command = command
        self.environment = environment
        self.logger = logger
        self.writer = DispatchQueue(label: "portcullis.upstream.\(name).stdin")
        // A child that dies while we write to its stdin must not kill the gateway.
        signal(SIGPIPE, SIG_IGN)
    }

    public func call(method: String, params: JSONValue?, timeoutSeconds: Double) async throws(UpstreamError) -> JSONValue {
        if case .failure(let e) = await ensureStarted() { throw e }
        return try await send(method: method, params: params, timeoutSeconds: timeoutSeconds).get()
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
        let (process, pending) = state.withLock { s -> (Process?, [Int: Pending]) in
            s.stopped = true
            s.ready = false
            defer { s.pending = [:] }
            return (s.process, s.pending)
        }
        for (_, p) in pending {
            p.timer?.cancel()
            p.continuation.resume(returning: .failure(.unavailable("the gateway is shutting down")))
        }
        if let process, process.isRunning {
            process.terminate()
        }
    }

    /// Starts the child and performs the handshake unless it is running; concurrent callers share one start.
    func ensureStarted() async -> Result<Void, UpstreamError> {
        let task: Task<Result<Void, UpstreamError>, Never>? = state.withLock { s in
            if s.stopped || s.ready { return nil }
            if let t = s.starting { return t }
            let t = Task { await self.start() }
            s.starting = t
            return t
        }
        if let task { return await task.value }
        return state.withLock { $0.stopped } ? .failure(.unavailable("upstream `\(name)` is stopped")) : .success(())
    }

    private func start() async -> Result<Void, UpstreamError> {
        // `vault:<secret>` values are read now, for this child only; a secret that cannot be read stops the start.
        var configured = environment
        for (k, v) in environment {
            guard let secret = HTTPUpstreamConfiguration.vaultSecret(v) else { continue }
            guard let injector else { return .failure(.unavailable("upstream `\(name)` needs vault:\(secret), but no vault is open")) }
            do {
                configured[k] = try await injector.rawValue(secret: secret)
            } catch {
                return .failure(.unavailable("the credential vault:\(secret) for upstream `\(name)` is unavailable: \(error)"))
            }
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.environment = Self.childEnvironment(parent: ProcessInfo.processInfo.environment, configured: configured,
                                                    pass: passEnvironment)
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            state.withLock { $0.starting = nil }
            logger.error("upstream could not start", metadata: ["upstream": "\(name)", "error": "\(error)"])
            scheduleRestart()
            return .failure(.unavailable("upstream `\(name)` could not start: \(error)"))
        }
        let generation = state.withLock { s -> Int in
            s.process = process
            s.stdin = stdin.fileHandleForWriting
            s.generation += 1
            s.startedAt = Date()
            return s.generation
        }
        logger.info("upstream started", metadata: ["upstream": "\(name)", "pid": "\(process.processIdentifier)"])
        readLines(stdout.fileHandleForReading, label: "stdout") { [weak self] line in
            self?.received(line, generation: generation)
        } onEOF: { [weak self] in
            self?.exited(generation: generation)
        }
        let log = logger, upstream = name
        readLines(stderr.fileHandleForReading, label: "stderr") { line in
            log.notice("upstream stderr", metadata: ["upstream": "\(upstream)", "line": "\(String(decoding: line.prefix(2000), as: UTF8.self))"])
        } onEOF: {}

        let handshake = await send(method: "initialize", params: MCPVersion.initializeParams, timeoutSeconds: 30,
                                   generation: generation)
        switch handshake {
        case .success:
            write(RPC.notification(method: "notifications/initialized"))
            state.withLock { s in
                s.ready = true
                s.starting = nil
            }
            return .success(())
        case .failure(let e):
            logger.error("upstream handshake failed", metadata: ["upstream": "\(name)", "error": "\(e)"])
            state.withLock { $0.starting = nil }
            if process.isRunning { process.terminate() }
            return .failure(.unavailable("upstream `\(name)` did not complete the MCP handshake: \(e)"))
        }
    }

    private func send(method: String, params: JSONValue?, timeoutSeconds: Double, generation: Int? = nil) async
        -> Result<JSONValue, UpstreamError>
    {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<JSONValue, UpstreamError>, Never>) in
            let id: Int? = state.withLock { s in
                if let generation, generation != s.generation { return nil }
                guard s.process?.isRunning == true else { return nil }
                let id = s.nextID
                s.nextID += 1
                s.pending[id] = Pending(continuation: continuation, timer: nil)
                return id
            }
            guard let id else {
                continuation.resume(returning: .failure(.unavailable("upstream `\(name)` is not running")))
                return
            }
            let timer = Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(Int(timeoutSeconds * 1000)))
                guard !Task.isCancelled else { return }
                self?.complete(id, .failure(.timeout("upstream `\(self?.name ?? "")` did not answer \(method) within \(timeoutSeconds)s")))
            }
            let registered = state.withLock { s -> Bool in
                guard s.pending[id] != nil else { return false }
                s.pending[id]?.timer = timer
                return true
            }
            if !registered { timer.cancel() }
            write(RPC.request(id: id, method: method, params: params))
        }
    }

    private func complete(_ id: Int, _ outcome: Result<JSONValue, UpstreamError>) {
        let pending = state.withLock { $0.pending.removeValue(forKey: id) }
        pending?.timer?.cancel()
        pending?.continuation.resume(returning: outcome)
    }

    private func write(_ message: JSONValue) {
        guard let handle = state.withLock({ $0.stdin }) else { return }
        var bytes = Array(message.serialized.utf8)
        bytes.append(0x0A)
        let data = Data(bytes)
        writer.async {
            do { try handle.write(contentsOf: data) } catch {}
        }
    }

    private func received(_ line: [UInt8], generation: Int) {
        guard let message = try? JSONValue.parse(bytes: line), case .object = message else {
            logger.warning("upstream wrote a line that is not JSON-RPC", metadata: ["upstream": "\(name)"])
            return
        }
        let method = message["method"]?.stringValue
        switch (message["id"], method) {
        case (let id?, let method?):
            // A request from the upstream (sampling, elicitation, roots): refused.
            logger.warning("upstream request refused", metadata: ["upstream": "\(name)", "method": "\(method)"])
            write(RPCFailure(id: id, code: RPCErrorCode.methodNotFound,
                             message: "the Portcullis gateway does not forward \(method) to agents").response)
        case (nil, let method?):
            if method == "notifications/tools/list_changed" {
                state.withLock { $0.toolsChanged = true }
            }
        case (.number(let n)?, nil):
            guard let id = Int(n) else { return }
            complete(id, UpstreamResponse.outcome(message))
        default:
            logger.warning("upstream response with an unknown id", metadata: ["upstream": "\(name)"])
        }
    }

    private func exited(generation: Int) {
        let (pending, stopped) = state.withLock { s -> ([Int: Pending], Bool) in
            guard s.generation == generation else { return ([:], true) }
            s.ready = false
            s.process = nil
            s.stdin = nil
            // A child that ran for a minute was healthy: start over with a short backoff.
            if Date().timeIntervalSince(s.startedAt) > 60 { s.backoffSeconds = 0.5 }
            defer { s.pending = [:] }
            return (s.pending, s.stopped)
        }
        for (_, p) in pending {
            p.timer?.cancel()
            p.continuation.resume(returning: .failure(.unavailable("upstream `\(name)` exited during the call")))
        }
        if !stopped {
            logger.error("upstream exited; restarting", metadata: ["upstream": "\(name)"])
            scheduleRestart()
        }
    }

    private func scheduleRestart() {
        let delay = state.withLock { s -> Double in
            defer { s.backoffSeconds = min(s.backoffSeconds * 2, 30) }
            return s.backoffSeconds
        }
        Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            guard let self, !self.state.withLock({ $0.stopped || $0.ready || $0.starting != nil }) else { return }
            _ = await self.ensureStarted()
        }
    }

    /// Reads `fd` on its own thread (blocking reads must not occupy the cooperative pool) and
    /// hands over complete lines; lines longer than 16 MiB are dropped.
    private func readLines(_ handle: FileHandle, label: String, onLine: @escaping @Sendable ([UInt8]) -> Void,
                           onEOF: @escaping @Sendable () -> Void) {
        let thread = Thread {
            // The handle stays alive (and its descriptor open) until this thread is done with it.
            let fd = handle.fileDescriptor
            var buffer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            var oversized = false
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65_536) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                var start = 0
                for i in 0..<n where chunk[i] == 0x0A {
                    if !oversized { buffer.append(contentsOf: chunk[start..<i]) }
                    if !oversized && !buffer.isEmpty { onLine(buffer) }
                    buffer.removeAll(keepingCapacity: true)
                    oversized = false
                    start = i + 1
                }
                if !oversized { buffer.append(contentsOf: chunk[start..<n]) }
                if buffer.count > 16 << 20 {
                    buffer.removeAll()
                    oversized = true
                }
            }
            onEOF()
            withExtendedLifetime(handle) {}
        }
        thread.name = "upstream-\(name)-\(label)"
        thread.start()
    }
}

extension StdioUpstream {
    /// A child's environment: an allow-list of the gateway's (``baseEnvironment`` and `pass`) plus the
    /// configured variables. The gateway's own secrets (its admin token, database passwords) never
    /// reach an upstream server.
    public static func childEnvironment(parent: [String: String], configured: [String: String], pass: [String])
        -> [String: String]
    {
        var env: [String: String] = [:]
        for name in baseEnvironment + pass { if let v = parent[name] { env[name] = v } }
        for (k, v) in configured { env[k] = v }
        return env
    }
}
