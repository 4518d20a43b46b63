/// Reads attribute, tag and context JSON at a declared type, as the reference's
/// schema-based JSON parsing does (`cedar-policy-core/src/entities/json/value.rs`).
///
/// The declared type lets the JSON be terser than the schema-less format:
/// - at an extension type, a plain value is the constructor's argument (`"1.2.3.4"` is
///   `ip("1.2.3.4")`), `{"fn", "arg"|"args"}` needs no `__extn` wrapper, and `__extn`
///   arguments are read at the function's parameter types;
/// - at an entity type, `{"type", "id"}` needs no `__entity` wrapper.
///
/// Records must have every required attribute and, unless open, no other; every value
/// must have its declared type. Errors name the path of the offending value.
enum SchemaValueReader {
    /// Reads `json` as a value of type `type`.
    ///
    /// - Parameter path: where the value sits, for error messages.
    /// - Throws: ``CedarError`` with code `.entities`.
    static func value(from json: JSONValue, type: SchemaType, schema: Schema, path: String) throws(CedarError) -> Value {
        func fail(_ message: String) -> CedarError { CedarError(.entities, "\(path): \(message)") }
        if case .object = json, json["__expr"] != nil {
            throw fail("the `__expr` escape is no longer supported")
        }
        let value: Value
        switch type {
        case .entity:
            value = .entity(try ValueJSON.entityUID(from: json, path: path))
        case .ext:
            value = try extensionValue(from: json, type: type, schema: schema, path: path)
        case .set(let element):
            guard case .array(let items) = json else { throw mismatch(json, type, path) }
            var set = Set<Value>()
            for (i, item) in items.enumerated() {
                set.insert(try self.value(from: item, type: element, schema: schema, path: "\(path)[\(i)]"))
            }
            return .set(set)
        case .record(let attributes, let open):
            guard case .object(let members) = json else { throw mismatch(json, type, path) }
            var record: [CedarString: Value] = [:]
            for (key, member) in members {
                let name = CedarString(key)
                if let attribute = attributes[name] {
                    record[name] = try self.value(from: member, type: attribute.type, schema: schema, path: "\(path).\(key)")
                } else if open {
                    record[name] = try ValueJSON.value(from: member, path: "\(path).\(key)")
                } else {
                    throw fail("record attribute `\(key)` should not exist according to the schema")
                }
            }
            for (name, attribute) in attributes.sorted(by: { $0.key < $1.key }) where attribute.required && record[name] == nil {
                throw fail("expected the record to have an attribute `\(name)`, but it does not")
            }
            return .record(record)
        case .bool, .long, .string:
            value = try ValueJSON.value(from: json, path: path)
        }
        if let problem = schema.mismatch(value, type) ?? schema.checkReferences(in: value) {
            throw fail(problem)
        }
        return value
    }

    private static func mismatch(_ json: JSONValue, _ type: SchemaType, _ path: String) -> CedarError {
        let found = (try? ValueJSON.value(from: json, path: path)).map { "\($0.typeName) `\($0)`" } ?? json.kindName
        return CedarError(.entities, "\(path): expected a value of type \(type), found \(found)")
    }

    /// Reads a value of an extension type: an `__extn` escape (wrapped or not) or the constructor's argument.
    private static func extensionValue(from json: JSONValue, type: SchemaType, schema: Schema,
                                       path: String) throws(CedarError) -> Value {
        var call = json["__extn"]
        if call == nil, case .string? = json["fn"], json["arg"] != nil || json["args"] != nil {
            call = json
        }
        guard let call, case .string(let name)? = call["fn"] else {
            // Anything else is the argument of the type's constructor.
            let constructor = type.constructor!
            let argument = try value(from: json, type: .string, schema: schema, path: path)
            return try apply(constructor, [argument], path: path)
        }
        guard let function = ExtensionFunction(rawValue: name) else {
            throw CedarError(.entities, "\(path): unknown extension function `\(name)`")
        }
        var arguments: [JSONValue]
        if let arg = call["arg"] {
            arguments = [arg]
        } else if case .array(let args)? = call["args"] {
            arguments = args
        } else {
            throw CedarError(.entities, "\(path): `__extn` needs `arg` or an `args` array")
        }
        let signature = SchemaType.signature(of: function)
        guard arguments.count == signature.arguments.count else {
            throw CedarError(.entities, "\(path): expected \(signature.arguments.count) arguments for function "
                + "\(name) but \(arguments.count) arguments are provided")
        }
        var values: [Value] = []
        for (i, (argument, argumentType)) in zip(arguments, signature.arguments).enumerated() {
            values.append(try value(from: argument, type: argumentType, schema: schema, path: "\(path).__extn.args[\(i)]"))
        }
        return try apply(function, values, path: path)
    }

    private static func apply(_ function: ExtensionFunction, _ arguments: [Value], path: String) throws(CedarError) -> Value {
        do {
            return try Evaluator.callExtension(function, arguments)
        } catch {
            throw CedarError(.entities, "\(path): \(error.message)")
        }
    }
}
