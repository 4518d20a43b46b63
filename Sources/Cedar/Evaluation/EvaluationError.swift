/// An error during evaluation. The authorizer skips the policy and reports its id.
public struct EvaluationError: Error, Sendable, CustomStringConvertible {
    /// The error categories of the Cedar specification.
    public enum Kind: String, Sendable {
        case entityDoesNotExist
        case attrDoesNotExist
        case tagDoesNotExist
        case typeError
        case arithBoundsError
        case extensionError
    }

    /// The category.
    public let kind: Kind
    /// A readable explanation.
    public let message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func type(_ expected: String, _ got: Value) -> EvaluationError {
        EvaluationError(.typeError, "type error: expected \(expected), got \(got.typeName)")
    }
}
