public import Cedar
public import PortcullisCore

/// Cedar's JSON values and the core's, converted directly (the audit record of every call needs them: going through
/// Foundation's coders would cost more than deciding the call).
extension JSONAny {
    /// A number that is a 64-bit integer stays one; other numbers become doubles (a number neither can hold, text).
    public init(_ v: JSONValue) {
        switch v {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let text):
            if let n = Int64(text) { self = .int(n) } else if let d = Double(text), d.isFinite { self = .double(d) } else { self = .string(text) }
        case .string(let s): self = .string(s)
        case .array(let items): self = .array(items.map(JSONAny.init))
        case .object(let members):
            var out: [String: JSONAny] = [:]
            for (k, m) in members { out[k] = JSONAny(m) }
            self = .object(out)
        }
    }
}

extension JSONValue {
    public init(_ a: JSONAny) {
        switch a {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let n): self = .number(String(n))
        case .double(let d): self = d.isFinite ? .number("\(d)") : .null
        case .string(let s): self = .string(s)
        case .array(let items): self = .array(items.map(JSONValue.init))
        case .object(let members): self = .object(members.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) })
        }
    }
}
