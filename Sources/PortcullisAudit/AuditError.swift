/// An audit-log error with a stable code and a human reason.
///
/// Any error thrown by ``AuditLog/append(_:)`` means the event was not recorded; callers fail closed.
public struct AuditError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable, matchable error codes.
    public enum Code: String, Sendable {
        /// The database could not be read or written.
        case storage
        /// A key, note, checkpoint or stored entry is not in the expected format.
        case malformed
        /// A signature could not be made.
        case signing
        /// A request names entries or tree sizes the log does not have.
        case outOfRange = "out_of_range"
        /// The log is closed.
        case closed
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }
}
