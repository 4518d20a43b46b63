/// Writes Cedar values, requests and entities in the JSON format ``ValueJSON``, ``RequestJSON`` and ``EntitiesJSON``
/// read: entities as `{"__entity": {"type", "id"}}`, extension values as `{"__extn": {"fn", "arg"}}`, sets as
/// arrays (in a stable order), records as objects (keys sorted). What is written reads back to the same value.
public enum CedarJSONWriter {
    public static func json(_ value: Value) -> JSONValue {
        switch value {
        case .bool(let b): return .bool(b)
        case .long(let n): return .number(String(n))
        case .string(let s): return .string(s.string)
        case .entity(let e): return .object([("__entity", uid(e))])
        case .set(let items): return .array(items.sorted(by: before).map(json))
        case .record(let members):
            return .object(members.sorted { $0.key < $1.key }.map { ($0.key.string, json($0.value)) })
        case .ext(let x):
            let (fn, arg): (String, String) = switch x {
            case .decimal(let d): ("decimal", "\(d)")
            case .ipaddr(let ip): ("ip", "\(ip)")
            case .datetime(let d): ("datetime", "\(d)")
            case .duration(let d): ("duration", "\(d)")
            }
            return .object([("__extn", .object([("fn", .string(fn)), ("arg", .string(arg))]))])
        }
    }

    /// A total order on values for the order of sets: strings, numbers and uids compared directly (sorting by the
    /// rendered text cost more than the rest of a decision's record).
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

    public static func uid(_ uid: EntityUID) -> JSONValue {
        .object([("type", .string(uid.type.description)), ("id", .string(uid.id.string))])
    }

    /// `{principal, action, resource, context}`.
    public static func json(_ request: Request) -> JSONValue {
        .object([("principal", uid(request.principal)), ("action", uid(request.action)), ("resource", uid(request.resource)),
                 ("context", json(.record(request.context)))])
    }

    /// An array of `{uid, attrs, parents, tags}`, by uid.
    public static func json(_ entities: [Entity]) -> JSONValue {
        .array(entities.sorted { $0.uid < $1.uid }.map { e in
            var members: [(String, JSONValue)] = [("uid", uid(e.uid)), ("attrs", json(.record(e.attributes))),
                                                  ("parents", .array(e.parents.sorted().map(uid)))]
            if !e.tags.isEmpty { members.append(("tags", json(.record(e.tags)))) }
            return .object(members)
        })
    }
}
