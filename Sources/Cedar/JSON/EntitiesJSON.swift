/// Reads the Cedar entities JSON format: an array of `{uid, attrs, parents, tags}`.
public enum EntitiesJSON {
    /// Parses an entities document, optionally directed by a schema.
    ///
    /// With a schema, attribute and tag values are read at their declared types
    /// (so `"1.2.3.4"` becomes an `ipaddr` and `{"type","id"}` an entity), and
    /// the entities are checked against their declarations.
    ///
    /// - Throws: ``CedarError`` naming the offending entity and attribute.
    public static func parse(_ text: String, schema: Schema? = nil) throws(CedarError) -> Entities {
        try parse(json: JSONValue.parse(text), schema: schema)
    }

    /// Converts an already parsed entities document.
    public static func parse(json: JSONValue, schema: Schema? = nil) throws(CedarError) -> Entities {
        guard case .array(let items) = json else {
            throw CedarError(.entities, "entities JSON must be an array of entities, found \(json.kindName)")
        }
        var entities: [Entity] = []
        entities.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            entities.append(try entity(from: item, index: i, schema: schema))
        }
        if let schema {
            try schema.checkActionHierarchy(entities)
            entities.append(contentsOf: schema.actionEntities(excluding: Set(entities.map(\.uid))))
        }
        return try Entities(entities)
    }

    private static let knownFields: Set<String> = ["uid", "attrs", "parents", "tags"]

    static func entity(from json: JSONValue, index: Int, schema: Schema?) throws(CedarError) -> Entity {
        guard case .object(let members) = json else {
            throw CedarError(.entities, "entity #\(index): expected an object, found \(json.kindName)")
        }
        if let unknown = members.first(where: { !knownFields.contains($0.0) }) {
            throw CedarError(.entities, "entity #\(index): unknown field `\(unknown.0)`")
        }
        guard let uidJSON = json["uid"] else {
            throw CedarError(.entities, "entity #\(index): missing `uid`")
        }
        let uid = try ValueJSON.entityUID(from: uidJSON, path: "entity #\(index) uid")
        var parents = Set<EntityUID>()
        if let p = json["parents"] {
            guard case .array(let list) = p else {
                throw CedarError(.entities, "entity \(uid): `parents` must be an array")
            }
            for (j, item) in list.enumerated() {
                parents.insert(try ValueJSON.entityUID(from: item, path: "entity \(uid) parent #\(j)"))
            }
        }
        var attributes: [CedarString: Value] = [:]
        if let a = json["attrs"] {
            guard case .object(let fields) = a else {
                throw CedarError(.entities, "entity \(uid): `attrs` must be an object")
            }
            for (k, v) in fields {
                let path = "attribute `\(k)` of \(uid)"
                if let type = schema?.attributeType(of: uid.type, k) {
                    attributes[CedarString(k)] = try SchemaValueReader.value(from: v, type: type, schema: schema!, path: path)
                } else {
                    attributes[CedarString(k)] = try ValueJSON.value(from: v, path: path)
                }
            }
        }
        var tags: [CedarString: Value] = [:]
        if let t = json["tags"] {
            guard case .object(let fields) = t else {
                throw CedarError(.entities, "entity \(uid): `tags` must be an object")
            }
            for (k, v) in fields {
                let path = "tag `\(k)` of \(uid)"
                if let type = schema?.tagType(of: uid.type) {
                    tags[CedarString(k)] = try SchemaValueReader.value(from: v, type: type, schema: schema!, path: path)
                } else {
                    tags[CedarString(k)] = try ValueJSON.value(from: v, path: path)
                }
            }
        }
        let entity = Entity(uid: uid, attributes: attributes, parents: parents, tags: tags)
        if let schema { try schema.check(entity) }
        return entity
    }
}
