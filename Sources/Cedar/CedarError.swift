/// An error raised while reading Cedar input: policy text, JSON, schemas or requests.
///
/// Evaluation errors are a separate type (``EvaluationError``) because the
/// authorizer reports them per policy instead of failing the request.
public struct CedarError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of input was wrong.
    public enum Code: String, Sendable {
        case syntax
        case json
        case entities
        case request
        case schema
        case validation
    }

    /// The kind of error.
    public let code: Code
    /// A readable explanation, with line and column where known.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func invalidName(_ text: String) -> CedarError {
        CedarError(.syntax, "invalid entity type name `\(text)`")
    }
}
