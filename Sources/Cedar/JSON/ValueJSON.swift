/// Reads Cedar values from the JSON format shared by entities, context and requests.
///
/// Implements the escapes of the reference implementation: `{"__entity": {"type", "id"}}`,
/// `{"__extn": {"fn", "arg"}}` and the multi-argument `{"__extn": {"fn", "args": […]}}`.
/// When a schema supplies the expected type, ``SchemaValueReader`` handles the value instead.
public enum ValueJSON {
    /// Converts JSON into a Cedar value without a schema.
    ///
    /// - Parameter path: where the value sits, for error messages (e.g. `attribute "age" of User::"a"`).
    public static func value(from json: JSONValue, path: String) throws(CedarError) -> Value {
        switch json {
        case .null:
            throw CedarError(.entities, "\(path): null is not a Cedar value")
        case .bool(let b):
            return .bool(b)
        case .number(let text):
            guard let i = Int64(text) else {
                throw CedarError(.entities, "\(path): `\(text)` is not a 64-bit integer (Cedar has no fractions)")
            }
            return .long(i)
        case .string(let s):
            return .string(CedarString(s))
        case .array(let items):
            var set = Set<Value>()
            for (i, item) in items.enumerated() {
                set.insert(try value(from: item, path: "\(path)[\(i)]"))
            }
            return .set(set)
        case .object(let members):
            if members.count == 1 {
                let (key, inner) = members[0]
                if key == "__entity", case .object(let fields) = inner, fields.count >= 2,
                   case .string = inner["type"], case .string = inner["id"] {
                    return .entity(try entityUID(from: inner, path: path))
                }
                if key == "__extn", case .object(let fields) = inner, fields.count >= 2,
                   case .string(let fn) = inner["fn"] {
                    if let arg = inner["arg"] {
                        return try extensionCall(fn, [try value(from: arg, path: "\(path).__extn.arg")], path: path)
                    }
                    if case .array(let args) = inner["args"] {
                        var values: [Value] = []
                        for (i, a) in args.enumerated() {
                            values.append(try value(from: a, path: "\(path).__extn.args[\(i)]"))
                        }
                        return try extensionCall(fn, values, path: path)
                    }
                }
                if key == "__expr" {
                    throw CedarError(.entities, "\(path): the `__expr` escape is no longer supported")
                }
            }
            var record: [CedarString: Value] = [:]
            for (k, v) in members {
                record[CedarString(k)] = try value(from: v, path: "\(path).\(k)")
            }
            return .record(record)
        }
    }

    /// Applies an extension function named in an `__extn` escape.
    static func extensionCall(_ name: String, _ args: [Value], path: String) throws(CedarError) -> Value {
        guard let f = ExtensionFunction(rawValue: name) else {
            throw CedarError(.entities, "\(path): unknown extension function `\(name)`")
        }
        do {
            return try Evaluator.callExtension(f, args)
        } catch {
            throw CedarError(.entities, "\(path): \(error.message)")
        }
    }

    /// Reads an entity uid written as `{"type": …, "id": …}` or `{"__entity": {…}}`.
    public static func entityUID(from json: JSONValue, path: String) throws(CedarError) -> EntityUID {
        var obj = json
        if let inner = json["__entity"] { obj = inner }
        guard case .object = obj, case .string(let type)? = obj["type"], case .string(let id)? = obj["id"] else {
            throw CedarError(.entities, "\(path): expected an entity uid `{\"type\": …, \"id\": …}`, found \(json.kindName)")
        }
        guard Lexer.isValidName(type) else {
            throw CedarError(.entities, "\(path): `\(type)` is not a valid entity type name")
        }
        return EntityUID(type: EntityType(type), id: CedarString(id))
    }
}
