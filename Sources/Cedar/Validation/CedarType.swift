/// The types of Cedar's strict validation, as in the Lean specification (`Cedar/Validation/Types.lean`): booleans
/// carry whether they are known to be `true` or `false`, records whether each attribute is required.
indirect enum CedarType: Sendable, Hashable, CustomStringConvertible {
    enum BoolType: Sendable, Hashable {
        case anyBool, tt, ff
    }

    struct Qualified: Sendable, Hashable {
        var type: CedarType
        var required: Bool
    }

    case bool(BoolType)
    case long
    case string
    case entity(EntityType)
    case set(CedarType)
    case record([CedarString: Qualified])
    /// A record that may carry attributes it does not declare (`@additionalAttributes` in a schema): one of those
    /// is read only after `has`, and its type is ``unknown``.
    case openRecord([CedarString: Qualified])
    case ext(String)
    /// An undeclared attribute of an open record: any operator takes it, and nothing about it is checked.
    case unknown

    /// The validation type of a schema type.
    init(_ type: SchemaType) {
        switch type {
        case .bool: self = .bool(.anyBool)
        case .long: self = .long
        case .string: self = .string
        case .entity(let t): self = .entity(t)
        case .set(let t): self = .set(CedarType(t))
        case .record(let attributes, let open):
            let declared = attributes.mapValues { Qualified(type: CedarType($0.type), required: $0.required) }
            self = open ? .openRecord(declared) : .record(declared)
        case .ext(let name): self = .ext(name)
        }
    }

    var isBool: Bool {
        if case .bool = self { return true }
        return false
    }

    /// A boolean's refinement; `unknown` counts as any boolean. Nil for other types.
    var boolType: BoolType? {
        switch self {
        case .bool(let b): return b
        case .unknown: return .anyBool
        default: return nil
        }
    }

    /// The least upper bound of two types in strict mode: the same shape, booleans joined, records with the same
    /// attributes equally qualified; nil when there is none (two entity types never join).
    static func lub(_ a: CedarType, _ b: CedarType) -> CedarType? {
        switch (a, b) {
        case (.unknown, _), (_, .unknown): return .unknown
        case (.bool(let x), .bool(let y)): return .bool(x == y ? x : .anyBool)
        case (.long, .long), (.string, .string): return a
        case (.entity(let x), .entity(let y)): return x == y ? a : nil
        case (.ext(let x), .ext(let y)): return x == y ? a : nil
        case (.set(let x), .set(let y)): return lub(x, y).map { .set($0) }
        case (.openRecord(let x), .openRecord(let y)):
            guard case .record(let joined)? = lub(.record(x), .record(y)) else { return nil }
            return .openRecord(joined)
        case (.record(let x), .record(let y)):
            guard Set(x.keys) == Set(y.keys) else { return nil }
            var out: [CedarString: Qualified] = [:]
            for (key, qx) in x {
                guard let qy = y[key], qx.required == qy.required, let t = lub(qx.type, qy.type) else { return nil }
                out[key] = Qualified(type: t, required: qx.required)
            }
            return .record(out)
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .bool(.anyBool): return "Bool"
        case .bool(.tt): return "Bool (true)"
        case .bool(.ff): return "Bool (false)"
        case .long: return "Long"
        case .string: return "String"
        case .entity(let t): return "`\(t)`"
        case .set(let t): return "Set<\(t)>"
        case .ext(let name): return name
        case .unknown: return "an undeclared attribute's value"
        case .openRecord(let attributes):
            return CedarType.record(attributes).description.dropLast() + (attributes.isEmpty ? ".." : ", ..") + "}"
        case .record(let attributes):
            let parts = attributes.sorted { $0.key < $1.key }.map { "\($0.key.string)\($0.value.required ? "" : "?"): \($0.value.type)" }
            return "{" + parts.joined(separator: ", ") + "}"
        }
    }
}
