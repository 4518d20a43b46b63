public import Foundation
public import PortcullisAudit
import PostgresNIO

/// `portcullis audit verify` against the deployment's log in PostgreSQL: the same checks as for SQLite
/// (``Verification``), fed from PostgreSQL in pages of 10,000 entries.
public enum PostgresAuditVerifier {
    /// - Parameters:
    ///   - headPath: A replica's head checkpoint file, if it is to be checked against the database.
    /// - Throws: ``AuditError`` only when the database cannot be read at all; damage is reported, not thrown.
    public static func verify(store: PostgresStore, verifier: NoteVerifier, headPath: String?) async throws
        -> AuditVerificationReport
    {
        do {
            let origin = try await store.rows("read the audit log's origin", "SELECT value FROM audit_meta WHERE key = 'origin'")
                .first?.decode(String.self)
            let checkpoints = try await store.rows("read the checkpoints", "SELECT size, note FROM audit_checkpoints ORDER BY size")
                .map { row -> (size: Int64, note: String) in
                    let (size, note) = try row.decode((Int64, String).self)
                    return (size, note)
                }
            var nodes: [Int: [UInt64: [UInt8]]] = [:]
            for row in try await store.rows("read the stored subtree hashes", "SELECT level, idx, hash FROM audit_nodes") {
                let (level, idx, hash) = try row.decode((Int32, Int64, ByteBuffer).self)
                nodes[Int(level), default: [:]][UInt64(idx)] = Array(hash.readableBytesView)
            }
            var pass = Verification(verifier: verifier, origin: origin, checkpoints: checkpoints,
                                    head: headPath.map { ($0, FileManager.default.contents(atPath: $0)) })
            var from: Int64 = .min
            while true {
                let page = try await store.rows("read audit entries", """
                    SELECT idx, entry, leaf_hash, event_id,
                           CASE WHEN jsonb_typeof(entry::jsonb -> 'index') = 'number'
                                THEN (entry::jsonb ->> 'index')::numeric::bigint END,
                           CASE WHEN jsonb_typeof(entry::jsonb #> '{event,time_ns}') = 'number'
                                THEN time_ns = (entry::jsonb #>> '{event,time_ns}')::numeric
                                     AND agent_id IS NOT DISTINCT FROM (entry::jsonb #>> '{event,agent,id}')
                                ELSE false END
                    FROM audit_entries WHERE idx >= \(from) ORDER BY idx LIMIT 10000
                    """)
                for row in page {
                    let (idx, text, leaf, id, claimed, agree) = try row.decode(
                        (Int64, String?, ByteBuffer?, String?, Int64?, Bool?).self)
                    try pass.visit(AuditVerifier.EntryRow(idx: idx, text: text, leafHash: leaf.map { Array($0.readableBytesView) },
                                                         eventID: id, claimedIndex: claimed, columnsAgree: agree)) { level, index in
                        .hash(nodes[level]?[index])
                    }
                    from = idx + 1
                }
                if page.count < 10000 { break }
            }
            return pass.finish()
        } catch let e as AuditError {
            throw e
        } catch {
            throw AuditError(.storage, "cannot read the audit log in \(store.location): \(error)")
        }
    }
}
