import Foundation
import PortcullisCore
import Synchronization
import Testing
@testable import PortcullisStore

@Suite("Group commit")
struct GroupCommitTests {
    @Test("concurrent submissions share batches, each gets its own result, none is lost or duplicated")
    func batches() async throws {
        let batches = Mutex<[[Int]]>([])
        let commit = GroupCommit<Int, Int> { items in
            try await Task.sleep(for: .milliseconds(2))  // a write that takes time, so callers pile up
            batches.withLock { $0.append(items) }
            return items.map { $0 * 10 }
        }
        let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for i in 0..<200 { group.addTask { (i, try await commit.submit(i)) } }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 200)
        #expect(results.allSatisfy { $0.value == $0.key * 10 })
        let written = batches.withLock { $0 }
        #expect(written.flatMap { $0 }.sorted() == Array(0..<200))
        #expect(written.count < 200, "200 concurrent submissions were written one by one")
    }

    @Test("a failed write fails every item of its batch, and the next batch still runs")
    func failure() async throws {
        struct Broken: Error {}
        let fail = Mutex(true)
        let commit = GroupCommit<Int, Bool> { items in
            if fail.withLock({ $0 }) { throw Broken() }
            return items.map { _ in true }
        }
        await #expect(throws: Broken.self) { try await commit.submit(1) }
        fail.withLock { $0 = false }
        #expect(try await commit.submit(2))
    }

    @Test("a flush that returns the wrong number of results fails the batch instead of guessing")
    func contract() async throws {
        let commit = GroupCommit<Int, Bool> { _ in [] }
        await #expect(throws: GroupCommitError.self) { try await commit.submit(1) }
    }

    @Test("the SQLite replay cache decides repeated ids inside one batch: exactly one of each wins")
    func replayInBatch() async throws {
        let store = try SQLiteStore.inMemory()
        let expiry = Date().addingTimeInterval(300)
        let accepted = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
            for i in 0..<300 {
                let id = "jti-\(i % 30)"
                group.addTask { (id, try await store.recordOnce(namespace: "dpop", id: id, expiresAt: expiry)) }
            }
            return try await group.reduce(into: [String: Int]()) { if $1.1 { $0[$1.0, default: 0] += 1 } }
        }
        #expect(accepted.count == 30)
        #expect(accepted.values.allSatisfy { $0 == 1 })
        try await store.close()
        await #expect(throws: PortcullisError.self) {
            try await store.recordOnce(namespace: "dpop", id: "after-close", expiresAt: expiry)
        }
    }
}
