public import PortcullisAudit

extension DataDirectory {
    /// The audit log's own SQLite file (apart from the main store, so they do not contend).
    public var auditDatabasePath: String { path + "/audit.sqlite" }
    /// The Ed25519 checkpoint key in signed-note form (0600).
    public var auditKeyPath: String { path + "/audit-key" }
    /// The latest signed checkpoint, kept outside the database so a truncated database shows.
    public var auditHeadPath: String { path + "/audit-checkpoint" }

    /// Opens the audit log, creating it and its key on first start.
    public func openAuditLog(configuration: AuditLog.Configuration = .init()) throws -> AuditLog {
        try AuditLog.open(path: auditDatabasePath, signer: try AuditSigningKey.loadOrCreate(path: auditKeyPath),
                          headPath: auditHeadPath, configuration: configuration)
    }
}
