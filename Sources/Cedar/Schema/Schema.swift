/// A Cedar schema: the entity types and actions an application declares.
///
/// With a schema, entity and context JSON are read at their declared types
/// (``SchemaValueReader``), entities are checked against their declarations
/// (``check(_:)``), the schema's action entities join the entity store
/// (``actionEntities(excluding:)``) and requests are validated (``validate(_:)``).
public struct Schema: Sendable {
    /// The declared entity types, by fully qualified name.
    let entityTypes: [EntityType: SchemaEntityType]
    /// The declared actions, by uid.
    let actions: [EntityUID: SchemaAction]

    init(entityTypes: [EntityType: SchemaEntityType], actions: [EntityUID: SchemaAction]) {
        self.entityTypes = entityTypes
        self.actions = actions
    }

    /// Parses the human-readable `.cedarschema` format.
    ///
    /// - Throws: ``CedarError`` with code `.schema`; syntax errors and most declaration
    ///   errors name the line and column.
    public init(parsing text: String) throws(CedarError) {
        self = try SchemaBuilder.build(try SchemaParser.parse(text))
    }

    /// The declared type of an attribute of an entity type, if both are declared.
    func attributeType(of type: EntityType, _ attribute: String) -> SchemaType? {
        entityTypes[type]?.attributes[CedarString(attribute)]?.type
    }

    /// The type of an entity type's tags, if the type declares tags.
    func tagType(of type: EntityType) -> SchemaType? {
        entityTypes[type]?.tags
    }

    /// The record type of an action's context, if the action is declared.
    func contextType(of action: EntityUID) -> SchemaType? {
        actions[action]?.context
    }

    /// The declared actions as entities, minus those in `excluding`.
    ///
    /// Each action's parents are all its ancestors, as in the reference's entity store.
    func actionEntities(excluding: Set<EntityUID>) -> [Entity] {
        actions.values.filter { !excluding.contains($0.uid) }.map { Entity(uid: $0.uid, parents: $0.ancestors) }
    }

    /// Checks a request as the reference's `Request::new` does with a schema.
    ///
    /// The principal and resource types must be declared, the action declared and applicable
    /// to them, and the context must conform to the action's context type.
    ///
    /// - Throws: ``CedarError`` with code `.request`.
    func validate(_ request: Request) throws(CedarError) {
        func fail(_ message: String) -> CedarError { CedarError(.request, message) }
        for (role, uid) in [("principal", request.principal), ("resource", request.resource)] {
            guard let type = entityTypes[uid.type] else {
                throw fail("\(role) type `\(uid.type)` is not declared in the schema")
            }
            guard type.accepts(uid) else { throw fail(invalidChoice(uid, type)) }
        }
        guard let action = actions[request.action] else {
            throw fail("request's action `\(request.action)` is not declared in the schema")
        }
        func list(_ types: [EntityType]) -> String {
            types.isEmpty ? "none" : types.map { "`\($0)`" }.joined(separator: ", ")
        }
        guard action.principals.contains(request.principal.type) else {
            throw fail("principal type `\(request.principal.type)` is not valid for `\(action.uid)`; "
                + "valid principal types: \(list(action.principals))")
        }
        guard action.resources.contains(request.resource.type) else {
            throw fail("resource type `\(request.resource.type)` is not valid for `\(action.uid)`; "
                + "valid resource types: \(list(action.resources))")
        }
        let context = Value.record(request.context)
        if let problem = checkReferences(in: context) ?? mismatch(context, action.context) {
            throw fail("context is not valid for `\(action.uid)`: \(problem)")
        }
    }

    /// The message for an entity of an enumerated type whose id is not a declared choice.
    func invalidChoice(_ uid: EntityUID, _ type: SchemaEntityType) -> String {
        let choices = (type.choices ?? []).map { Lexer.quote($0.string) }.joined(separator: ", ")
        return "entity `\(uid)` is of an enumerated entity type, but \(Lexer.quote(uid.id.string)) "
            + "is not one of its declared choices: \(choices)"
    }
}
