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
        let missing = Schema.firstProblem(in: type.attributes) { name, attribute in
            attribute.required && entity.attributes[name] == nil
                ? "expected entity `\(uid)` to have attribute `\(name)`, but it does not" : nil
        }
        let wrong = Schema.firstProblem(in: entity.attributes) { name, value in
            guard let declared = type.attributes[name] else {
                return "attribute `\(name)` on `\(uid)` should not exist according to the schema"
            }
            return (mismatch(value, declared.type) ?? checkReferences(in: value)).map { "in attribute `\(name)` on `\(uid)`, \($0)" }
        }
        if let problem = missing ?? wrong { throw fail(problem) }
        for parent in entity.parents.sorted() {
            if let problem = checkReference(parent) { throw fail("in the parents of `\(uid)`, \(problem)") }
            guard type.allowedParents.contains(parent.type) else {
                throw fail("`\(uid)` is not allowed to have an ancestor of type `\(parent.type)` according to the schema")
            }
        }
        if let tagType = type.tags {
            let problem = Schema.firstProblem(in: entity.tags) { name, value in
                (mismatch(value, tagType) ?? checkReferences(in: value)).map { "in tag `\(name)` on `\(uid)`, \($0)" }
            }
            if let problem { throw fail(problem) }
        } else if let name = entity.tags.keys.min() {
            throw fail("found a tag `\(name)` on `\(uid)`, but no tags should exist on `\(uid)` according to the schema")
        }
    }

    /// The problem with the first entry, in key order, that has one.
    ///
    /// Valid input is the common case, so it is scanned unsorted; sorting happens only to
    /// report the same problem every time when there are several.
    static func firstProblem<V>(in entries: [CedarString: V], _ problem: (CedarString, V) -> String?) -> String? {
        guard entries.contains(where: { problem($0.key, $0.value) != nil }) else { return nil }
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            if let p = problem(key, value) { return p }
        }
        return nil
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
        // One entity alone does not show its parents' parents, so this takes them from the
        // schema; `checkActionHierarchy` compares the closure over the whole document.
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

    /// Checks the action entities of a whole entities document against the declared hierarchy.
    ///
    /// The reference compares each action entity's ancestors, computed over the document
    /// alone, with its declared ancestors: `a in [b]` without an entity for `b` does not match
    /// a schema where `b in c`. ``check(_:)`` sees one entity and cannot tell.
    ///
    /// - Throws: ``CedarError`` with code `.entities` for the first action that does not match.
    func checkActionHierarchy(_ entities: [Entity]) throws(CedarError) {
        var parentsOf: [EntityUID: Set<EntityUID>] = [:]
        for e in entities where e.uid.type.isActionType {
            parentsOf[e.uid] = e.parents
        }
        for (uid, parents) in parentsOf.sorted(by: { $0.key < $1.key }) {
            var ancestors = Set<EntityUID>()
            var stack = Array(parents)
            while let next = stack.popLast() {
                guard ancestors.insert(next).inserted else { continue }
                stack.append(contentsOf: parentsOf[next] ?? [])
            }
            guard ancestors == actions[uid]?.ancestors else {
                throw CedarError(.entities, "definition of action `\(uid)` does not match its schema declaration "
                    + "(its ancestors in the entities differ from the declared ones; to use the schema's "
                    + "definition, omit it from the entities)")
            }
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
            // Sorting (for a deterministic message) only when some element is wrong.
            let wrongItems = items.filter { mismatch($0, element) != nil }
            return wrongItems.min { $0.description < $1.description }.flatMap { mismatch($0, element) }
        case (.record(let attributes, let open), .record(let fields)):
            let declared = Schema.firstProblem(in: attributes) { name, attribute in
                if let field = fields[name] {
                    return mismatch(field, attribute.type).map { "in attribute `\(name)`, \($0)" }
                }
                return attribute.required ? "expected the record to have an attribute `\(name)`, but it does not" : nil
            }
            if let declared { return declared }
            guard !open else { return nil }
            return fields.keys.filter { attributes[$0] == nil }.min()
                .map { "record attribute `\($0)` should not exist according to the schema" }
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
            return items.compactMap { checkReferences(in: $0) }.min()
        case .record(let fields):
            return Schema.firstProblem(in: fields) { _, field in checkReferences(in: field) }
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
