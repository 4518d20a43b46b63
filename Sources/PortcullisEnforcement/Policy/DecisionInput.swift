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

    /// The record's form, in Cedar's JSON (``CedarJSONWriter`` reads it back): `{request, entities, decision}`, the
    /// context's `arguments` replaced by what the audit log keeps of them (`kept`: after DLP redaction, when
    /// `auditArguments` is on), or by `{}` with `"arguments": "withheld"`.
    ///
    /// Built straight into the core's JSON, sets in a cheap stable order: it is on every call's path.
    public func recorded(arguments kept: JSONAny?) -> JSONAny {
        var context = request.context
        context["arguments"] = kept.map { CedarMapping.cedarValue(JSONValue($0)) } ?? .record([:])
        var out: [String: JSONAny] = [
            "request": .object(["principal": Self.uid(request.principal), "action": Self.uid(request.action),
                                "resource": Self.uid(request.resource), "context": Self.json(.record(context))]),
            "entities": .array(entities.all.sorted { $0.uid < $1.uid }.map { e in
                var members: [String: JSONAny] = ["uid": Self.uid(e.uid), "attrs": Self.json(.record(e.attributes)),
                                                  "parents": .array(e.parents.sorted().map(Self.uid))]
                if !e.tags.isEmpty { members["tags"] = Self.json(.record(e.tags)) }
                return .object(members)
            }),
            "decision": .string(verdict.rawValue),
        ]
        if kept == nil { out["arguments"] = .string("withheld") }
        return .object(out)
    }

    static func uid(_ u: EntityUID) -> JSONAny { .object(["type": .string(u.type.description), "id": .string(u.id.string)]) }

    static func json(_ value: Value) -> JSONAny {
        switch value {
        case .bool(let b): return .bool(b)
        case .long(let n): return .int(n)
        case .string(let s): return .string(s.string)
        case .entity(let u): return .object(["__entity": uid(u)])
        case .set(let items): return .array(items.sorted(by: Self.before).map(json))
        case .record(let members):
            var out: [String: JSONAny] = [:]
            for (k, v) in members { out[k.string] = json(v) }
            return .object(out)
        case .ext:
            guard case .object(let members) = CedarJSONWriter.json(value) else { return .null }
            return JSONAny(JSONValue.object(members))
        }
    }

    /// A total order on values that compares strings, numbers and uids directly (sorting by rendered text would cost
    /// more than the rest of the record).
    static func before(_ a: Value, _ b: Value) -> Bool {
        func rank(_ v: Value) -> Int {
            switch v {
            case .bool: 0
            case .long: 1
            case .string: 2
            case .entity: 3
            case .set: 4
            case .record: 5
            case .ext: 6
            }
        }
        switch (a, b) {
        case (.bool(let x), .bool(let y)): return !x && y
        case (.long(let x), .long(let y)): return x < y
        case (.string(let x), .string(let y)): return x < y
        case (.entity(let x), .entity(let y)): return x < y
        default: return rank(a) != rank(b) ? rank(a) < rank(b) : a.description < b.description
        }
    }
}
