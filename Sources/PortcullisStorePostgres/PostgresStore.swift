public import Foundation
public import Logging
import NIOCore
public import PortcullisCore
import PostgresNIO

/// The PostgreSQL storage adapter: the same protocols as the SQLite store, for several replicas sharing one
/// database (docs/scale-out.md).
///
/// What SQLite got from its single writer is made atomic here by the database, never by timing: one-time
/// identifiers are an upsert that returns a row only when it recorded something, the per-agent token limit
/// counts and inserts under a transaction-scoped advisory lock on the agent, approvals change by a compare-and-set
/// on their status, and an agent's compare-and-set update names the status and `updated_at` it was computed from.
///
/// Dates are `double precision` unix seconds, as SQLite's REAL columns, so both stores read back the same `Date`.
/// Every failure is thrown as a ``PortcullisError`` with code `.storage` (never a default), so callers deny.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let runner: Task<Void, Never>
    let logger: Logger
    /// The database, without its password (for messages).
    public let location: String
    let now: @Sendable () -> Date
    /// How long a statement may wait (for a connection included) before it fails.
    let timeout: Duration

    /// Connects to the database `settings` names, refuses a schema newer than this release and applies pending
    /// migrations (one replica at a time, under an advisory lock).
    ///
    /// - Throws: ``PortcullisError`` `.storage` when the database cannot be reached or migrated.
    public static func connect(_ settings: PostgresSettings, now: @escaping @Sendable () -> Date = Date.init,
                               logger: Logger = Logger(label: "portcullis.postgres"),
                               migrate: Bool = true) async throws -> PostgresStore {
        let store = PostgresStore(client: PostgresClient(configuration: settings.clientConfiguration(),
                                                         backgroundLogger: logger),
                                  location: settings.redacted, now: now, logger: logger,
                                  timeout: .milliseconds(settings.timeoutMs))
        do {
            if migrate {
                try await PostgresSchema.migrate(store)
            } else {
                _ = try await store.rows("connect", "SELECT 1")
            }
        } catch {
            store.close()
            throw error
        }
        return store
    }

    private init(client: PostgresClient, location: String, now: @escaping @Sendable () -> Date, logger: Logger,
                 timeout: Duration) {
        self.timeout = timeout
        self.client = client
        self.runner = Task { await client.run() }
        self.location = location
        self.now = now
        self.logger = logger
    }

    /// Stops the pool; calls made afterwards throw `.storage`.
    public func close() {
        runner.cancel()
    }

    /// Runs one statement of administration SQL (benchmarks and tests create databases with it; tests damage rows).
    public func run(sql: String) async throws {
        _ = try await rows("run SQL", PostgresQuery(unsafeSQL: sql))
    }

    // MARK: - Maintenance hooks for tests

    /// The first column of the first row of a query, as text.
    func fetchText(sql: String) async throws -> String? {
        try await rows("run a query", PostgresQuery(unsafeSQL: "SELECT (\(sql))::text")).first?.decode(String?.self)
    }

    // MARK: - Queries with wrapped errors

    /// Runs one statement and returns its rows.
    func rows(_ operation: @autoclosure () -> String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        let client = self.client, logger = self.logger
        do {
            return try await deadline { try await client.query(query, logger: logger).collect() }
        } catch {
            throw Self.storageFailure("cannot \(operation()) in PostgreSQL at \(location)", error)
        }
    }

    /// Runs `body` in one transaction (rolled back when it throws).
    func transaction<T: Sendable>(_ operation: @autoclosure () -> String,
                                  _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = self.client, logger = self.logger
        do {
            return try await deadline {
                try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        } catch let error as PostgresTransactionError {
            // What went wrong inside, not the wrapper: a conflict stays a conflict.
            let inner = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError ?? error
            throw Self.storageFailure("cannot \(operation()) in PostgreSQL at \(location)", inner)
        } catch {
            throw Self.storageFailure("cannot \(operation()) in PostgreSQL at \(location)", error)
        }
    }

    /// `work`, or a `.storage` error after ``timeout``: the pool waits for a connection as long as PostgreSQL is
    /// down, and a call must be refused in bounded time instead.
    ///
    /// Unstructured on purpose: a task group would wait for `work` to finish after cancelling it, and a connection
    /// lease does not end on cancellation. `work` is cancelled and left to end on its own; a write it still commits
    /// afterwards was reported as failed, so nothing was acknowledged that is not durable.
    func deadline<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = self.timeout
        let once = OnceResult<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                once.set(continuation)
                let job = Task {
                    do { once.finish(.success(try await work())) } catch { once.finish(.failure(error)) }
                }
                let timer = Task {
                    try? await Task.sleep(for: timeout)
                    if once.finish(.failure(DeadlineExceeded(timeout: timeout))) { job.cancel() }
                }
                once.onFinish { timer.cancel() }
            }
        } onCancel: {
            once.finish(.failure(CancellationError()))
        }
    }

    /// The SQLSTATE of a server error (`23505` unique violation, `23503` foreign key violation), if it is one.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// A readable storage error; a ``PortcullisError`` raised inside a transaction is kept. Bound values are
    /// never part of the message (they may hold token ids).
    static func storageFailure(_ context: String, _ error: any Error) -> any Error {
        switch error {
        case let e as PortcullisError:
            return e
        case let e as CancellationError:
            return e
        case let e as PSQLError:
            if let info = e.serverInfo {
                return PortcullisError(.storage, "\(context): \(info[.sqlState] ?? "?") \(info[.message] ?? "")")
            }
            return PortcullisError(.storage, "\(context): \(e.code)")
        default:
            return PortcullisError(.storage, "\(context): \(error)")
        }
    }
}

/// A statement that waited longer than the store's timeout (PostgreSQL down or overloaded).
struct DeadlineExceeded: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "no answer within \(timeout) (is PostgreSQL down?)" }
}

extension PostgresConnection {
    /// Runs one statement in this connection (inside a transaction) and returns its rows.
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }
}

/// Where the PostgreSQL store lives: a `postgres://` URL, and optionally a file holding the password (so the
/// password need not be in the configuration file).
public struct PostgresSettings: Sendable, Equatable {
    public var host: String?
    public var port: Int
    /// A directory holding the server's socket (`?host=/run/postgresql` in the URL), instead of TCP.
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String
    /// `disable` (loopback and sockets), `prefer` or `require`.
    public var sslMode: String
    /// At most this many connections per replica.
    public var poolSize: Int
    /// How long a statement may take, waiting for a connection included, before the call fails (default 5 s).
    public var timeoutMs: Int = 5000

    /// Parses `postgres://user[:password]@host[:port]/database[?sslmode=…&host=/socket/dir]`.
    ///
    /// - Parameters:
    ///   - passwordFile: A file whose first line is the password; it wins over one in the URL.
    /// - Throws: ``PortcullisError`` `.configuration` naming what is wrong (never echoing the password).
    public init(url: String, passwordFile: String? = nil, poolSize: Int = 10) throws {
        guard let parts = URLComponents(string: url), parts.scheme == "postgres" || parts.scheme == "postgresql" else {
            throw PortcullisError(.configuration, "store.postgres.url must be a postgres:// URL")
        }
        let query = Dictionary((parts.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        for key in query.keys where !["sslmode", "host", "application_name"].contains(key) {
            throw PortcullisError(.configuration, "store.postgres.url: unknown parameter `\(key)`")
        }
        socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        host = parts.host.flatMap { $0.isEmpty ? nil : $0 }
        guard host != nil || socketDirectory != nil else {
            throw PortcullisError(.configuration, "store.postgres.url names no host and no socket directory")
        }
        port = parts.port ?? 5432
        guard let user = parts.user, !user.isEmpty else {
            throw PortcullisError(.configuration, "store.postgres.url names no user")
        }
        self.user = user.removingPercentEncoding ?? user
        password = parts.password.map { $0.removingPercentEncoding ?? $0 }
        if let passwordFile {
            guard let data = FileManager.default.contents(atPath: passwordFile) else {
                throw PortcullisError(.configuration, "cannot read store.postgres.passwordFile \(passwordFile)")
            }
            password = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        }
        let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        guard !path.isEmpty, !path.contains("/") else {
            throw PortcullisError(.configuration, "store.postgres.url names no database (postgres://user@host/DATABASE)")
        }
        database = path
        sslMode = query["sslmode"] ?? "prefer"
        guard ["disable", "prefer", "require"].contains(sslMode) else {
            throw PortcullisError(.configuration, "store.postgres.url: sslmode must be disable, prefer or require")
        }
        guard (1...200).contains(poolSize) else {
            throw PortcullisError(.configuration, "store.postgres.pool must be between 1 and 200")
        }
        self.poolSize = poolSize
    }

    /// The URL without the password.
    public var redacted: String {
        let server = socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } ?? "\(host ?? "?"):\(port)"
        return "postgres://\(user)@\(server)/\(database)"
    }

    var tls: PostgresClient.Configuration.TLS {
        switch sslMode {
        case "disable": .disable
        case "require": .require(.makeClientConfiguration())
        default: .prefer(.makeClientConfiguration())
        }
    }

    func clientConfiguration() -> PostgresClient.Configuration {
        var c: PostgresClient.Configuration
        if let socketDirectory {
            c = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password,
                      database: database)
        } else {
            c = .init(host: host ?? "127.0.0.1", port: port, username: user, password: password, database: database, tls: tls)
        }
        c.options.maximumConnections = poolSize
        c.options.minimumConnections = 1
        c.options.connectTimeout = .seconds(5)
        c.options.additionalStartupParameters = [("application_name", "portcullis")]
        return c
    }
}
