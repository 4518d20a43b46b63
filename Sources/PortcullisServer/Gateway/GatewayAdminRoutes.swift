import Cedar
import Foundation
import HTTPTypes
import Hummingbird
import PortcullisCore
import PortcullisGateway

/// Admin API for the gateway: the tool registry (list, approve, block) and the policies (status, reload).
extension AdminRoutes {
    func registerGateway(on admin: RouterGroup<PortcullisRequestContext>) {
        let gateway = services.gateway
        admin.get("/tools") { request, _ in
            try await guarded(request) { _, _ in
                let tools = try await services.toolStore.tools()
                return HTTP.json(try JSONSerialization.data(withJSONObject: tools.map(toolObject), options: [.sortedKeys, .withoutEscapingSlashes]))
            }
        }
        for (verb, act) in [("approve", true), ("block", false)] {
            admin.post("/tools/:name/\(verb)") { request, context in
                let name = try context.parameters.require("name")
                return try await guarded(request) { _, actor in
                    let record = act ? try await gateway.catalog.approve(name, by: actor)
                                     : try await gateway.catalog.block(name, by: actor)
                    try await services.recordAdmin(actor: actor, action: "tool.\(verb)", resource: name,
                                                   reason: "definition \(record.definitionHash.prefix(16))…")
                    return HTTP.json(try JSONSerialization.data(withJSONObject: toolObject(record), options: [.sortedKeys, .withoutEscapingSlashes]))
                }
            }
        }
        admin.get("/policies") { request, _ in
            try await guarded(request) { _, _ in policiesResponse(gateway.policies.snapshot) }
        }
        admin.post("/policies/reload") { request, _ in
            try await guarded(request) { _, actor in
                do {
                    let snapshot = try gateway.policies.reload()
                    try await services.recordAdmin(actor: actor, action: "policy.reload", resource: snapshot.source,
                                                   reason: "\(snapshot.count) policies loaded")
                    return policiesResponse(snapshot)
                } catch let e as GatewayConfigurationError {
                    try await services.recordAdmin(actor: actor, action: "policy.reload", resource: gateway.policies.snapshot.source,
                                                   reason: "reload failed, previous policies kept: \(e.description)")
                    throw PortcullisError(.invalidInput, "reload failed; the previous \(gateway.policies.snapshot.count) policies stay in force: \(e.description)")
                }
            }
        }
    }

    func policiesResponse(_ s: PolicyEngine.Snapshot) -> Response {
        HTTP.json(object: [
            "source": s.source, "count": s.count, "loaded_at": ISO8601DateFormatter().string(from: s.loadedAt),
            "policies": s.policies.policies.map { p -> [String: Any] in
                var o: [String: Any] = ["id": p.id, "effect": p.effect.rawValue]
                if let r = p.annotation("reason") { o["reason"] = r }
                if let ob = p.annotation("obligation") { o["obligation"] = ob }
                return o
            },
        ])
    }

    func toolObject(_ t: ToolRecord) -> [String: Any] {
        var o: [String: Any] = [
            "name": t.qualifiedName, "upstream": t.upstream, "tool": t.name, "status": t.status.rawValue,
            "callable": t.isCallable, "effect": t.effect.rawValue, "risk": t.risk, "data_class": t.dataClass,
            "tags": t.tags, "findings": t.findings, "definition_hash": t.definitionHash,
            "first_seen_at": ISO8601DateFormatter().string(from: t.firstSeenAt),
            "updated_at": ISO8601DateFormatter().string(from: t.updatedAt),
        ]
        o["pinned_hash"] = t.pinnedHash
        o["approved_by"] = t.approvedBy
        o["approved_at"] = t.approvedAt.map { ISO8601DateFormatter().string(from: $0) }
        if let d = t.definition.data(using: .utf8), let def = try? JSONSerialization.jsonObject(with: d) { o["definition"] = def }
        return o
    }
}
