import Foundation

/// What the HTTP gateway knows about a request beyond what every call has: the endpoint it matched and the
/// request's parts, as policies see them (`Endpoint` entity, `context.method`, `context.pathParameters`,
/// `context.query`). docs/http-gateway.md describes the model.
public struct HTTPRequestFacts: Sendable, Equatable {
    /// `GET`, `POST`, …
    public var method: String
    /// The matched path template (`/tickets/{id}`), or the literal path for an upstream without operations.
    public var pathTemplate: String
    /// The OpenAPI or configured `operationId`, if the endpoint has one.
    public var operationID: String?
    /// The upstream's data class: `public`, `internal`, `confidential` or `restricted`.
    public var dataClass: String
    /// Values of the template's parameters (`{"id": "42"}`).
    public var pathParameters: [String: String]
    /// The query string's parameters; a repeated name keeps its last value (all values are scanned by DLP).
    public var query: [String: String]

    public init(method: String, pathTemplate: String, operationID: String?, dataClass: String,
                pathParameters: [String: String], query: [String: String]) {
        self.method = method
        self.pathTemplate = pathTemplate
        self.operationID = operationID
        self.dataClass = dataClass
        self.pathParameters = pathParameters
        self.query = query
    }

    /// The endpoint's name in the audit log and in Cedar: `<upstream>:<METHOD> <template>`.
    public func endpointName(upstream: String) -> String { "\(upstream):\(method) \(pathTemplate)" }
}
