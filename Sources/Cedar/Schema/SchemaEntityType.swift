/// An entity type declared in a schema, with its names resolved and common types inlined.
struct SchemaEntityType: Sendable {
    /// The fully qualified type name.
    let name: EntityType
    /// The declared attributes (the entity's shape).
    let attributes: [CedarString: SchemaType.Attribute]
    /// The type of every tag, or `nil` when the type declares no tags.
    let tags: SchemaType?
    /// For an enumerated type (`entity E enum ["a", "b"]`), the only valid ids, in declaration order.
    let choices: [CedarString]?
    /// The types an entity of this type may have as parents: the transitive closure of `in [...]`.
    let allowedParents: Set<EntityType>

    /// Whether `uid` (of this type) names one of the declared choices, or the type is not an enumeration.
    func accepts(_ uid: EntityUID) -> Bool {
        choices?.contains(uid.id) ?? true
    }
}
