import GRDB
import PortcullisCore

extension PortcullisError {
    /// The error to throw when a database operation fails.
    ///
    /// Errors that already carry a meaning are kept: a ``PortcullisError`` raised
    /// inside a transaction (a conflict, a missing record) and a task's
    /// `CancellationError`. Everything else (SQLite, GRDB record and decoding
    /// errors, file-system errors) becomes code `.storage` with a readable
    /// reason. SQL arguments never appear in the reason: they may hold token ids.
    ///
    /// - Parameters:
    ///   - context: What was being done, e.g. "cannot read agent agt_1".
    ///   - error: The underlying error.
    static func storageFailure(_ context: String, _ error: any Error) -> any Error {
        switch error {
        case let error as PortcullisError:
            return error
        case let error as CancellationError:
            return error
        case let error as DatabaseError:
            let message = error.message ?? "no message"
            let code = error.extendedResultCode.rawValue
            return PortcullisError(.storage, "\(context): SQLite error \(code): \(message)")
        default:
            return PortcullisError(.storage, "\(context): \(error)")
        }
    }
}
