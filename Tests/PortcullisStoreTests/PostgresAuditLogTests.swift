import Foundation
import PortcullisAudit
import PortcullisCore
import Testing
@testable import PortcullisStorePostgres

/// The deployment's audit log in PostgreSQL, written by several replicas at once.
@Suite("PostgreSQL audit log", .enabled(if: PostgresTestServer.url != nil))
struct PostgresAuditLogTests {
    static func event(_ i: Int, agent: String = "agt_a") -> AuditEvent {
        AuditEvent(timeNanos: 1_700_000_000_000_000_000 + Int64(i), id: "evt-\(i)", traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
                   kind: .decision, agent: .init(id: agent, model: "m", version: "1", configDigest: nil),
                   onBehalfOf: "alice@example.com", delegationChain: [agent], action: "call_tool",
                   resource: "time.get_current_time", argumentsDigest: String(repeating: "a", count: 64),
                   decision: i % 3 == 0 ? .deny : .allow, determiningPolicies: ["policy0"], obligations: [],
                   reasoning: "caf\u{e9} \"quoted\"\n", reason: nil, outcome: .init(status: "ok", bytes: 12),
                   latencyNanos: 4200, sessionID: "s1", sourceAddress: "127.0.0.1")
    }

    struct Replicas {
        let settings: PostgresSettings
        let stores: [PostgresStore]
        let logs: [PostgresAuditLog]
        let signer: NoteSigner
        let heads: [String]

        static func open(_ count: Int) async throws -> Replicas {
            let settings = try await PostgresTestServer.freshDatabase()
            let signer = try AuditSigningKey.loadOrCreate(path: NSTemporaryDirectory() + "pg-audit-key-\(UUID().uuidString)")
            var stores: [PostgresStore] = [], logs: [PostgresAuditLog] = [], heads: [String] = []
            for i in 0..<count {
                let store = try await PostgresStore.connect(settings)
                let head = NSTemporaryDirectory() + "pg-audit-head-\(i)-\(UUID().uuidString)"
                stores.append(store)
                heads.append(head)
                logs.append(try await PostgresAuditLog.open(store: store, signer: signer, headPath: head,
                                                            configuration: .init(checkpointEvery: 1_000_000, maxBatch: 64)))
            }
            return Replicas(settings: settings, stores: stores, logs: logs, signer: signer, heads: heads)
        }

        func verify(head: String? = nil) async throws -> AuditVerificationReport {
            try await PostgresAuditVerifier.verify(store: stores[0], verifier: signer.verifier, headPath: head)
        }
    }

    @Test("three replicas appending at once get contiguous positions; proofs from any replica verify against a checkpoint signed by another")
    func concurrentReplicas() async throws {
        let r = try await Replicas.open(3)
        let positions = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for i in 0..<300 {
                let log = r.logs[i % 3]
                group.addTask { try await log.append(Self.event(i, agent: "agt_\(i % 5)")) }
            }
            return try await group.reduce(into: Set<UInt64>()) { $0.insert($1) }
        }
        #expect(positions == Set(0..<300))
        let checkpoint = try await r.logs[1].checkpoint()
        #expect(checkpoint.size == 300)
        #expect(r.signer.verifier.verifies(checkpoint.note))
        for index in [0, 63, 64, 150, 299] as [UInt64] {
            let p = try await r.logs[2].inclusionProof(index: index, treeSize: 300)
            #expect(p.rootHash == checkpoint.rootHash)
            #expect(RFC6962.verifyInclusion(leafHash: p.leafHash, index: index, treeSize: 300, proof: p.hashes, root: checkpoint.rootHash))
            let entry = try #require(try await r.logs[0].entry(index: index))
            #expect(RFC6962.leafHash(entry.canonical) == p.leafHash)
        }
        for i in 300..<340 { try await r.logs[0].append(Self.event(i)) }
        let later = try await r.logs[0].checkpoint()
        let c = try await r.logs[2].consistencyProof(from: 300, to: later.size)
        #expect(RFC6962.verifyConsistency(oldSize: 300, newSize: 340, oldRoot: checkpoint.rootHash, newRoot: later.rootHash,
                                          proof: c.hashes))
        // Search, by event id and by filters, on the columns generated from the hashed text.
        #expect(try await r.logs[1].entry(eventID: "evt-7")?.event.id == "evt-7")
        let denied = try await r.logs[1].entries(AuditQuery(agent: "agt_0", decision: "deny", limit: 1000))
        #expect(!denied.isEmpty && denied.allSatisfy { $0.event.agent?.id == "agt_0" && $0.event.decision == .deny })
        #expect(denied.map(\.index) == denied.map(\.index).sorted(by: >))
        let report = try await r.verify(head: r.heads[0])
        #expect(report.intact, "\(report.problems)")
        #expect(report.entries == 340 && report.latestCheckpointSize == 340)
    }

    @Test("verify names modified, deleted and truncated entries in PostgreSQL")
    func tamper() async throws {
        for (sql, kind, index) in [
            ("UPDATE audit_entries SET entry = replace(entry, 'alice@example.com', 'mallory@example.com') WHERE idx = 5",
             AuditVerificationReport.Kind.modified, UInt64(5)),
            ("DELETE FROM audit_entries WHERE idx = 7", .deleted, 7),
            ("UPDATE audit_entries SET agent_id = 'agt_z' WHERE idx = 9", .modified, 9),
            ("DELETE FROM audit_entries WHERE idx >= 15", .truncated, 15),
        ] {
            let r = try await Replicas.open(1)
            for i in 0..<20 { try await r.logs[0].append(Self.event(i)) }
            try await r.logs[0].checkpoint()
            #expect(try await r.verify().intact)
            try await r.stores[0].run(sql: sql)
            let report = try await r.verify()
            let first = try #require(report.problems.first, "\(sql)")
            #expect(first.kind == kind, "\(sql): \(report.problems)")
            #expect(first.index == index, "\(sql): \(report.problems)")
        }
    }

    @Test("a log belongs to its key: opening it with another key is refused")
    func otherKey() async throws {
        let r = try await Replicas.open(1)
        try await r.logs[0].append(Self.event(1))
        let other = try AuditSigningKey.loadOrCreate(path: NSTemporaryDirectory() + "pg-audit-other-\(UUID().uuidString)")
        let error = await #expect(throws: AuditError.self) {
            _ = try await PostgresAuditLog.open(store: r.stores[0], signer: other, headPath: nil)
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("belongs to"))
    }

    @Test("after close an append fails, so its caller fails closed")
    func closed() async throws {
        let r = try await Replicas.open(1)
        try await r.logs[0].close()
        await #expect(throws: AuditError.self) { try await r.logs[0].append(Self.event(1)) }
    }
}
