import Foundation
import Logging
import PortcullisCore
import PostgresNIO

/// The PostgreSQL schema as an ordered list of named migrations, append-only like SQLite's (``StoreSchema``).
///
/// Replicas starting together migrate one at a time: the migration runs in one transaction holding an advisory
/// lock, and a database migrated by a newer release (a name this list does not know) is refused, not written to.
///
/// - `v1-core`: agents and their lifecycle events, the replay cache, issued tokens, tools, approvals and
///   approvers, baselines, risk states and alerts, vault secrets, the vault key check and users' grants.
/// - `v2-rate-buckets`: one token bucket per rate-limit key, shared by the replicas (``PostgresRateBudget``).
/// - `v3-audit-log`: the deployment's audit log (``PostgresAuditLog``): entries with search columns generated from
///   the hashed text, stored subtree hashes, checkpoints and the log's origin, as in the SQLite log.
///
/// An agent's public keys are a column of their own (a JSON array of each JWK's exact text), as in SQLite: a key
/// is compared and thumbprinted as registered, never as re-encoded.
///
/// Records whose fields lookups never filter on (an agent, a tool, an approval, a baseline) are kept as a JSON
/// body next to the columns that lookups and compare-and-sets need, as in the SQLite store.
enum PostgresSchema {
    /// The advisory lock every migration holds (`pg_advisory_xact_lock`), an arbitrary constant.
    static let migrationLock: Int64 = 0x506F_7274_6375_6C6C

    static let migrations: [(name: String, sql: String)] = [
        ("v1-core", """
            CREATE TABLE agents (
                id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                seq BIGSERIAL NOT NULL,
                public_keys TEXT NOT NULL,
                body TEXT NOT NULL
            );
            CREATE INDEX agents_on_status_created_at ON agents (status, created_at);
            CREATE TABLE lifecycle_events (
                id BIGSERIAL PRIMARY KEY,
                agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
                at DOUBLE PRECISION NOT NULL,
                body TEXT NOT NULL
            );
            CREATE INDEX lifecycle_events_on_agent_id_at ON lifecycle_events (agent_id, at);
            CREATE TABLE replay_cache (
                namespace TEXT NOT NULL,
                id TEXT NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (namespace, id)
            );
            CREATE INDEX replay_cache_on_expires_at ON replay_cache (expires_at);
            CREATE TABLE issued_tokens (
                jti TEXT PRIMARY KEY,
                agent_id TEXT NOT NULL,
                subject TEXT NOT NULL,
                audience TEXT NOT NULL,
                scope TEXT NOT NULL,
                issued_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                revoked_at DOUBLE PRECISION,
                jkt TEXT,
                claims_json TEXT NOT NULL,
                parent_jti TEXT
            );
            CREATE INDEX issued_tokens_on_agent_id ON issued_tokens (agent_id, expires_at);
            CREATE TABLE tools (
                qualified_name TEXT PRIMARY KEY,
                body TEXT NOT NULL
            );
            CREATE TABLE approvals (
                id TEXT PRIMARY KEY,
                agent_id TEXT NOT NULL,
                tool TEXT NOT NULL,
                arguments_digest TEXT NOT NULL,
                session TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                body TEXT NOT NULL
            );
            CREATE INDEX approvals_on_binding ON approvals (agent_id, tool, arguments_digest, session);
            CREATE INDEX approvals_on_status ON approvals (status, created_at);
            CREATE TABLE approvers (
                name TEXT PRIMARY KEY,
                token_digest TEXT NOT NULL UNIQUE,
                created_at DOUBLE PRECISION NOT NULL,
                created_by TEXT NOT NULL
            );
            CREATE TABLE baselines (
                agent_id TEXT PRIMARY KEY,
                updated_at DOUBLE PRECISION NOT NULL,
                body TEXT NOT NULL
            );
            CREATE TABLE risk_states (
                agent_id TEXT PRIMARY KEY,
                body TEXT NOT NULL
            );
            CREATE TABLE alerts (
                seq BIGSERIAL PRIMARY KEY,
                id TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
                body TEXT NOT NULL
            );
            CREATE INDEX alerts_on_agent_id ON alerts (agent_id, seq);
            CREATE TABLE vault_secrets (
                name TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                sealed BYTEA NOT NULL,
                key_id TEXT NOT NULL,
                metadata TEXT NOT NULL,
                version BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                updated_by TEXT NOT NULL
            );
            CREATE TABLE vault_meta (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                key_id TEXT NOT NULL,
                check_sealed BYTEA NOT NULL
            );
            CREATE TABLE vault_grants (
                secret TEXT NOT NULL REFERENCES vault_secrets (name) ON DELETE CASCADE,
                "user" TEXT NOT NULL,
                sealed BYTEA NOT NULL,
                key_id TEXT NOT NULL,
                scope TEXT,
                version BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (secret, "user")
            );
            CREATE INDEX vault_grants_user ON vault_grants ("user");
            """),
        ("v2-rate-buckets", """
            CREATE TABLE rate_buckets (
                key TEXT PRIMARY KEY,
                tokens DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL
            );
            """),
        ("v3-audit-log", """
            CREATE TABLE audit_entries (
                idx BIGINT PRIMARY KEY,
                entry TEXT NOT NULL,
                leaf_hash BYTEA NOT NULL,
                time_ns BIGINT NOT NULL,
                agent_id TEXT,
                event_id TEXT GENERATED ALWAYS AS ((entry::jsonb) #>> '{event,id}') STORED,
                kind TEXT GENERATED ALWAYS AS ((entry::jsonb) #>> '{event,kind}') STORED,
                on_behalf_of TEXT GENERATED ALWAYS AS ((entry::jsonb) #>> '{event,on_behalf_of}') STORED,
                actor TEXT GENERATED ALWAYS AS ((entry::jsonb) #>> '{event,actor}') STORED,
                action TEXT GENERATED ALWAYS AS ((entry::jsonb) #>> '{event,action}') STORED,
                resource TEXT GENERATED ALWAYS AS ((entry::jsonb) #>> '{event,resource}') STORED,
                decision TEXT GENERATED ALWAYS AS ((entry::jsonb) #>> '{event,decision}') STORED
            );
            CREATE INDEX audit_entries_on_time_ns ON audit_entries (time_ns);
            CREATE INDEX audit_entries_on_agent_id ON audit_entries (agent_id, idx);
            CREATE INDEX audit_entries_on_event_id ON audit_entries (event_id);
            CREATE TABLE audit_nodes (
                level INTEGER NOT NULL,
                idx BIGINT NOT NULL,
                hash BYTEA NOT NULL,
                PRIMARY KEY (level, idx)
            );
            CREATE TABLE audit_checkpoints (
                size BIGINT PRIMARY KEY,
                note TEXT NOT NULL,
                signed_at_ns BIGINT NOT NULL
            );
            CREATE TABLE audit_meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );
            """),
        // A named person's role: `approver` or `administrator` (docs/console.md).
        ("v4-people-roles", "ALTER TABLE approvers ADD COLUMN role TEXT NOT NULL DEFAULT 'approver';"),
    ]

    /// Applies the pending migrations, one replica at a time; refuses a database a newer release migrated.
    static func migrate(_ store: PostgresStore) async throws {
        let logger = store.logger
        try await store.transaction("migrate the schema") { c in
            _ = try await c.rows("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
            _ = try await c.rows("""
                CREATE TABLE IF NOT EXISTS portcullis_migrations (
                    name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)
                """, logger: logger)
            var applied = Set<String>()
            for row in try await c.rows("SELECT name FROM portcullis_migrations", logger: logger) {
                applied.insert(try row.decode(String.self))
            }
            let known = Set(migrations.map(\.name))
            let unknown = applied.subtracting(known)
            guard unknown.isEmpty else {
                throw PortcullisError(.storage, "the database at \(store.location) was migrated by a newer Portcullis "
                                      + "(unknown migrations: \(unknown.sorted().joined(separator: ", "))); upgrade Portcullis")
            }
            for (name, sql) in migrations where !applied.contains(name) {
                // Statements one by one: the extended protocol runs one statement per query.
                for statement in sql.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) })
                where !statement.isEmpty {
                    _ = try await c.rows(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                let at = Date().timeIntervalSince1970
                _ = try await c.rows("INSERT INTO portcullis_migrations (name, applied_at) VALUES (\(name), \(at))",
                                     logger: logger)
            }
        }
    }

    /// The names of the applied migrations, in order (for tests).
    static func applied(_ store: PostgresStore) async throws -> [String] {
        try await store.rows("read the applied migrations", "SELECT name FROM portcullis_migrations ORDER BY applied_at, name")
            .map { try $0.decode(String.self) }
    }
}
