import Foundation
import PortcullisCore
import Testing
@testable import PortcullisStore

@Suite("SQLite store files")
struct SQLiteStoreFileTests {
    @Test("a new file is created with its directories, in WAL mode, fully migrated")
    func createsFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("nested/deeper/portcullis.sqlite")
        let store = try SQLiteStore(path: path)
        let agent = Fixtures.agent()
        try await store.create(agent, event: Fixtures.registered(agent))

        #expect(FileManager.default.fileExists(atPath: path))
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        #expect(try await store.fetchText(sql: "PRAGMA journal_mode") == "wal")
        // FULL (2): an acknowledged commit survives a power loss.
        #expect(try await store.fetchText(sql: "PRAGMA synchronous") == "2")
        #expect(try await store.appliedMigrations() == ["v1-agents", "v1-token-state", "v2-agent-teams", "v2-tools", "v3-response", "v4-tool-classification", "v4-token-parent", "v5-vault", "v6-vault-grants", "v7-people-roles", "v8-tool-pinned-definition"])
        try await store.close()
    }

    @Test("reopening a file keeps the data and runs no migration again")
    func reopen() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("portcullis.sqlite")
        let agent = Fixtures.agent()
        do {
            let store = try SQLiteStore(path: path)
            try await store.create(agent, event: Fixtures.registered(agent))
            try await store.recordIssued(Fixtures.token(jti: "tok-1"))
            #expect(try await store.recordOnce(namespace: "dpop", id: "jti-1",
                                               expiresAt: Date().addingTimeInterval(3_600)))
            try await store.close()
        }

        // The v1 migrations create tables without IF NOT EXISTS: running them again would throw.
        let store = try SQLiteStore(path: path)
        let stored = try #require(try await store.agent(id: agent.id))
        #expect(stored.datesMatch(agent))
        #expect(stored.withDates(of: agent) == agent)
        #expect(try await store.events(agentID: agent.id).map(\.kind) == [.registered])
        #expect(try await store.issued(jti: "tok-1") == Fixtures.token(jti: "tok-1"))
        #expect(try await !store.recordOnce(namespace: "dpop", id: "jti-1",
                                            expiresAt: Date().addingTimeInterval(3_600)))
        #expect(try await store.appliedMigrations() == ["v1-agents", "v1-token-state", "v2-agent-teams", "v2-tools", "v3-response", "v4-tool-classification", "v4-token-parent", "v5-vault", "v6-vault-grants", "v7-people-roles", "v8-tool-pinned-definition"])
        #expect(try await store.fetchText(sql: "SELECT COUNT(*) FROM grdb_migrations") == "11")
        try await store.close()
    }

    @Test("a file that is not a database fails with .storage and is left untouched")
    func corruptFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("portcullis.sqlite")
        let garbage = Data((0..<8_192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 13) })
        try garbage.write(to: URL(fileURLWithPath: path))

        let error = #expect(throws: PortcullisError.self) { _ = try SQLiteStore(path: path) }
        #expect(error?.code == .storage)
        #expect(error?.reason.contains(path) == true)
        #expect(error?.reason.contains("not a database") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage)
    }

    @Test("a path that is a directory fails with .storage")
    func directoryPath() throws {
        let directory = try TemporaryDirectory()

        let error = #expect(throws: PortcullisError.self) { _ = try SQLiteStore(path: directory.url.path) }
        #expect(error?.code == .storage)
    }

    @Test("a database migrated by a newer release is refused with a clear message and left as it was")
    func newerSchema() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("portcullis.sqlite")
        let agent = Fixtures.agent()
        do {
            let store = try SQLiteStore(path: path)
            try await store.create(agent, event: Fixtures.registered(agent))
            // What a later release's migrator leaves behind.
            try await store.execute(sql: """
                CREATE TABLE policies (id TEXT PRIMARY KEY);
                INSERT INTO grdb_migrations (identifier) VALUES ('v9-policies');
                """)
            try await store.close()
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        let error = #expect(throws: PortcullisError.self) { _ = try SQLiteStore(path: path) }
        #expect(error?.code == .storage)
        #expect(error?.reason.contains("newer Portcullis") == true)
        #expect(error?.reason.contains("v9-policies") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("calls on a closed store throw .storage rather than answer", arguments: StoreKind.allCases)
    func closedStore(kind: StoreKind) async throws {
        let opened = try await kind.open()
        try await opened.close()

        let read = await #expect(throws: PortcullisError.self) { try await opened.store.agent(id: "agt_full") }
        #expect(read?.code == .storage)
        let write = await #expect(throws: PortcullisError.self) {
            try await opened.store.recordOnce(namespace: "dpop", id: "jti", expiresAt: Fixtures.epoch)
        }
        #expect(write?.code == .storage)
    }

    @Test("closing while calls are in flight lets them finish or fail with .storage, never crash",
          arguments: StoreKind.allCases)
    func closeUnderLoad(kind: StoreKind) async throws {
        let opened = try await kind.open()
        let store = opened.store
        let expiry = Fixtures.epoch.addingTimeInterval(300)

        let outcomes = await withTaskGroup(of: PortcullisError.Code?.self) { group in
            for index in 0..<50 {
                group.addTask {
                    do {
                        _ = try await store.recordOnce(namespace: "dpop", id: "jti-\(index)", expiresAt: expiry)
                        return nil
                    } catch let error as PortcullisError {
                        return error.code
                    } catch {
                        return .internalError
                    }
                }
            }
            group.addTask {
                try? await opened.close()
                return nil
            }
            return await group.reduce(into: [PortcullisError.Code?]()) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0 == nil || $0 == .storage })
        let after = await #expect(throws: PortcullisError.self) { try await store.agent(id: "agt_full") }
        #expect(after?.code == .storage)
    }

    @Test("two stores on one file (two replicas) still accept a one-time id exactly once")
    func twoStoresOneFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("portcullis.sqlite")
        let first = try SQLiteStore(path: path)
        let second = try SQLiteStore(path: path)
        let expiry = Date().addingTimeInterval(300)

        let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<100 {
                let store = index.isMultiple(of: 2) ? first : second
                group.addTask { try await store.recordOnce(namespace: "dpop", id: "raced", expiresAt: expiry) }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(accepted == 1)
        try await first.close()
        try await second.close()
    }

    @Test("a row the code cannot read is a .storage error, not a crash or a default")
    func unreadableRow() async throws {
        let store = try SQLiteStore.inMemory()
        let agent = Fixtures.agent()
        try await store.create(agent, event: Fixtures.registered(agent))
        try await store.execute(sql: "UPDATE agents SET status = 'retired', allowed_scopes = 'oops'")

        let error = await #expect(throws: PortcullisError.self) { try await store.agent(id: agent.id) }
        #expect(error?.code == .storage)
        #expect(error?.reason.contains("retired") == true)
    }
}
