import GRDB

/// The database schema, as an ordered list of named migrations.
///
/// Migrations are append-only: once released, a migration is never edited or
/// renamed; a schema change is a new migration with a new identifier. The store
/// runs pending migrations when it opens and refuses a database that has
/// migrations this list does not know (it was written by a newer release).
///
/// - `v1-agents`: the `agents` table and the `lifecycle_events` history.
/// - `v1-token-state`: the `replay_cache` of one-time identifiers and the `issued_tokens` table.
/// - `v2-agent-teams`: the agents' `teams` (JSON array), for team-based policies.
/// - `v2-tools`: the gateway's tool registry with pinned definition hashes.
/// - `v3-response`: approvals and approvers, the monitor's baselines, risk states and alerts (issue #6).
/// - `v4-tool-classification`: who classified a tool's effect; effects taken from upstream annotations are dropped.
/// - `v4-token-parent`: the `parent_jti` of exchanged tokens, as a column.
///
/// - `v5-vault`: sealed secrets and the vault's key check.
/// - `v6-vault-grants`: users' sealed grants for per-user credentials.
/// - `v7-people-roles`: a named person's role (`approver` or `administrator`).
/// - `v8-tool-pinned-definition`: the definition a person approved, beside the one an upstream now announces.
///
/// All dates are REAL unix seconds; arrays and JWKs are JSON text.
enum StoreSchema {
    /// The migrator with every migration registered, in order.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-agents", migrate: createAgents)
        migrator.registerMigration("v1-token-state", migrate: createTokenState)
        migrator.registerMigration("v2-agent-teams") { db in
            try db.alter(table: AgentRecord.databaseTableName) { t in
                t.add(column: "teams", .text).notNull().defaults(to: "[]")
            }
        }
        migrator.registerMigration("v2-tools", migrate: createTools)
        migrator.registerMigration("v3-response", migrate: createResponse)
        migrator.registerMigration("v4-tool-classification") { db in
            // Who classified the tool's effect (`config`, `annotations`, `admin:<name>`); NULL while unclassified.
            try db.alter(table: "tools") { t in t.add(column: "classified_by", .text) }
            // Effects taken from an upstream's own annotations are not a classification: they are dropped.
            try db.execute(sql: "UPDATE tools SET effect = 'unclassified'")
        }
        migrator.registerMigration("v4-token-parent") { db in
            // The token an exchanged token came from, as a column (the delegation chain is walked by it).
            try db.alter(table: IssuedTokenRecord.databaseTableName) { t in t.add(column: "parent_jti", .text) }
            try db.execute(sql: "UPDATE issued_tokens SET parent_jti = json_extract(claims_json, '$.parent_jti')")
        }
        migrator.registerMigration("v5-vault") { db in
            // Sealed secrets (AES-256-GCM under a key kept outside the database) and the key check value.
            try db.execute(sql: """
                CREATE TABLE vault_secrets (
                    name TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    sealed BLOB NOT NULL,
                    key_id TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL,
                    updated_by TEXT NOT NULL
                );
                CREATE TABLE vault_meta (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    key_id TEXT NOT NULL,
                    check_sealed BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v6-vault-grants") { db in
            // Per-user credentials: a user's sealed refresh token for an `oauth_user` secret. Deleting the secret
            // deletes every user's grant for it.
            try db.execute(sql: """
                CREATE TABLE vault_grants (
                    secret TEXT NOT NULL REFERENCES vault_secrets(name) ON DELETE CASCADE,
                    user TEXT NOT NULL,
                    sealed BLOB NOT NULL,
                    key_id TEXT NOT NULL,
                    scope TEXT,
                    version INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL,
                    PRIMARY KEY (secret, user)
                );
                CREATE INDEX vault_grants_user ON vault_grants(user);
                """)
        }
        migrator.registerMigration("v7-people-roles") { db in
            // Named people: an approver or an administrator, each with a token of their own (docs/console.md).
            try db.execute(sql: "ALTER TABLE approvers ADD COLUMN role TEXT NOT NULL DEFAULT 'approver'")
        }
        migrator.registerMigration("v8-tool-pinned-definition") { db in
            // The definition as approved, shown beside a changed one (the console's Tools page).
            try db.execute(sql: "ALTER TABLE tools ADD COLUMN pinned_definition TEXT")
        }
        return migrator
    }

    private static func createAgents(_ db: Database) throws {
        try db.create(table: AgentRecord.databaseTableName) { t in
            t.primaryKey("id", .text)
            t.column("name", .text).notNull()
            t.column("owner", .text).notNull()
            t.column("purpose", .text).notNull()
            t.column("model_provider", .text).notNull()
            t.column("model_name", .text).notNull()
            t.column("model_version", .text).notNull()
            t.column("created_at", .double).notNull()
            t.column("review_cadence_days", .integer).notNull()
            t.column("next_review_at", .double).notNull()
            t.column("max_session_seconds", .integer).notNull()
            t.column("max_concurrent_sessions", .integer).notNull()
            t.column("trust_level", .integer).notNull()
            // JSON array of strings.
            t.column("allowed_scopes", .text).notNull()
            // JSON array of strings.
            t.column("allowed_audiences", .text).notNull()
            // JSON array of strings, each a JWK's exact JSON text.
            t.column("public_keys", .text).notNull()
            t.column("config_digest", .text)
            t.column("require_dpop", .boolean).notNull()
            t.column("status", .text).notNull()
            t.column("updated_at", .double).notNull()
        }
        try db.create(index: "agents_on_status_created_at", on: AgentRecord.databaseTableName,
                      columns: ["status", "created_at"])

        try db.create(table: LifecycleEventRecord.databaseTableName) { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("agent_id", .text).notNull()
                .references(AgentRecord.databaseTableName, onDelete: .cascade)
            t.column("kind", .text).notNull()
            t.column("actor", .text).notNull()
            t.column("reason", .text).notNull()
            t.column("details", .text)
            t.column("at", .double).notNull()
        }
        try db.create(index: "lifecycle_events_on_agent_id_at", on: LifecycleEventRecord.databaseTableName,
                      columns: ["agent_id", "at"])
    }

    private static func createTokenState(_ db: Database) throws {
        try db.create(table: "replay_cache", options: [.withoutRowID]) { t in
            t.column("namespace", .text).notNull()
            t.column("id", .text).notNull()
            t.column("expires_at", .double).notNull()
            t.primaryKey(["namespace", "id"])
        }
        try db.create(index: "replay_cache_on_expires_at", on: "replay_cache", columns: ["expires_at"])

        try db.create(table: IssuedTokenRecord.databaseTableName) { t in
            t.primaryKey("jti", .text)
            t.column("agent_id", .text).notNull()
            t.column("subject", .text).notNull()
            t.column("audience", .text).notNull()
            t.column("scope", .text).notNull()
            t.column("issued_at", .double).notNull()
            t.column("expires_at", .double).notNull()
            t.column("revoked_at", .double)
            t.column("jkt", .text)
            t.column("claims_json", .text).notNull()
        }
        try db.create(index: "issued_tokens_on_agent_id_expires_at", on: IssuedTokenRecord.databaseTableName,
                      columns: ["agent_id", "expires_at"])
        try db.create(index: "issued_tokens_on_expires_at", on: IssuedTokenRecord.databaseTableName,
                      columns: ["expires_at"])
    }

    private static func createTools(_ db: Database) throws {
        try db.create(table: "tools") { t in
            // The namespaced name, `<upstream>.<tool>`.
            t.primaryKey("qualified_name", .text)
            t.column("upstream", .text).notNull()
            t.column("name", .text).notNull()
            // The definition as last seen (canonical JSON) and its SHA-256.
            t.column("definition", .text).notNull()
            t.column("definition_hash", .text).notNull()
            // The approved definition's hash; NULL while none is approved.
            t.column("pinned_hash", .text)
            t.column("status", .text).notNull()
            t.column("effect", .text).notNull()
            t.column("risk", .integer).notNull()
            t.column("data_class", .text).notNull()
            t.column("tags", .text).notNull()
            t.column("findings", .text).notNull()
            t.column("first_seen_at", .double).notNull()
            t.column("updated_at", .double).notNull()
            t.column("approved_by", .text)
            t.column("approved_at", .double)
        }
    }

    private static func createResponse(_ db: Database) throws {
        try db.create(table: "approvals") { t in
            t.primaryKey("id", .text)
            t.column("agent_id", .text).notNull()
            t.column("tool", .text).notNull()
            t.column("arguments_digest", .text).notNull()
            t.column("session", .text).notNull()
            t.column("status", .text).notNull()
            t.column("created_at", .double).notNull()
            // The whole approval as JSON (the columns above are for lookups).
            t.column("body", .text).notNull()
        }
        try db.create(index: "approvals_on_binding", on: "approvals",
                      columns: ["agent_id", "tool", "arguments_digest", "session", "created_at"])
        try db.create(index: "approvals_on_status_created_at", on: "approvals", columns: ["status", "created_at"])
        try db.create(table: "approvers") { t in
            t.primaryKey("name", .text)
            // SHA-256 (hex) of the approver's bearer token.
            t.column("token_digest", .text).notNull().unique()
            t.column("created_at", .double).notNull()
            t.column("created_by", .text).notNull()
        }
        try db.create(table: "baselines") { t in
            t.primaryKey("agent_id", .text)
            t.column("body", .text).notNull()
            t.column("updated_at", .double).notNull()
        }
        try db.create(table: "risk_states") { t in
            t.primaryKey("agent_id", .text)
            t.column("body", .text).notNull()
        }
        try db.create(table: "alerts") { t in
            t.autoIncrementedPrimaryKey("seq")
            t.column("id", .text).notNull().unique()
            t.column("agent_id", .text).notNull()
            t.column("at", .double).notNull()
            t.column("body", .text).notNull()
        }
        try db.create(index: "alerts_on_agent_seq", on: "alerts", columns: ["agent_id", "seq"])
    }
}
