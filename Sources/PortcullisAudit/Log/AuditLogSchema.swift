import GRDB

/// The audit database schema, as named migrations (append-only, like the main store's).
///
/// - `v1-audit-log`: `audit_entries` (position, canonical entry text, leaf hash, and
///   virtual columns extracted from the entry for search), `audit_checkpoints` (every
///   signed checkpoint by tree size) and `audit_meta` (the log's origin).
/// - `v2-audit-nodes`: `audit_nodes`, the hashes of perfect subtrees of 64 leaves and more.
///
/// `time_ns` and `agent_id` are indexed, so they are stored columns written with the entry
/// (no JSON parsing on the append path); ``AuditVerifier`` checks them against the hashed
/// entry text. The other search columns are generated from the entry text, so they cannot
/// disagree with it. Lookups by event id scan (an index on random ids halves append throughput).
enum AuditLogSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-audit-log") { db in
            try db.execute(sql: """
                CREATE TABLE audit_entries (
                    idx INTEGER PRIMARY KEY,
                    entry TEXT NOT NULL,
                    leaf_hash BLOB NOT NULL,
                    time_ns INTEGER NOT NULL,
                    agent_id TEXT,
                    event_id TEXT GENERATED ALWAYS AS (json_extract(entry, '$.event.id')) VIRTUAL,
                    kind TEXT GENERATED ALWAYS AS (json_extract(entry, '$.event.kind')) VIRTUAL,
                    on_behalf_of TEXT GENERATED ALWAYS AS (json_extract(entry, '$.event.on_behalf_of')) VIRTUAL,
                    actor TEXT GENERATED ALWAYS AS (json_extract(entry, '$.event.actor')) VIRTUAL,
                    action TEXT GENERATED ALWAYS AS (json_extract(entry, '$.event.action')) VIRTUAL,
                    resource TEXT GENERATED ALWAYS AS (json_extract(entry, '$.event.resource')) VIRTUAL,
                    decision TEXT GENERATED ALWAYS AS (json_extract(entry, '$.event.decision')) VIRTUAL
                );
                CREATE INDEX audit_entries_on_time_ns ON audit_entries(time_ns);
                CREATE INDEX audit_entries_on_agent_id ON audit_entries(agent_id, idx);
                CREATE TABLE audit_checkpoints (
                    size INTEGER PRIMARY KEY,
                    note TEXT NOT NULL,
                    signed_at_ns INTEGER NOT NULL
                );
                CREATE TABLE audit_meta (
                    key TEXT PRIMARY KEY,
                    value TEXT NOT NULL
                );
                """)
        }
        // The roots of perfect subtrees of 64 leaves and more (StoredSubtrees), so proofs and start-up read
        // O(log n) hashes instead of every leaf; filled from the existing entries once.
        migrator.registerMigration("v2-audit-nodes") { db in
            try db.execute(sql: """
                CREATE TABLE audit_nodes (
                    level INTEGER NOT NULL,
                    idx INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    PRIMARY KEY (level, idx)
                ) WITHOUT ROWID;
                """)
            try StoredSubtrees.backfill(db)
        }
        return migrator
    }
}
