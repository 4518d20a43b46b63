/// Turns a parsed `.cedarschema` tree into a ``Schema`` the way the reference does.
///
/// The reference converts the Cedar syntax to its JSON schema form and then builds a
/// validator schema (`to_json_schema.rs`, `validator/schema.rs`, `namespace_def.rs`,
/// `raw_name.rs`). The observable rules, kept here in the same order:
/// 1. declarations are qualified with their namespace; duplicates and reserved names are errors;
/// 2. a name declared outside any namespace may not share its basename with one declared
///    inside a namespace (RFC 70);
/// 3. `Bool`, `Long`, `String` and the extension types live in `__cedar` and are aliased
///    into the empty namespace unless a declaration there takes the name;
/// 4. an unqualified reference `X` in namespace `N` tries the common type `N::X`, the entity
///    type `N::X`, then the common type `X` and the entity type `X`;
/// 5. common types are inlined (cycles are errors), contexts must be records, parents and
///    `appliesTo` types must be declared entity types, and the action hierarchy is acyclic.
struct SchemaBuilder {
    private typealias Syntax = SchemaSyntax

    /// A type whose names are resolved but whose common types are not inlined yet.
    private indirect enum Resolved {
        case primitive(SchemaType)
        case entity(EntityType)
        case set(Resolved)
        case record([(name: CedarString, type: Resolved, required: Bool)])
        case common(String)
    }

    private enum CommonBody {
        case builtin(SchemaType)
        case alias(String)
        case declared(Syntax.TypeExpr, namespace: String?)
    }

    private struct EntityEntry {
        let namespace: String?
        let name: String
        let decl: Syntax.EntityDecl
        let position: Syntax.Position
    }

    private struct ActionEntry {
        let namespace: String?
        let uid: EntityUID
        let decl: Syntax.ActionDecl
        let position: Syntax.Position
    }

    /// The primitive and extension types, declared in `__cedar`.
    private static let builtins: [(String, SchemaType)] = [
        ("Bool", .bool), ("Long", .long), ("String", .string),
        ("ipaddr", .ext("ipaddr")), ("decimal", .ext("decimal")),
        ("datetime", .ext("datetime")), ("duration", .ext("duration")),
    ]

    /// Names a common type may not have (they are keywords of the JSON schema format).
    private static let reservedCommonTypeNames: Set<String> = [
        "Bool", "Boolean", "Entity", "Extension", "Long", "Record", "Set", "String",
    ]

    private var entityEntries: [EntityEntry] = []
    private var declaredEntityTypes: Set<String> = []
    private var actionEntries: [ActionEntry] = []
    private var declaredActions: Set<EntityUID> = []
    private var commonOrder: [String] = []
    private var commons: [String: CommonBody] = [:]
    private var commonPositions: [String: Syntax.Position] = [:]
    /// Declared entity types plus the action types (`Action`, `NS::Action`), which attribute
    /// types may name.
    private var entityTypeNames: Set<String> = []

    private var resolvedCommons: [String: Resolved] = [:]
    private var inlinedCommons: [String: SchemaType] = [:]
    /// Common types annotated `@additionalAttributes`.
    private var openCommons = Set<String>()
    private var commonsInProgress: Set<String> = []

    /// Builds a schema from the parsed namespaces.
    static func build(_ namespaces: [SchemaSyntax.Namespace]) throws(CedarError) -> Schema {
        var builder = SchemaBuilder()
        try builder.collect(namespaces)
        try builder.checkShadowing()
        builder.addBuiltins()
        return try builder.assemble()
    }

    private func error(_ position: Syntax.Position?, _ message: String) -> CedarError {
        CedarError(.schema, position.map { "\($0): \(message)" } ?? message)
    }

    private static func qualify(_ namespace: String?, _ name: String) -> String {
        namespace.map { "\($0)::\(name)" } ?? name
    }

    // MARK: - Declarations

    private mutating func collect(_ namespaces: [Syntax.Namespace]) throws(CedarError) {
        // Declarations outside any namespace form one unnamed namespace, after the named ones.
        var all = namespaces.filter { $0.path != nil }
        let loose = namespaces.filter { $0.path == nil }.flatMap(\.declarations)
        if !loose.isEmpty { all.append(Syntax.Namespace(path: nil, declarations: loose)) }

        var namespaceNames = Set<String>()
        for namespace in all {
            let ns = namespace.path?.description
            if let path = namespace.path {
                guard !path.components.contains("__cedar") else {
                    throw error(path.position, "use of the reserved `__cedar` namespace in `\(path)`")
                }
                guard namespaceNames.insert(path.description).inserted else {
                    throw error(path.position, "duplicate namespace id: `\(path)`")
                }
            }
            var entityNames = Set<String>(), actionNames = Set<CedarString>(), typeNames = Set<String>()
            for declaration in namespace.declarations {
                switch declaration {
                case .entity(let decl):
                    for name in decl.names {
                        guard name.text != "__cedar" else {
                            throw error(name.position, "use of the reserved `__cedar` namespace")
                        }
                        guard entityNames.insert(name.text).inserted else {
                            throw error(name.position, "`\(name.text)` is declared twice")
                        }
                        guard name.text != "Action" else {
                            throw error(name.position, "`Action` cannot be declared as an entity type; declare actions with `action`")
                        }
                        let qualified = SchemaBuilder.qualify(ns, name.text)
                        entityEntries.append(EntityEntry(namespace: ns, name: qualified, decl: decl, position: name.position))
                        declaredEntityTypes.insert(qualified)
                    }
                case .action(let decl):
                    for name in decl.names {
                        guard actionNames.insert(CedarString(name.text)).inserted else {
                            throw error(name.position, "action \(Lexer.quote(name.text)) is declared twice")
                        }
                        let uid = EntityUID(type: EntityType(SchemaBuilder.qualify(ns, "Action")), id: CedarString(name.text))
                        actionEntries.append(ActionEntry(namespace: ns, uid: uid, decl: decl, position: name.position))
                        declaredActions.insert(uid)
                    }
                case .type(let decl):
                    let name = decl.name
                    guard name.text != "__cedar" else {
                        throw error(name.position, "use of the reserved `__cedar` namespace")
                    }
                    guard !SchemaBuilder.reservedCommonTypeNames.contains(name.text) else {
                        throw error(name.position, "this uses a reserved schema keyword: `\(name.text)`")
                    }
                    guard typeNames.insert(name.text).inserted else {
                        throw error(name.position, "`\(name.text)` is declared twice")
                    }
                    let qualified = SchemaBuilder.qualify(ns, name.text)
                    commonOrder.append(qualified)
                    commons[qualified] = .declared(decl.type, namespace: ns)
                    if decl.open { openCommons.insert(qualified) }
                    commonPositions[qualified] = name.position
                }
            }
        }
    }

    /// RFC 70: a declaration in the empty namespace may not be shadowed by one in a namespace.
    private func checkShadowing() throws(CedarError) {
        let declared = entityEntries.map { ($0.name, $0.position) } + commonOrder.map { ($0, commonPositions[$0]!) }
        var qualifiedByBasename: [Substring: (name: String, position: Syntax.Position)] = [:]
        for (name, position) in declared {
            let components = name.split(separator: "::", omittingEmptySubsequences: false)
            if components.count > 1, qualifiedByBasename[components.last!] == nil {
                qualifiedByBasename[components.last!] = (name, position)
            }
        }
        for (name, _) in declared where !name.contains("::") {
            if let shadowing = qualifiedByBasename[Substring(name)] {
                throw error(shadowing.position, "definition of `\(shadowing.name)` illegally shadows the existing definition of `\(name)`")
            }
        }
        var qualifiedActions: [CedarString: ActionEntry] = [:]
        for entry in actionEntries where entry.namespace != nil && qualifiedActions[entry.uid.id] == nil {
            qualifiedActions[entry.uid.id] = entry
        }
        for entry in actionEntries where entry.namespace == nil {
            if let shadowing = qualifiedActions[entry.uid.id] {
                throw error(shadowing.position, "definition of `\(shadowing.uid)` illegally shadows the existing definition of `\(entry.uid)`")
            }
        }
    }

    private mutating func addBuiltins() {
        for (name, type) in SchemaBuilder.builtins {
            commons["__cedar::\(name)"] = .builtin(type)
            if !declaredEntityTypes.contains(name), commons[name] == nil {
                commons[name] = .alias("__cedar::\(name)")
            }
        }
        entityTypeNames = declaredEntityTypes
        for entry in actionEntries {
            entityTypeNames.insert(entry.uid.type.name.string)
        }
    }

    // MARK: - Name resolution

    private enum ReferenceKind: String {
        case common = "a common type"
        case entity = "an entity type"
        case commonOrEntity = "a common or entity type"
    }

    /// The fully qualified names an unqualified reference may mean, in priority order.
    private static func candidates(_ path: Syntax.Path, in namespace: String?) -> [String] {
        let name = path.description
        if path.components.count == 1, let namespace { return ["\(namespace)::\(name)", name] }
        return [name]
    }

    private func resolve(_ path: Syntax.Path, in namespace: String?, as kind: ReferenceKind) throws(CedarError) -> Resolved {
        let candidates = SchemaBuilder.candidates(path, in: namespace)
        for candidate in candidates {
            if kind != .entity, commons[candidate] != nil { return .common(candidate) }
            if kind != .common, entityTypeNames.contains(candidate) { return .entity(EntityType(candidate)) }
        }
        let help = candidates.count == 1
            ? "`\(candidates[0])` has not been declared as \(kind.rawValue)"
            : "neither `\(candidates[0])` nor `\(candidates[1])` refers to anything that has been declared as \(kind.rawValue)"
        throw error(path.position, "failed to resolve type: `\(path)` (\(help))")
    }

    private func resolve(_ type: Syntax.TypeExpr, in namespace: String?) throws(CedarError) -> Resolved {
        switch type {
        case .path(let path):
            return try resolve(path, in: namespace, as: .commonOrEntity)
        case .set(let element):
            return .set(try resolve(element, in: namespace))
        case .record(let attributes):
            // A repeated attribute keeps its last declaration; the reference's map drops the
            // earlier ones before resolving names, so their types are never looked at.
            var last: [CedarString: Int] = [:]
            for (i, a) in attributes.enumerated() { last[CedarString(a.name.text)] = i }
            var fields: [(name: CedarString, type: Resolved, required: Bool)] = []
            for (i, a) in attributes.enumerated() where last[CedarString(a.name.text)] == i {
                fields.append((CedarString(a.name.text), try resolve(a.type, in: namespace), a.required))
            }
            return .record(fields)
        }
    }

    /// Resolves a reference that must name a declared entity type: action types do not qualify.
    private func resolveEntityType(_ path: Syntax.Path, in namespace: String?) throws(CedarError) -> EntityType {
        guard case .entity(let type) = try resolve(path, in: namespace, as: .entity),
              declaredEntityTypes.contains(type.name.string) else {
            throw error(path.position, "undeclared entity type: `\(path)` (an action type cannot be used here)")
        }
        return type
    }

    private func resolveAction(_ ref: Syntax.ActionRef, in namespace: String?) throws(CedarError) -> EntityUID {
        let typePath = ref.type ?? Syntax.Path(components: ["Action"], position: ref.position)
        let candidates = SchemaBuilder.candidates(typePath, in: namespace)
        for candidate in candidates {
            let uid = EntityUID(type: EntityType(candidate), id: CedarString(ref.id))
            if declaredActions.contains(uid) { return uid }
        }
        let written = EntityUID(type: EntityType(typePath.description), id: CedarString(ref.id))
        throw error(ref.position, "undeclared action: `\(written)` is not declared as an action")
    }

    // MARK: - Inlining

    private mutating func inline(_ type: Resolved) throws(CedarError) -> SchemaType {
        switch type {
        case .primitive(let t):
            return t
        case .entity(let t):
            return .entity(t)
        case .set(let element):
            return .set(try inline(element))
        case .record(let fields):
            var attributes: [CedarString: SchemaType.Attribute] = [:]
            for f in fields {
                attributes[f.name] = SchemaType.Attribute(type: try inline(f.type), required: f.required)
            }
            return .record(attributes, additionalAttributes: false)
        case .common(let name):
            return try commonType(name)
        }
    }

    private mutating func commonType(_ name: String) throws(CedarError) -> SchemaType {
        if let done = inlinedCommons[name] { return done }
        guard commonsInProgress.insert(name).inserted else {
            throw error(commonPositions[name], "cycle in common type references containing `\(name)`")
        }
        var type = try inline(resolvedCommons[name]!)
        if openCommons.contains(name), case .record(let attributes, _) = type {
            type = .record(attributes, additionalAttributes: true)
        }
        commonsInProgress.remove(name)
        inlinedCommons[name] = type
        return type
    }

    // MARK: - Assembly

    private mutating func assemble() throws(CedarError) -> Schema {
        // Resolve every reference first, so unknown names are reported before cycles.
        for (name, body) in commons {
            switch body {
            case .builtin(let t): resolvedCommons[name] = .primitive(t)
            case .alias(let target): resolvedCommons[name] = .common(target)
            case .declared: break
            }
        }
        for name in commonOrder {
            guard case .declared(let type, let ns) = commons[name] else { continue }
            resolvedCommons[name] = try resolve(type, in: ns)
        }
        var shapes: [Resolved] = []
        var tagTypes: [Resolved?] = []
        var memberOf: [EntityType: [EntityType]] = [:]
        for entry in entityEntries {
            let type = EntityType(entry.name)
            switch entry.decl.kind {
            case .standard(let parents, let attributes, let tags):
                var parentTypes: [EntityType] = []
                for p in parents {
                    parentTypes.append(try resolveEntityType(p, in: entry.namespace))
                }
                memberOf[type] = parentTypes
                shapes.append(try resolve(.record(attributes), in: entry.namespace))
                tagTypes.append(try tags.map { t throws(CedarError) in try resolve(t, in: entry.namespace) })
            case .enumeration:
                memberOf[type] = []
                shapes.append(.record([]))
                tagTypes.append(nil)
            }
        }
        var actionParents: [EntityUID: [EntityUID]] = [:]
        var contexts: [Resolved] = []
        var appliesTo: [(principals: [EntityType], resources: [EntityType])] = []
        for entry in actionEntries {
            var parents: [EntityUID] = []
            for ref in entry.decl.parents {
                parents.append(try resolveAction(ref, in: entry.namespace))
            }
            actionParents[entry.uid] = parents
            var principals: [EntityType] = [], resources: [EntityType] = []
            var context = Resolved.record([])
            if let spec = entry.decl.appliesTo {
                for p in spec.principals {
                    principals.append(try resolveEntityType(p, in: entry.namespace))
                }
                for r in spec.resources {
                    resources.append(try resolveEntityType(r, in: entry.namespace))
                }
                switch spec.context {
                case .path(let path)?: context = try resolve(path, in: entry.namespace, as: .common)
                case .record(let attributes)?: context = try resolve(.record(attributes), in: entry.namespace)
                case nil: break
                }
            }
            contexts.append(context)
            appliesTo.append((principals, resources))
        }

        // Inline every common type, used or not, so that any cycle is reported.
        for name in commonOrder {
            _ = try commonType(name)
        }

        var entityTypes: [EntityType: SchemaEntityType] = [:]
        for (i, entry) in entityEntries.enumerated() {
            let type = EntityType(entry.name)
            guard case .record(let attributes, _) = try inline(shapes[i]) else {
                preconditionFailure("an entity shape is a record")
            }
            var choices: [CedarString]?
            if case .enumeration(let ids) = entry.decl.kind { choices = ids.map { CedarString($0) } }
            entityTypes[type] = SchemaEntityType(
                name: type, attributes: attributes, tags: try tagTypes[i].map { t throws(CedarError) in try inline(t) },
                choices: choices, allowedParents: SchemaBuilder.closure(of: type, edges: memberOf))
        }

        var actions: [EntityUID: SchemaAction] = [:]
        for (i, entry) in actionEntries.enumerated() {
            let context = try inline(contexts[i])
            guard case .record = context else {
                throw error(entry.position, "context for action `\(entry.uid)` is declared with a type other than a record: `\(context)`")
            }
            let ancestors = SchemaBuilder.closure(of: entry.uid, edges: actionParents)
            guard !ancestors.contains(entry.uid) else {
                throw error(entry.position, "cycle in action hierarchy containing `\(entry.uid)`")
            }
            actions[entry.uid] = SchemaAction(
                uid: entry.uid, parents: Set(actionParents[entry.uid] ?? []), ancestors: ancestors,
                principals: appliesTo[i].principals, resources: appliesTo[i].resources, context: context)
        }
        return Schema(entityTypes: entityTypes, actions: actions)
    }

    /// Everything reachable from `start` along `edges` (including `start` only through a cycle).
    private static func closure<T: Hashable>(of start: T, edges: [T: [T]]) -> Set<T> {
        var seen = Set<T>()
        var stack = edges[start] ?? []
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            stack.append(contentsOf: edges[next] ?? [])
        }
        return seen
    }
}
