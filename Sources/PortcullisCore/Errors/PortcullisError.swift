import Foundation

/// An error with a stable code and a human reason; mapped to HTTP/OAuth at the edge.
public struct PortcullisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable, matchable error codes.
    public enum Code: String, Sendable {
        case notFound = "not_found"
        case conflict
        /// A compare-and-set found the record changed since it was read: read it again and retry.
        case concurrentUpdate = "concurrent_update"
        case invalidInput = "invalid_input"
        case unauthorized
        case forbidden
        case storage
        case configuration
        case internalError = "internal_error"
    }

    public let code: Code
    public let reason: String

    /// Refuses an empty or blank reason for an action that must state why.
    public static func requireReason(_ reason: String) throws(PortcullisError) {
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw PortcullisError(.invalidInput, "a reason is required")
        }
    }

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }
}
