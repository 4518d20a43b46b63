/// An action declared in a schema, with its names resolved and common types inlined.
struct SchemaAction: Sendable {
    /// The action's uid, e.g. `NS::Action::"view"`.
    let uid: EntityUID
    /// The action groups it is declared `in`.
    let parents: Set<EntityUID>
    /// The transitive closure of `parents`.
    let ancestors: Set<EntityUID>
    /// The principal types it applies to, in declaration order (empty without `appliesTo`).
    let principals: [EntityType]
    /// The resource types it applies to, in declaration order (empty without `appliesTo`).
    let resources: [EntityType]
    /// The context's record type (an empty record when none is declared).
    let context: SchemaType
}
