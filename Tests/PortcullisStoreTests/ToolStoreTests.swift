import Foundation
import PortcullisCore
import Testing
@testable import PortcullisStore

@Suite("Tool registry (SQLite and PostgreSQL)")
struct ToolStoreTests {
    func record(_ name: String, status: ToolRecord.Status = .approved) -> ToolRecord {
        ToolRecord(qualifiedName: name, upstream: "git", name: String(name.dropFirst(4)), definition: #"{"name":"x","é":"🚀"}"#,
                   definitionHash: String(repeating: "a", count: 64), pinnedHash: status == .approved ? String(repeating: "a", count: 64) : nil,
                   status: status, effect: .write, risk: 3, dataClass: "source", tags: ["vcs", "write"],
                   findings: ["instruction:concealment"], firstSeenAt: Date(timeIntervalSince1970: 1_000.5),
                   updatedAt: Date(timeIntervalSince1970: 2_000.25), approvedBy: status == .approved ? "admin:alice" : nil,
                   approvedAt: status == .approved ? Date(timeIntervalSince1970: 3_000.75) : nil)
    }

    @Test("tools read back field for field, ordered by name; saving replaces", arguments: StoreKind.allCases)
    func roundTrip(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let a = record("git.git_status"), b = record("git.git_commit", status: .changed)
        try await opened.store.saveTool(a)
        try await opened.store.saveTool(b)
        #expect(try await opened.store.tools() == [b, a])
        #expect(try await opened.store.tool(qualifiedName: "git.git_status") == a)
        #expect(try await opened.store.tool(qualifiedName: "git.nope") == nil)
        var c = b
        c.status = .approved
        c.pinnedHash = c.definitionHash
        c.pinnedDefinition = #"{"name":"x","description":"as approved"}"#
        try await opened.store.saveTool(c)
        #expect(try await opened.store.tool(qualifiedName: "git.git_commit") == c)
    }

    @Test("an unknown status in a row is a .storage error", arguments: StoreKind.allCases)
    func unknownStatus(kind: StoreKind) async throws {
        let opened = try await kind.open()
        try await opened.store.saveTool(record("git.git_log"))
        try await opened.execute(sql: kind == .postgres
            ? #"UPDATE tools SET body = regexp_replace(body, '"status":"[a-z]+"', '"status":"weird"')"#
            : "UPDATE tools SET status = 'weird'")
        await #expect(throws: PortcullisError.self) { try await opened.store.tools() }
    }
}
