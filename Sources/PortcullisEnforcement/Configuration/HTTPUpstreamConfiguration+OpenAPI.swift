import Cedar
import Foundation
import PortcullisCore

/// Operations from an OpenAPI 3 document (kept apart from the configuration type, which the configuration fuzzer
/// compiles without the Cedar module).
extension HTTPUpstreamConfiguration {
    /// The operations declared in the configuration and, if any, in the OpenAPI document (read once).
    public func resolvedOperations() throws(GatewayConfigurationError) -> [Operation]? {
        var all = operations ?? []
        if let openAPI {
            guard let data = FileManager.default.contents(atPath: openAPI) else {
                throw GatewayConfigurationError("http upstream `\(name)`: cannot read the OpenAPI document \(openAPI)")
            }
            all += try Self.operations(openAPI: data, source: openAPI, upstream: name)
        }
        guard operations != nil || openAPI != nil else { return nil }
        return all.map { op in
            var op = op
            if let id = op.operationId, let effect = operationEffects?[id] { op.effect = effect }
            return op
        }
    }

    /// The operations of an OpenAPI 3 document in JSON (`paths` → method → `operationId`, `tags`).
    static func operations(openAPI data: Data, source: String, upstream: String) throws(GatewayConfigurationError)
        -> [Operation]
    {
        guard let document = try? JSONValue.parse(bytes: [UInt8](data)) else {
            throw GatewayConfigurationError("http upstream `\(upstream)`: \(source) is not JSON (OpenAPI documents are read in JSON; convert YAML with any YAML tool)")
        }
        guard document["openapi"]?.stringValue?.hasPrefix("3.") == true, case .object(let paths)? = document["paths"] else {
            throw GatewayConfigurationError("http upstream `\(upstream)`: \(source) is not an OpenAPI 3 document with `paths`")
        }
        var out: [Operation] = []
        for (path, item) in paths {
            guard case .object(let members) = item else { continue }
            for (method, operation) in members where methods.contains(method.uppercased()) {
                var tags: [String]?
                if case .array(let items)? = operation["tags"] { tags = items.compactMap { $0.stringValue } }
                out.append(Operation(method: method.uppercased(), path: path,
                                     operationId: operation["operationId"]?.stringValue, tags: tags))
            }
        }
        return out
    }

}
