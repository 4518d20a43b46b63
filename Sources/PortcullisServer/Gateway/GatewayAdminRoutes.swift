import Cedar
import Foundation
import HTTPTypes
import Hummingbird
import PortcullisCore
import PortcullisGateway
import PortcullisEnforcement

/// Admin API for the gateway: the tool registry (list, approve, block) and the policies (status, reload).
extension AdminRoutes {
    func registerGateway(on admin: RouterGroup<PortcullisRequestContext>) {
        let gateway = services.gateway
        admin.get("/tools") { request, context in
            _ = try context.administrator()
            let tools = try await services.toolStore.tools()
            return HTTP.json(try JSONSerialization.data(withJSONObject: tools.map(toolObject), options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        // Recorded before it acts: the change is prepared (and refused if it cannot be made), the audit
        // entry is made durable, and only then is the change stored and put in force.
        admin.post("/tools/:name/approve") { request, context in
            let name = try context.parameters.require("name")
            var request = request
            let actor = try context.administrator()
            struct Body: Decodable {
                var hash: String?
                var effect: String?
            }
            let data = try await body(&request)
            let parsed = data.isEmpty ? Body() : try HTTP.jsonDecoder.decode(Body.self, from: data)
            guard let hash = parsed.hash, !hash.isEmpty else {
                throw PortcullisError(.invalidInput, "`hash` is required: the definition hash you reviewed (GET /admin/tools)")
            }
            var effect: ToolRecord.Effect?
            if let e = parsed.effect {
                guard let known = ToolRecord.Effect(rawValue: e), known != .unclassified else {
                    throw PortcullisError(.invalidInput, "`effect` must be read, write or destructive")
                }
                effect = known
            }
            let record = try await gateway.catalog.prepareApproval(name, hash: hash, effect: effect, by: actor)
            try await services.recordAdmin(actor: actor, action: "tool.approve", resource: name,
                                           reason: "definition \(record.definitionHash), effect \(record.effect.rawValue)")
            try await commit(record, actor: actor, action: "tool.approve")
            return HTTP.json(try JSONSerialization.data(withJSONObject: toolObject(record), options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        admin.post("/tools/:name/block") { request, context in
            let name = try context.parameters.require("name")
            let actor = try context.administrator()
            let record = try await gateway.catalog.prepareBlock(name, by: actor)
            try await services.recordAdmin(actor: actor, action: "tool.block", resource: name,
                                           reason: "definition \(record.definitionHash)")
            try await commit(record, actor: actor, action: "tool.block")
            return HTTP.json(try JSONSerialization.data(withJSONObject: toolObject(record), options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        admin.get("/policies") { request, context in
            _ = try context.administrator()
            return policiesResponse(gateway.policies.snapshot)
        }
        admin.post("/policies/reload") { request, context in
            let actor = try context.administrator()
            let fresh: PolicyEngine.Snapshot
            do {
                fresh = try gateway.policies.prepare()
            } catch let error as GatewayConfigurationError {
                try await services.recordAdmin(actor: actor, action: "policy.reload.failed", resource: gateway.policies.snapshot.source,
                                               reason: "reload refused, previous policies kept: \(error.description)")
                throw PortcullisError(.invalidInput, "reload failed; the previous \(gateway.policies.snapshot.count) policies stay in force: \(error.description)")
            }
            try await services.recordAdmin(actor: actor, action: "policy.reload", resource: fresh.source,
                                           reason: "\(fresh.count) policies loaded")
            gateway.policies.install(fresh)
            await services.feed.publish(.policies)
            return policiesResponse(fresh)
        }
    }

    /// Stores a recorded tool change; if the store refuses it, a `.failed` entry follows the record.
    func commit(_ record: ToolRecord, actor: String, action: String) async throws {
        do {
            try await services.gateway.catalog.commit(record)
            await services.feed.publish(.tool(record.qualifiedName))
        } catch {
            try? await services.recordAdmin(actor: actor, action: action + ".failed", resource: record.qualifiedName,
                                            reason: "the change recorded just before was not stored: \(error)")
            throw PortcullisError(.storage, "the tool registry could not store the change: \(error)")
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
        // The definition as approved, beside a changed one.
        if let d = t.pinnedDefinition?.data(using: .utf8), let def = try? JSONSerialization.jsonObject(with: d) { o["pinned_definition"] = def }
        return o
    }
}
