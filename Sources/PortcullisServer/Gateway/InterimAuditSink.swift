import Foundation
import PortcullisCore
import Synchronization

/// Appends audit events as JSON lines to a file and syncs it before returning.
/// (Replaced by the Merkle audit log of PortcullisAudit when that lands.)
final class InterimAuditSink: AuditSink {
    private let handle: Mutex<FileHandle>
    private let count = Mutex<UInt64>(0)

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw PortcullisError(.storage, "cannot open \(path)") }
        h.seekToEndOfFile()
        handle = Mutex(h)
    }

    func append(_ event: AuditEvent) async throws -> UInt64 {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = try encoder.encode(event)
        data.append(0x0A)
        try handle.withLock { h in
            try h.write(contentsOf: data)
            try h.synchronize()
        }
        return count.withLock { c in
            defer { c += 1 }
            return c
        }
    }
}
