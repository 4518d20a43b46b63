// PLACEHOLDER interface, being replaced by the schema implementation (helper task).
/// A Cedar schema.
public struct Schema: Sendable {
    /// Parses the human-readable `.cedarschema` format.
    public init(parsing text: String) throws(CedarError) {
        throw CedarError(.schema, "schema support is not implemented yet")
    }

    func attributeType(of type: EntityType, _ attribute: String) -> SchemaType? { nil }
    func tagType(of type: EntityType) -> SchemaType? { nil }
    func contextType(of action: EntityUID) -> SchemaType? { nil }
    func actionEntities(excluding: Set<EntityUID>) -> [Entity] { [] }
    func check(_ entity: Entity) throws(CedarError) {}
    func validate(_ request: Request) throws(CedarError) {}
}

/// A type in a schema.
public indirect enum SchemaType: Sendable {
    case bool, long, string
    case entity(EntityType)
    case set(SchemaType)
    case record([String: (type: SchemaType, required: Bool)], additionalAttributes: Bool)
    case ext(String)
}

enum SchemaValueReader {
    static func value(from json: JSONValue, type: SchemaType, schema: Schema, path: String) throws(CedarError) -> Value {
        try ValueJSON.value(from: json, path: path)
    }
}
