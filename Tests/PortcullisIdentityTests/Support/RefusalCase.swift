import Testing

/// One crafted input that a verifier must refuse, with the reason it must give.
struct RefusalCase: Sendable, CustomTestStringConvertible {
    /// What the case attempts.
    let name: String
    /// The crafted token, proof or assertion.
    let token: String
    /// A fragment the error description must contain.
    let reason: String

    init(_ name: String, _ token: String, _ reason: String) {
        self.name = name
        self.token = token
        self.reason = reason
    }

    var testDescription: String { name }
}
