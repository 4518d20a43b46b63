import Foundation
import PortcullisCore

/// The core's atomic, durable file replacement, with the audit log's error type.
enum DurableFile {
    static func replace(_ path: String, with contents: String, mode: mode_t = 0o644) throws {
        do {
            try PortcullisCore.DurableFile.replace(path, with: contents, mode: UInt32(mode))
        } catch {
            throw AuditError(.storage, error.reason)
        }
    }
}
