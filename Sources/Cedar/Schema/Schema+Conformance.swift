/// Entity conformance, as the reference's `EntitySchemaConformanceChecker`.
extension Schema {
    /// Checks one entity against its declaration.
    ///
    /// A non-action entity must have a declared type (and, for an enumerated type, a declared
    /// id), every required attribute, no undeclared attribute, attribute and tag values of the
    /// declared types, and parents of the types its type is declared `in` (transitively).
    /// Entity references inside values must name declared actions and enumerated ids.
    /// An action entity must be declared and must agree with its declaration: no attributes
    /// or tags, and parents that, with their declared ancestors, give its declared ancestors.
    ///
    /// - Throws: ``CedarError`` with code `.entities`, naming the entity and the problem.
    func check(_ entity: Entity) throws(CedarError) {
        func fail(_ message: String) -> CedarError { CedarError(.entities, message) }
        let uid = entity.uid
        if uid.type.isActionType {
            try checkAction(entity)
            return
        }
        guard let type = entityTypes[uid.type] else {
            throw fail("entity `\(uid)` has type `\(uid.type)` which is not declared in the schema")
        }
        guard type.accepts(uid) else { throw fail(invalidChoice(uid, type)) }
        for (name, attribute) in type.attributes.sorted(by: { $0.key < $1.key }) where attribute.required {
            guard entity.attributes[name] != nil else {
                throw fail("expected entity `\(uid)` to have attribute `\(name)`, but it does not")
            }
        }
        for (name, value) in entity.attributes.sorted(by: { $0.key < $1.key }) {
            guard let declared = type.attributes[name] else {
                throw fail("attribute `\(name)` on `\(uid)` should not exist according to the schema")
            }
            if let problem = mismatch(value, declared.type) ?? checkReferences(in: value) {
                throw fail("in attribute `\(name)` on `\(uid)`, \(problem)")
            }
        }
        for parent in entity.parents.sorted() {
            if let problem = checkReference(parent) { throw fail("in the parents of `\(uid)`, \(problem)") }
            guard type.allowedParents.contains(parent.type) else {
                throw fail("`\(uid)` is not allowed to have an ancestor of type `\(parent.type)` according to the schema")
            }
        }
        if let tagType = type.tags {
            for (name, value) in entity.tags.sorted(by: { $0.key < $1.key }) {
                if let problem = mismatch(value, tagType) ?? checkReferences(in: value) {
                    throw fail("in tag `\(name)` on `\(uid)`, \(problem)")
                }
            }
        } else if let name = entity.tags.keys.min() {
            throw fail("found a tag `\(name)` on `\(uid)`, but no tags should exist on `\(uid)` according to the schema")
        }
    }

    private func checkAction(_ entity: Entity) throws(CedarError) {
        func fail(_ message: String) -> CedarError { CedarError(.entities, message) }
        let uid = entity.uid
        if let parent = entity.parents.sorted().first(where: { !$0.type.isActionType }) {
            throw fail("action `\(uid)` has a non-action parent `\(parent)`")
        }
        guard let action = actions[uid] else {
            throw fail("found action entity `\(uid)`, but it was not declared as an action in the schema")
        }
        // The reference compares the entity, with its ancestors, to the schema's action entity.
        // The parents' own ancestors come from the schema (the store adds the schema's actions),
        // so the closure is taken over the schema's hierarchy.
        var ancestors = Set<EntityUID>()
        for parent in entity.parents {
            ancestors.insert(parent)
            ancestors.formUnion(actions[parent]?.ancestors ?? [])
        }
        guard entity.attributes.isEmpty, entity.tags.isEmpty, ancestors == action.ancestors else {
            throw fail("definition of action `\(uid)` does not match its schema declaration "
                + "(to use the schema's definition, omit it from the entities)")
        }
    }

    /// Why `value` does not have type `type`, or `nil` when it does.
    func mismatch(_ value: Value, _ type: SchemaType) -> String? {
        func wrong() -> String { "expected a value of type \(type), found \(value.typeName) `\(value)`" }
        switch (type, value) {
        case (.bool, .bool), (.long, .long), (.string, .string):
            return nil
        case (.entity(let expected), .entity(let uid)):
            return uid.type == expected ? nil : wrong()
        case (.ext(let name), .ext(let x)):
            return x.typeName == name ? nil : wrong()
        case (.set(let element), .set(let items)):
            for item in items.sorted(by: { $0.description < $1.description }) {
                if let problem = mismatch(item, element) { return problem }
            }
            return nil
        case (.record(let attributes, let open), .record(let fields)):
            for (name, attribute) in attributes.sorted(by: { $0.key < $1.key }) {
                if let field = fields[name] {
                    if let problem = mismatch(field, attribute.type) { return "in attribute `\(name)`, \(problem)" }
                } else if attribute.required {
                    return "expected the record to have an attribute `\(name)`, but it does not"
                }
            }
            if !open, let extra = fields.keys.filter({ attributes[$0] == nil }).min() {
                return "record attribute `\(extra)` should not exist according to the schema"
            }
            return nil
        default:
            return wrong()
        }
    }

    /// Why an entity reference inside `value` is invalid, or `nil` when all are valid.
    func checkReferences(in value: Value) -> String? {
        switch value {
        case .entity(let uid):
            return checkReference(uid)
        case .set(let items):
            for item in items {
                if let problem = checkReferences(in: item) { return problem }
            }
            return nil
        case .record(let fields):
            for (_, field) in fields.sorted(by: { $0.key < $1.key }) {
                if let problem = checkReferences(in: field) { return problem }
            }
            return nil
        default:
            return nil
        }
    }

    /// Why a referenced uid is invalid: an undeclared action or an undeclared id of an enumerated type.
    func checkReference(_ uid: EntityUID) -> String? {
        if let type = entityTypes[uid.type], !type.accepts(uid) {
            return invalidChoice(uid, type)
        }
        if uid.type.isActionType, actions[uid] == nil {
            return "found action entity `\(uid)`, but it was not declared as an action in the schema"
        }
        return nil
    }
}
