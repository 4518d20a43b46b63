import Foundation
import PortcullisAudit
import PortcullisCore
import Testing

/// A fresh data directory for one test.
struct TempLog {
    let directory: String
    var database: String { directory + "/audit.sqlite" }
    var key: String { directory + "/audit-key" }
    var head: String { directory + "/audit-checkpoint" }

    init() {
        directory = NSTemporaryDirectory() + "portcullis-audit-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func open(checkpointEvery: UInt64 = 10_000) throws -> AuditLog {
        try AuditLog.open(path: database, signer: try AuditSigningKey.loadOrCreate(path: key), headPath: head,
                          configuration: .init(checkpointEvery: checkpointEvery))
    }

    func verify() throws -> AuditVerificationReport {
        try AuditVerifier(verifier: try AuditSigningKey.load(path: key).verifier).verify(databasePath: database, headPath: head)
    }

    func sqlite(_ sql: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [database, sql]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

func sampleEvent(_ i: Int, agent: String = "agt_a", decision: AuditEvent.Decision = .allow) -> AuditEvent {
    var e = event(i, agent: agent, decision: decision)
    // Every other event carries a shadow decision and its decision input, so both forms round-trip.
    if i % 2 == 1 {
        e.shadow = .init(decision: .pending, determiningPolicies: ["p", "s"], erroringPolicies: [], flipped: true)
        e.decisionInput = .object(["decision": .string("allow"), "request": .object(["context": .object(["n": .int(Int64(i))])]),
                                   "entities": .array([]), "arguments": .string("withheld")])
    }
    return e
}

private func event(_ i: Int, agent: String, decision: AuditEvent.Decision) -> AuditEvent {
    AuditEvent(timeNanos: 1_700_000_000_000_000_000 + Int64(i), id: "evt-\(i)", traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
               kind: .decision, agent: .init(id: agent, model: "m", version: "1", configDigest: nil),
               onBehalfOf: "alice@example.com", delegationChain: ["agt_b", agent], action: "call_tool",
               resource: "time.get_current_time", argumentsDigest: String(repeating: "a", count: 64),
               redactedArguments: .object(["tz": .string("Europe/Paris \"quoted\"\n"), "n": .int(3), "x": .double(0.5)]),
               decision: decision, determiningPolicies: ["policy0"], obligations: [],
               reasoning: "user asked for the time", reason: nil, outcome: .init(status: "ok", bytes: 120),
               latencyNanos: 4200, sessionID: "s1", sourceAddress: "127.0.0.1")
}

@Suite("The audit log")
struct AuditLogTests {
    @Test("concurrent appends get distinct, contiguous positions and read back exactly")
    func concurrentAppends() async throws {
        let t = TempLog()
        defer { t.remove() }
        let log = try t.open()
        let indices = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for i in 0..<500 { group.addTask { try await log.append(sampleEvent(i)) } }
            return try await group.reduce(into: [UInt64]()) { $0.append($1) }
        }
        #expect(indices.sorted() == (0..<500).map(UInt64.init))
        #expect(await log.size == 500)
        let entry = try #require(try await log.entry(eventID: "evt-7"))
        #expect(entry.event == sampleEvent(7))
        let decoded = try AuditEntryCodec.decode(entry.canonical)
        #expect(decoded.index == entry.index)
        #expect(RFC6962.leafHash(entry.canonical) == entry.leafHash)
        try await log.close()
        #expect(try t.verify().intact)
    }

    @Test("the log survives reopening, checkpoints cover it, and proofs verify against the signed roots")
    func reopenAndProofs() async throws {
        let t = TempLog()
        defer { t.remove() }
        var log = try t.open(checkpointEvery: 10)
        for i in 0..<25 { try await log.append(sampleEvent(i)) }
        let c1 = try await log.checkpoint()
        #expect(c1.size == 25)
        try await log.close()
        log = try t.open(checkpointEvery: 10)
        #expect(await log.size == 25)
        for i in 25..<40 { try await log.append(sampleEvent(i)) }
        let c2 = try await log.checkpoint()
        let verifier = try NoteVerifier(verifierKey: log.verifierKey)
        #expect(verifier.verifies(c2.note))
        for index in [0, 13, 24, 39] as [UInt64] {
            let p = try await log.inclusionProof(index: index)
            #expect(p.treeSize == 40)
            #expect(RFC6962.verifyInclusion(leafHash: p.leafHash, index: index, treeSize: 40, proof: p.hashes, root: c2.rootHash))
        }
        let cp = try await log.consistencyProof(from: 25, to: 40)
        #expect(RFC6962.verifyConsistency(oldSize: 25, newSize: 40, oldRoot: c1.rootHash, newRoot: c2.rootHash, proof: cp.hashes))
        await #expect(throws: AuditError.self) { try await log.inclusionProof(index: 40) }
        let allow = try await log.entries(AuditQuery(agent: "agt_a", limit: 5))
        #expect(allow.map(\.index) == [39, 38, 37, 36, 35])
        try await log.close()
        let report = try t.verify()
        #expect(report.intact)
        #expect(report.entries == 40)
        #expect(report.latestCheckpointSize == 40)
    }

    @Test("verify names the entry that was modified, deleted or truncated")
    func tamper() async throws {
        for (sql, kind, index) in [
            ("UPDATE audit_entries SET entry = replace(entry, 'alice@example.com', 'mallory@example.com') WHERE idx = 5", AuditVerificationReport.Kind.modified, UInt64(5)),
            ("DELETE FROM audit_entries WHERE idx = 7", .deleted, 7),
            ("UPDATE audit_entries SET agent_id = 'agt_z' WHERE idx = 9", .modified, 9),
            ("DELETE FROM audit_entries WHERE idx >= 15", .truncated, 15),
        ] {
            let t = TempLog()
            defer { t.remove() }
            let log = try t.open()
            for i in 0..<20 { try await log.append(sampleEvent(i)) }
            try await log.close()
            #expect(try t.verify().intact)
            try t.sqlite(sql)
            let report = try t.verify()
            let first = try #require(report.problems.first, "\(sql)")
            #expect(first.kind == kind, "\(sql): \(report.problems)")
            #expect(first.index == index, "\(sql): \(report.problems)")
        }
    }

    @Test("a crash between writing the head file and storing its checkpoint is not damage, and the next open stores it back")
    func crashBetweenHeadAndDatabase() async throws {
        let t = TempLog()
        defer { t.remove() }
        var log = try t.open()
        for i in 0..<12 { try await log.append(sampleEvent(i)) }
        try await log.checkpoint()
        for i in 12..<20 { try await log.append(sampleEvent(i)) }
        let head = try await log.checkpoint()
        try await log.close()
        // What the crash leaves: the head file holds size 20, the database only size 12.
        try t.sqlite("DELETE FROM audit_checkpoints WHERE size = 20")
        var report = try t.verify()
        #expect(report.intact, "\(report.problems)")
        #expect(report.latestCheckpointSize == 20)
        log = try t.open()
        #expect(await log.latestCheckpoint?.size == 20)
        #expect(try await log.checkpoint(size: 20)?.note.serialized == head.note.serialized)
        try await log.close()
        report = try t.verify()
        #expect(report.intact)
        // But a head the entries do not reach is a deletion, whichever row went missing.
        try t.sqlite("DELETE FROM audit_checkpoints WHERE size = 20")
        try t.sqlite("DELETE FROM audit_entries WHERE idx >= 16")
        report = try t.verify()
        #expect(report.problems.contains { $0.kind == .checkpoint && $0.message.contains("deleted") }, "\(report.problems)")
        #expect(report.problems.contains { $0.kind == .truncated && $0.index == 16 }, "\(report.problems)")
        // And an open does not store back a head the entries do not reach.
        log = try t.open()
        #expect(await log.latestCheckpoint?.size == 12)
        try await log.close()
    }

    @Test("appends after close fail, so callers fail closed")
    func closed() async throws {
        let t = TempLog()
        defer { t.remove() }
        let log = try t.open()
        try await log.close()
        await #expect(throws: AuditError.self) { try await log.append(sampleEvent(1)) }
    }
}
