public import Foundation
import GRDB
import PortcullisCore

/// The SQLite storage adapter: agents, lifecycle history and token-service state in one database.
///
/// A file-backed store uses a GRDB `DatabasePool` in WAL mode, so reads run
/// concurrently with the single writer; ``inMemory(now:)`` uses a
/// `DatabaseQueue` for tests. The schema is migrated when the store opens (see
/// ``StoreSchema``), and a database migrated by a newer release is refused
/// rather than written to.
///
/// Dates are stored as REAL unix seconds, so SQL compares them as numbers
/// (`expires_at > ?`) and they read back within a microsecond: exactly when
/// built from unix seconds, possibly one rounding step off (under 0.3 µs) when
/// built by `Date` arithmetic, since `Date` counts from 2001.
///
/// Every database failure is thrown as a ``PortcullisError`` with the code
/// ``PortcullisError/Code/storage`` and the SQLite reason, never swallowed, so
/// that callers deny.
public final class SQLiteStore: Sendable {
    /// The connection (pool or queue); GRDB serializes its writes.
    let writer: any DatabaseWriter
    /// Where the database lives, for error messages: a file path or `:memory:`.
    let location: String
    /// The store's clock, read to decide whether a replay-cache entry has expired.
    let now: @Sendable () -> Date
    /// Keeps calls away from closed connections.
    let gate = AccessGate()
    /// One-time identifiers (DPoP and client-assertion `jti`s) recorded by group commit: concurrent calls share a
    /// transaction and its fsync.
    let onceRecords: GroupCommit<OnceRecord, Bool>

    /// Opens (creating if needed) the database file at `path` and migrates it.
    ///
    /// Missing parent directories are created. An existing file is first
    /// inspected through a read-only connection, so that a file that is not a
    /// SQLite database, or whose schema is newer than this release knows, makes
    /// the initializer throw before anything is written to it.
    ///
    /// - Parameters:
    ///   - path: The database file path.
    ///   - now: The clock used by ``recordOnce(namespace:id:expiresAt:)``; the wall clock by default.
    /// - Throws: ``PortcullisError`` with code `.storage` when the file cannot be
    ///   opened or migrated, or was migrated by a newer release.
    public convenience init(path: String, now: @escaping @Sendable () -> Date = Date.init) throws {
        if FileManager.default.fileExists(atPath: path) {
            try Self.inspectReadOnly(path: path)
        }
        let pool: DatabasePool
        do {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            pool = try DatabasePool(path: path, configuration: Self.configuration())
            // GRDB picks NORMAL for WAL, which may lose the last commits on power
            // loss; an acknowledged revocation or replay record must survive it.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        } catch {
            throw PortcullisError.storageFailure("cannot open the database at \(path)", error)
        }
        try self.init(writer: pool, location: path, now: now)
    }

    /// A fresh, private in-memory store, for tests.
    ///
    /// - Parameter now: The clock used by ``recordOnce(namespace:id:expiresAt:)``; the wall clock by default.
    /// - Throws: ``PortcullisError`` with code `.storage` when SQLite cannot create it.
    public static func inMemory(now: @escaping @Sendable () -> Date = Date.init) throws -> SQLiteStore {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(configuration: configuration())
        } catch {
            throw PortcullisError.storageFailure("cannot open an in-memory database", error)
        }
        return try SQLiteStore(writer: queue, location: ":memory:", now: now)
    }

    /// Wraps an open connection, refusing a superseded schema and applying pending migrations.
    init(writer: any DatabaseWriter, location: String, now: @escaping @Sendable () -> Date) throws {
        self.writer = writer
        self.location = location
        self.now = now
        self.onceRecords = GroupCommit { records in
            try await writer.write { db in try Self.recordOnce(records, at: now(), db) }
        }
        try Self.refuseNewerSchema(in: writer, location: location)
        do {
            try StoreSchema.migrator.migrate(writer)
        } catch {
            throw PortcullisError.storageFailure("cannot migrate the database at \(location)", error)
        }
    }

    /// Checks an existing file without writing to it: SQLite format and schema version.
    private static func inspectReadOnly(path: String) throws {
        var configuration = configuration()
        configuration.readonly = true
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw PortcullisError.storageFailure("cannot open the database at \(path)", error)
        }
        try refuseNewerSchema(in: queue, location: path)
        do {
            try queue.close()
        } catch {
            throw PortcullisError.storageFailure("cannot close the database at \(path)", error)
        }
    }

    /// Throws when the database has migrations this release does not know.
    ///
    /// GRDB's migrator would silently accept such a database; writing to a
    /// schema we do not understand could corrupt it.
    private static func refuseNewerSchema(in reader: any DatabaseReader, location: String) throws {
        let migrator = StoreSchema.migrator
        let applied: Set<String>
        do {
            applied = try reader.read { db in try migrator.appliedIdentifiers(db) }
        } catch {
            throw PortcullisError.storageFailure("cannot read the schema version of \(location)", error)
        }
        let unknown = applied.subtracting(migrator.migrations)
        guard unknown.isEmpty else {
            throw PortcullisError(
                .storage,
                "the database at \(location) was migrated by a newer Portcullis (unknown migrations: "
                    + unknown.sorted().joined(separator: ", ")
                    + "); upgrade Portcullis or point it at another database")
        }
    }

    /// Waits for the calls in flight, folds the WAL into the database file, and closes the connections.
    ///
    /// Every call made after closing has begun throws a `.storage` error.
    /// Closing is optional (connections also close when the store is
    /// deallocated) but leaves the file complete on its own, e.g. at shutdown
    /// before a backup. Closing twice does nothing.
    ///
    /// - Throws: ``PortcullisError`` with code `.storage` when the WAL cannot be
    ///   checkpointed (the connections are closed all the same) or SQLite refuses to close.
    public func close() async throws {
        guard await gate.close() else { return }
        var checkpointFailure: (any Error)?
        do {
            try await writer.writeWithoutTransaction { db in
                _ = try db.checkpoint(.truncate)
            }
        } catch {
            checkpointFailure = error
        }
        do {
            try writer.close()
        } catch {
            throw PortcullisError.storageFailure("cannot close the database at \(location)", error)
        }
        if let checkpointFailure {
            throw PortcullisError.storageFailure(
                "closed the database at \(location) but could not checkpoint its WAL", checkpointFailure)
        }
    }

    /// The GRDB configuration shared by file and in-memory stores.
    private static func configuration() -> Configuration {
        var configuration = Configuration()
        configuration.label = "Portcullis"
        // Another process (a CLI, a second replica) may hold the write lock briefly.
        configuration.busyMode = .timeout(5)
        configuration.foreignKeysEnabled = true
        return configuration
    }

    // MARK: - Database access with wrapped errors

    /// Runs `updates` in a write transaction; any failure becomes a `.storage` error.
    ///
    /// A ``PortcullisError`` thrown by `updates` (a conflict, a missing record) is
    /// rethrown unchanged after the transaction rolls back.
    func write<T: Sendable>(
        _ operation: String,
        _ updates: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        guard gate.enter() else { throw closedError(operation) }
        defer { gate.leave() }
        do {
            return try await writer.write(updates)
        } catch {
            throw PortcullisError.storageFailure("cannot \(operation)", error)
        }
    }

    /// Runs `value` in a read-only access; any failure becomes a `.storage` error.
    ///
    /// Reads are short point lookups on the request path (token state, agents, tools), so they
    /// run synchronously on the caller's thread: in WAL mode a read never waits for a writer, and
    /// skipping the hop to a GRDB queue and back halves their latency.
    func read<T: Sendable>(
        _ operation: @autoclosure () -> String,
        _ value: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        guard gate.enter() else { throw closedError(operation()) }
        defer { gate.leave() }
        do {
            return try readNow(value)
        } catch {
            throw PortcullisError.storageFailure("cannot \(operation())", error)
        }
    }

    /// GRDB's synchronous read (a non-async context selects it).
    private func readNow<T: Sendable>(_ value: @Sendable (Database) throws -> T) throws -> T {
        try writer.read(value)
    }

    /// The error for a call made after ``close()``.
    func closedError(_ operation: String) -> PortcullisError {
        PortcullisError(.storage, "cannot \(operation): the database at \(location) is closed")
    }

    // MARK: - Maintenance hooks for tests

    /// The identifiers of the migrations applied to the database, in registration order.
    func appliedMigrations() async throws -> [String] {
        try await read("read the applied migrations") { db in try StoreSchema.migrator.appliedMigrations(db) }
    }

    /// Runs raw SQL in a write transaction (tests use it to simulate other releases).
    func execute(sql: String) async throws {
        try await write("execute SQL") { db in try db.execute(sql: sql) }
    }

    /// The first column of the first row of a query, as text, run on the writer connection.
    ///
    /// Tests use it to observe purges and per-connection settings (pragmas).
    func fetchText(sql: String) async throws -> String? {
        try await write("run a query") { db in try String.fetchOne(db, sql: sql) }
    }
}
