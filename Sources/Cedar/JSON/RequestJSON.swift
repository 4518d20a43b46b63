/// Reads authorization requests in JSON: `{principal, action, resource, context}`.
public enum RequestJSON {
    /// Reads one request object. Entity uids are `{"type": …, "id": …}` (or `__entity` escaped).
    ///
    /// With a schema, the context is read at the action's declared context type and the
    /// request is validated (principal and resource types, action declared).
    public static func request(from json: JSONValue, schema: Schema? = nil, validate: Bool = true,
                               path: String = "request") throws(CedarError) -> Request {
        guard case .object = json else {
            throw CedarError(.request, "\(path): expected an object, found \(json.kindName)")
        }
        func uid(_ key: String) throws(CedarError) -> EntityUID {
            guard let v = json[key] else { throw CedarError(.request, "\(path): missing `\(key)`") }
            do throws(CedarError) {
                return try ValueJSON.entityUID(from: v, path: "\(path).\(key)")
            } catch {
                throw CedarError(.request, error.message)
            }
        }
        let principal = try uid("principal")
        let action = try uid("action")
        let resource = try uid("resource")
        var context: [CedarString: Value] = [:]
        let contextJSON = json["context"] ?? .object([])
        guard case .object = contextJSON else {
            throw CedarError(.request, "\(path).context: expected an object, found \(contextJSON.kindName)")
        }
        do throws(CedarError) {
            if let schema, let type = schema.contextType(of: action) {
                guard case .record(let r) = try SchemaValueReader.value(from: contextJSON, type: type, schema: schema,
                                                                      path: "\(path).context") else {
                    throw CedarError(.request, "\(path).context: expected a record")
                }
                context = r
            } else {
                guard case .record(let r) = try ValueJSON.value(from: contextJSON, path: "\(path).context") else {
                    throw CedarError(.request, "\(path).context: expected a record")
                }
                context = r
            }
        } catch {
            throw CedarError(.request, error.message)
        }
        let request = Request(principal: principal, action: action, resource: resource, context: context)
        if let schema, validate { try schema.validate(request) }
        return request
    }

    /// Reads a JSON array of requests.
    public static func requests(_ text: String, schema: Schema? = nil, validate: Bool = true) throws(CedarError) -> [Request] {
        let json = try JSONValue.parse(text)
        guard case .array(let items) = json else {
            throw CedarError(.request, "requests JSON must be an array of requests, found \(json.kindName)")
        }
        var out: [Request] = []
        for (i, item) in items.enumerated() {
            out.append(try request(from: item, schema: schema, validate: validate, path: "request #\(i)"))
        }
        return out
    }
}
