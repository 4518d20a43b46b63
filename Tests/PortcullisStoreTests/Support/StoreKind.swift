import Foundation
import Logging
import PortcullisCore
import Testing
@testable import PortcullisStore
@testable import PortcullisStorePostgres

/// The ways to open a store; the conformance tests run against each. PostgreSQL joins when
/// `PORTCULLIS_TEST_POSTGRES_URL` names a server whose user may create databases (`.ci/run` starts one and sets
/// `PORTCULLIS_REQUIRE_POSTGRES=1`, so a missing server fails there instead of skipping).
enum StoreKind: CaseIterable, CustomTestStringConvertible {
    case file
    case memory
    case postgres

    static var allCases: [StoreKind] {
        PostgresTestServer.url == nil ? [.file, .memory] : [.file, .memory, .postgres]
    }

    var testDescription: String {
        switch self {
        case .file: "SQLite file"
        case .memory: "in memory"
        case .postgres: "PostgreSQL"
        }
    }

    /// Opens a fresh store of this kind, reading time from `clock`.
    func open(clock: TestClock = TestClock()) async throws -> OpenedStore {
        switch self {
        case .file:
            let directory = try TemporaryDirectory()
            let store = try SQLiteStore(path: directory.path("portcullis.sqlite"), now: clock.now)
            return OpenedStore(store: store, sqlite: store, postgres: nil, directory: directory)
        case .memory:
            let store = try SQLiteStore.inMemory(now: clock.now)
            return OpenedStore(store: store, sqlite: store, postgres: nil, directory: nil)
        case .postgres:
            let settings = try await PostgresTestServer.freshDatabase()
            let store = try await PostgresStore.connect(settings, now: clock.now)
            return OpenedStore(store: store, sqlite: nil, postgres: store, directory: nil, settings: settings)
        }
    }
}

/// A store and what it lives in (a temporary directory, a PostgreSQL database).
struct OpenedStore: Sendable {
    let store: any StateStore
    let sqlite: SQLiteStore?
    let postgres: PostgresStore?
    let directory: TemporaryDirectory?
    var settings: PostgresSettings? = nil

    /// Runs raw SQL (tests use it to damage rows).
    func execute(sql: String) async throws {
        if let sqlite { try await sqlite.execute(sql: sql) } else { try await postgres!.run(sql: sql) }
    }

    /// The first column of the first row of a query, as text.
    func fetchText(sql: String) async throws -> String? {
        if let sqlite { return try await sqlite.fetchText(sql: sql) }
        return try await postgres!.fetchText(sql: sql)
    }

    /// Closes the store (later calls throw `.storage`).
    func close() async throws {
        if let sqlite { try await sqlite.close() } else { postgres!.close() }
    }

    /// A second connection pool on the same database: another replica.
    func replica(clock: TestClock = TestClock()) async throws -> any StateStore {
        if let settings { return try await PostgresStore.connect(settings, now: clock.now) }
        return store
    }
}

/// The PostgreSQL server the tests use, if any: each test gets a database of its own.
enum PostgresTestServer {
    static let url = ProcessInfo.processInfo.environment["PORTCULLIS_TEST_POSTGRES_URL"]

    static func freshDatabase() async throws -> PostgresSettings {
        let base = try PostgresSettings(url: try #require(url), poolSize: 2)
        let admin = try await PostgresStore.connect(base, migrate: false)
        defer { admin.close() }
        let name = "pt_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20).lowercased()
        try await admin.run(sql: "CREATE DATABASE \(name)")
        var settings = base
        settings.database = name
        settings.poolSize = 8
        return settings
    }
}

@Suite("PostgreSQL test server")
struct PostgresTestServerTests {
    @Test("a required PostgreSQL server is configured (CI runs the conformance suite against it)")
    func required() {
        if ProcessInfo.processInfo.environment["PORTCULLIS_REQUIRE_POSTGRES"] == "1" {
            #expect(PostgresTestServer.url != nil, "PORTCULLIS_REQUIRE_POSTGRES=1 but PORTCULLIS_TEST_POSTGRES_URL is not set")
        }
    }
}
