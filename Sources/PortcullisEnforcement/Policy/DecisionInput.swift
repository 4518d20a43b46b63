public import Cedar
public import PortcullisCore

/// What a decision was made on: the Cedar request and entities, and the policies' verdict. Kept in each decision
/// record so that `portcullis policy replay` can decide the call again against other policies.
public struct DecisionInput: Sendable {
    public let request: Request
    public let entities: Entities
    public let verdict: AuditEvent.Decision

    public init(request: Request, entities: Entities, verdict: AuditEvent.Decision) {
        self.request = request
        self.entities = entities
        self.verdict = verdict
    }

    /// The record's form, in Cedar's JSON (``CedarJSONWriter``, read back by `RequestJSON` and `EntitiesJSON`):
    /// `{request, entities, decision}`, the context's `arguments` replaced by what the audit log keeps of them
    /// (`kept`: after DLP redaction, when `auditArguments` is on), or by `{}` with `"arguments": "withheld"`.
    public func recorded(arguments kept: JSONAny?) -> JSONAny {
        var context = request.context
        context["arguments"] = kept.map { CedarMapping.cedarValue(JSONValue($0)) } ?? .record([:])
        let recorded = Request(principal: request.principal, action: request.action, resource: request.resource, context: context)
        var members: [(String, JSONValue)] = [("request", CedarJSONWriter.json(recorded)),
                                              ("entities", CedarJSONWriter.json(entities.all)),
                                              ("decision", .string(verdict.rawValue))]
        if kept == nil { members.append(("arguments", .string("withheld"))) }
        return JSONAny(JSONValue.object(members))
    }
}
