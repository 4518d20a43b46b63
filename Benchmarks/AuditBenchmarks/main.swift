// Durable appends per second through the group-commit appender, and `audit verify` time.
//
//   swift run -c release AuditBenchmarks [--appends N] [--verify-entries N] [--dir DIR]
//   swift run -c release AuditBenchmarks --postgres postgres://USER@HOST:PORT/DB?sslmode=disable [--replicas 3]
//
// With --postgres the deployment's log in PostgreSQL is measured instead: `--replicas` logs, each with its own
// connection pool as a replica would have, append to one log at once (the workers of each concurrency are
// spread over them), each run on a fresh database created through the URL's; then `audit verify --postgres`'s
// pass over --verify-entries entries.
//
// Appends: for each concurrency (1, 16, 64, 256), that many tasks append sample events
// as fast as they can to a fresh log (SQLite WAL, synchronous=FULL); the figure is
// durable appends acknowledged per second of wall time. Verify: a log of N entries
// (default 1,000,000, appended with concurrency 256) is verified offline, as
// `portcullis audit verify` does.
import Foundation
import PortcullisAudit
import PortcullisCore
import PortcullisStorePostgres

var appends = 200_000
var verifyEntries = 1_000_000
var base = NSTemporaryDirectory() + "portcullis-audit-bench"
var concurrencies = [1, 16, 64, 256]
var postgres: String?
var replicas = 3
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let a = arguments.next() {
    switch a {
    case "--appends": appends = Int(arguments.next()!)!
    case "--verify-entries": verifyEntries = Int(arguments.next()!)!
    case "--dir": base = arguments.next()!
    case "--concurrency": concurrencies = arguments.next()!.split(separator: ",").map { Int($0)! }
    case "--postgres": postgres = arguments.next()!
    case "--replicas": replicas = Int(arguments.next()!)!
    default: fatalError("unknown argument \(a)")
    }
}

func event(_ i: Int) -> AuditEvent {
    AuditEvent(timeNanos: AuditEvent.nowNanos(), id: "evt_\(i)", traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
               kind: .decision, agent: .init(id: "agt_\(i % 50)", model: "acme-large", version: "2026-10"),
               onBehalfOf: "alice@example.com", delegationChain: ["agt_\(i % 50)"], action: "call_tool",
               resource: "time.get_current_time", argumentsDigest: String(repeating: "ab", count: 32),
               decision: i % 10 == 0 ? .deny : .allow, determiningPolicies: ["policy\(i % 7)"],
               reasoning: "the user asked what time it is in Paris", outcome: .init(status: "ok", bytes: 312),
               latencyNanos: 41_000, sessionID: "ses_\(i % 100)", sourceAddress: "127.0.0.1")
}

func fresh(_ name: String, base: String) throws -> (AuditLog, String) {
    let dir = base + "/" + name
    try? FileManager.default.removeItem(atPath: dir)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let log = try AuditLog.open(path: dir + "/audit.sqlite", signer: try AuditSigningKey.loadOrCreate(path: dir + "/audit-key"),
                                headPath: dir + "/audit-checkpoint")
    return (log, dir)
}

func fill(_ log: AuditLog, count: Int, concurrency: Int) async throws -> Double {
    try await fill([log], count: count, concurrency: concurrency)
}

/// `concurrency` workers spread over `logs`, appending `count` events in all.
func fill(_ logs: [any MerkleAuditLog], count: Int, concurrency: Int) async throws -> Double {
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<concurrency {
            let log = logs[worker % logs.count]
            group.addTask {
                var i = worker
                while i < count {
                    try await log.append(event(i))
                    i += concurrency
                }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// User + system CPU seconds of this process so far (every thread: appenders, the SQLite writer, fsync).
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

if let postgres {
    try await postgresRun(postgres)
    exit(0)
}

/// Three replicas' logs on one fresh database, each with its own pool.
@MainActor
func postgresRun(_ url: String) async throws {
    let admin = try await PostgresStore.connect(try PostgresSettings(url: url, poolSize: 2), migrate: false)
    func freshDatabase() async throws -> PostgresSettings {
        let name = "audit_bench_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        try await admin.run(sql: "CREATE DATABASE \(name)")
        var settings = try PostgresSettings(url: url, poolSize: 10)
        settings.database = name
        return settings
    }
    let signer = try AuditSigningKey.loadOrCreate(path: NSTemporaryDirectory() + "audit-bench-key-\(UUID().uuidString)")
    func open(_ settings: PostgresSettings) async throws -> [PostgresAuditLog] {
        var logs: [PostgresAuditLog] = []
        for _ in 0..<replicas {
            logs.append(try await PostgresAuditLog.open(store: try await PostgresStore.connect(settings), signer: signer,
                                                        headPath: nil, configuration: .init(checkpointEvery: 100_000)))
        }
        return logs
    }
    print("PostgreSQL, \(replicas) replicas appending to one log")
    print("| concurrency (all replicas) | appends | seconds | durable appends/s | CPU µs per append (this process) |")
    print("|---:|---:|---:|---:|---:|")
    for c in concurrencies {
        let n = c == 1 ? min(appends, 2_000) : appends
        let logs = try await open(try await freshDatabase())
        let cpuBefore = cpuSeconds()
        let seconds = try await fill(logs, count: n, concurrency: c)
        let cpu = cpuSeconds() - cpuBefore
        print("| \(c) | \(n) | \(String(format: "%.2f", seconds)) | \(String(format: "%.0f", Double(n) / seconds)) | \(String(format: "%.1f", cpu * 1e6 / Double(n))) |")
    }
    if verifyEntries > 0 {
        let settings = try await freshDatabase()
        let logs = try await open(settings)
        let fillSeconds = try await fill(logs, count: verifyEntries, concurrency: 256)
        try await logs[0].checkpoint()
        let store = try await PostgresStore.connect(settings)
        let start = ContinuousClock.now
        let report = try await PostgresAuditVerifier.verify(store: store, verifier: signer.verifier, headPath: nil)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("")
        print("verify (PostgreSQL): \(report.entries) entries (filled in \(String(format: "%.1f", fillSeconds)) s), "
              + "\(report.checkpointsVerified) checkpoints, intact=\(report.intact): \(String(format: "%.2f", seconds)) s "
              + "(\(String(format: "%.0f", Double(report.entries) / seconds)) entries/s)")
    }
}

print("| concurrency | appends | seconds | durable appends/s | entries per commit | CPU µs per append |")
print("|---:|---:|---:|---:|---:|---:|")
for c in concurrencies {
    let n = c == 1 ? min(appends, 5_000) : appends
    let (log, dir) = try fresh("appends-\(c)", base: base)
    let cpuBefore = cpuSeconds()
    let seconds = try await fill(log, count: n, concurrency: c)
    let cpu = cpuSeconds() - cpuBefore
    let commits = await log.commits
    try await log.close()
    print("| \(c) | \(n) | \(String(format: "%.2f", seconds)) | \(String(format: "%.0f", Double(n) / seconds)) | \(String(format: "%.1f", Double(n) / Double(max(commits, 1)))) | \(String(format: "%.1f", cpu * 1e6 / Double(n))) |")
    try? FileManager.default.removeItem(atPath: dir)
}

if verifyEntries > 0 {
    let (log, dir) = try fresh("verify", base: base)
    let fillSeconds = try await fill(log, count: verifyEntries, concurrency: 256)
    try await log.close()
    let verifier = try AuditSigningKey.load(path: dir + "/audit-key").verifier
    let start = ContinuousClock.now
    let report = try AuditVerifier(verifier: verifier).verify(databasePath: dir + "/audit.sqlite", headPath: dir + "/audit-checkpoint")
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let bytes = (try? FileManager.default.attributesOfItem(atPath: dir + "/audit.sqlite")[.size] as? Int) ?? 0
    print("")
    print("verify: \(report.entries) entries (\(bytes / 1_048_576) MiB, filled in \(String(format: "%.1f", fillSeconds)) s), "
          + "\(report.checkpointsVerified) checkpoints, intact=\(report.intact): \(String(format: "%.2f", seconds)) s "
          + "(\(String(format: "%.0f", Double(report.entries) / seconds)) entries/s)")
    try? FileManager.default.removeItem(atPath: dir)
}
