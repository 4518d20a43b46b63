/// A type in a schema, with common types already inlined.
public indirect enum SchemaType: Sendable, Hashable {
    /// `Bool`.
    case bool
    /// `Long`.
    case long
    /// `String`.
    case string
    /// An entity of exactly this type.
    case entity(EntityType)
    /// `Set<T>`.
    case set(SchemaType)
    /// A record; undeclared attributes are allowed only when `additionalAttributes` is set.
    case record([CedarString: Attribute], additionalAttributes: Bool)
    /// An extension type: `ipaddr`, `decimal`, `datetime` or `duration`.
    case ext(String)

    /// One declared attribute of a record type.
    public struct Attribute: Sendable, Hashable {
        /// The attribute's type.
        public let type: SchemaType
        /// Whether the attribute must be present (declared without `?`).
        public let required: Bool

        /// Creates an attribute declaration.
        public init(type: SchemaType, required: Bool) {
            self.type = type
            self.required = required
        }
    }

    /// The names of the extension types, which are also the types' names in a schema.
    static let extensionTypeNames: Set<String> = ["ipaddr", "decimal", "datetime", "duration"]

    /// The constructor that builds a value of an extension type from a string.
    var constructor: ExtensionFunction? {
        switch self {
        case .ext("ipaddr"): .ip
        case .ext("decimal"): .decimal
        case .ext("datetime"): .datetime
        case .ext("duration"): .duration
        default: nil
        }
    }

    /// The declared argument and result types of an extension function.
    ///
    /// Schema-directed JSON reads each `__extn` argument at its declared type, so that
    /// `{"fn": "offset", "args": ["2024-01-01", "1h"]}` needs no nested escapes.
    static func signature(of f: ExtensionFunction) -> (arguments: [SchemaType], result: SchemaType) {
        let decimal = SchemaType.ext("decimal"), ipaddr = SchemaType.ext("ipaddr")
        let datetime = SchemaType.ext("datetime"), duration = SchemaType.ext("duration")
        switch f {
        case .decimal: return ([.string], decimal)
        case .ip: return ([.string], ipaddr)
        case .datetime: return ([.string], datetime)
        case .duration: return ([.string], duration)
        case .lessThan, .lessThanOrEqual, .greaterThan, .greaterThanOrEqual: return ([decimal, decimal], .bool)
        case .isIpv4, .isIpv6, .isLoopback, .isMulticast: return ([ipaddr], .bool)
        case .isInRange: return ([ipaddr, ipaddr], .bool)
        case .offset: return ([datetime, duration], datetime)
        case .durationSince: return ([datetime, datetime], duration)
        case .toDate: return ([datetime], datetime)
        case .toTime: return ([datetime], duration)
        case .toMilliseconds, .toSeconds, .toMinutes, .toHours, .toDays: return ([duration], .long)
        }
    }
}

extension SchemaType: CustomStringConvertible {
    /// Renders the type in `.cedarschema` syntax.
    public var description: String {
        switch self {
        case .bool: return "Bool"
        case .long: return "Long"
        case .string: return "String"
        case .entity(let t): return t.description
        case .set(let t): return "Set<\(t)>"
        case .ext(let name): return name
        case .record(let attributes, let open):
            var parts = attributes.sorted { $0.key < $1.key }.map { key, attribute in
                let name = Lexer.isValidIdentifier(Substring(key.string)) ? key.string : Lexer.quote(key.string)
                return "\(name)\(attribute.required ? "" : "?"): \(attribute.type)"
            }
            if open { parts.append("..") }
            return parts.isEmpty ? "{}" : "{ " + parts.joined(separator: ", ") + " }"
        }
    }
}
