/// A Cedar value: the result of evaluating an expression.
public indirect enum Value: Sendable, Hashable {
    case bool(Bool)
    case long(Int64)
    case string(CedarString)
    case entity(EntityUID)
    case set(Set<Value>)
    case record([CedarString: Value])
    case ext(ExtensionValue)

    /// Convenience for a string value.
    public static func string(_ s: String) -> Value { .string(CedarString(s)) }

    /// The name of this value's type, for error messages.
    public var typeName: String {
        switch self {
        case .bool: "bool"
        case .long: "long"
        case .string: "string"
        case .entity(let uid): "(entity of type `\(uid.type)`)"
        case .set: "set"
        case .record: "record"
        case .ext(let x): x.typeName
        }
    }
}

/// A value of one of Cedar's extension types.
public enum ExtensionValue: Sendable, Hashable {
    case decimal(CedarDecimal)
    case ipaddr(IPAddress)
    case datetime(CedarDatetime)
    case duration(CedarDuration)

    /// The Cedar name of the extension type.
    public var typeName: String {
        switch self {
        case .decimal: "decimal"
        case .ipaddr: "ipaddr"
        case .datetime: "datetime"
        case .duration: "duration"
        }
    }
}

extension Value: CustomStringConvertible {
    /// Renders the value in Cedar expression syntax.
    public var description: String {
        switch self {
        case .bool(let b): return b ? "true" : "false"
        case .long(let i): return String(i)
        case .string(let s): return Lexer.quote(s.string)
        case .entity(let uid): return uid.description
        case .set(let s): return "[" + s.map(\.description).sorted().joined(separator: ", ") + "]"
        case .record(let r):
            return "{" + r.sorted { $0.key < $1.key }.map { "\(Lexer.quote($0.key.string)): \($0.value)" }
                .joined(separator: ", ") + "}"
        case .ext(let x):
            switch x {
            case .decimal(let d): return "decimal(\"\(d)\")"
            case .ipaddr(let ip): return "ip(\"\(ip)\")"
            case .datetime(let d): return "datetime(\"\(d)\")"
            case .duration(let d): return "duration(\"\(d)\")"
            }
        }
    }
}
