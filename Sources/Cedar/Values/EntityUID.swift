/// The name of an entity type, possibly namespaced (`Namespace::Type`).
public struct EntityType: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The fully qualified name, with `::` between components.
    public let name: CedarString

    /// Creates an entity type from its fully qualified name, without validation.
    public init(_ name: String) {
        self.name = CedarString(name)
    }

    /// Creates an entity type from its fully qualified name, without validation.
    public init(name: CedarString) {
        self.name = name
    }

    /// Parses and validates a fully qualified type name such as `A::B`.
    ///
    /// - Throws: ``CedarError`` when a component is not a valid identifier.
    public init(parsing text: String) throws(CedarError) {
        guard Lexer.isValidName(text) else {
            throw CedarError.invalidName(text)
        }
        self.init(text)
    }

    public var description: String { name.string }

    /// Whether this is an action type (`Action` or `Namespace::Action`).
    public var isActionType: Bool {
        let s = name.string
        return s == "Action" || s.hasSuffix("::Action")
    }

    public static func < (lhs: EntityType, rhs: EntityType) -> Bool { lhs.name < rhs.name }
}

/// The unique identifier of an entity: its type and its id.
public struct EntityUID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The entity's type.
    public let type: EntityType
    /// The entity's id within its type.
    public let id: CedarString

    /// Creates an entity uid.
    public init(type: EntityType, id: CedarString) {
        self.type = type
        self.id = id
    }

    /// Creates an entity uid from a type name and an id.
    public init(_ type: String, _ id: String) {
        self.type = EntityType(type)
        self.id = CedarString(id)
    }

    /// Renders the uid in Cedar syntax, e.g. `User::"alice"`.
    public var description: String { "\(type)::\(Lexer.quote(id.string))" }

    public static func < (lhs: EntityUID, rhs: EntityUID) -> Bool {
        lhs.type < rhs.type || (lhs.type == rhs.type && lhs.id < rhs.id)
    }
}
