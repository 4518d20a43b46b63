/// An authorization request: who wants to do what to which resource, in what context.
public struct Request: Sendable {
    public var principal: EntityUID
    public var action: EntityUID
    public var resource: EntityUID
    public var context: [CedarString: Value]

    /// Creates a request.
    public init(principal: EntityUID, action: EntityUID, resource: EntityUID, context: [CedarString: Value] = [:]) {
        self.principal = principal
        self.action = action
        self.resource = resource
        self.context = context
    }
}
