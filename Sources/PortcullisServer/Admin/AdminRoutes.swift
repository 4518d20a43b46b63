import Foundation
import HTTPTypes
import Hummingbird
import PortcullisCore
import PortcullisGateway
import PortcullisIdentity

/// The admin API: agent registration and lifecycle, authenticated with the admin token.
struct AdminRoutes: Sendable {
    let services: PortcullisApplication.Services

    var registry: AgentRegistry { services.registry }

    func register(on router: Router<PortcullisRequestContext>) {
        // Errors render themselves; who is calling is established once, before any handler runs.
        let admin = router.group("/admin")
            .add(middleware: APIErrorMiddleware())
            .add(middleware: AdminAuthenticator(adminToken: services.adminToken, approvers: services.approvalStore))
        registerGateway(on: admin)
        registerVault(on: admin)
        registerResponse(on: admin)
        registerGovernance(on: admin)
        admin.post("/agents") { request, context in
            var request = request
            let actor = try context.administrator()
            let body = try HTTP.jsonDecoder.decode(AgentRegistry.Registration.self, from: try await body(&request))
            return try agentResponse(try await registry.register(body, actor: actor), status: .created)
        }
        admin.get("/agents") { request, context in
            _ = try context.administrator()
            var status: AgentStatus?
            if let s = request.uri.queryParameters["status"].map(String.init) {
                guard let parsed = AgentStatus(rawValue: s) else {
                    throw PortcullisError(.invalidInput, "unknown status `\(s)`")
                }
                status = parsed
            }
            let list = try await services.registry.agents.agents(status: status)
            let objects = try list.map { try agentObject($0) }
            return HTTP.json(try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        admin.get("/agents/:id") { request, context in
            let id = try context.parameters.require("id")
            _ = try context.administrator()
            return try agentResponse(try await registry.existing(id))
        }
        admin.patch("/agents/:id") { request, context in
            let id = try context.parameters.require("id")
            var request = request
            let actor = try context.administrator()
            let body = try HTTP.jsonDecoder.decode(AgentRegistry.Update.self, from: try await body(&request))
            return try agentResponse(try await registry.update(id: id, body, actor: actor))
        }
        admin.get("/agents/:id/events") { request, context in
            let id = try context.parameters.require("id")
            _ = try context.administrator()
            _ = try await registry.existing(id)
            return try HTTP.encode(try await services.registry.agents.events(agentID: id))
        }
        for transition in AgentRegistry.Transition.allCases {
            admin.post("/agents/:id/\(transition.rawValue)") { request, context in
                let id = try context.parameters.require("id")
                var request = request
                let actor = try context.administrator()
                struct Body: Decodable { var reason: String? }
                let data = try await body(&request)
                let reason = data.isEmpty ? nil : try HTTP.jsonDecoder.decode(Body.self, from: data).reason
                switch transition {
                case .kill:
                    _ = try await services.kill(.agent(id), actor: actor, reason: reason ?? "")
                    return try agentResponse(try await registry.existing(id))
                case .resume:
                    return try agentResponse(try await services.resume(id: id, actor: actor, reason: reason ?? ""))
                default:
                    let agent = try await registry.transition(id: id, transition, actor: actor, reason: reason ?? "")
                    // A person's suspension acts at once, like the automatic one: sessions closed, calls in flight cancelled.
                    if !agent.status.canAuthenticate { _ = services.gateway.disconnect([id]) }
                    return try agentResponse(agent)
                }
            }
        }
    }

    func body(_ request: inout Request) async throws -> Data {
        do {
            return try await HTTP.body(&request, limit: services.configuration.maxBodyBytes)
        } catch {
            throw PortcullisError(.invalidInput, error.description)
        }
    }

    func agentObject(_ a: Agent) throws -> [String: Any] {
        var object = try JSONSerialization.jsonObject(with: HTTP.jsonEncoder.encode(a)) as? [String: Any] ?? [:]
        object["client_id"] = a.clientID
        return object
    }

    func agentResponse(_ a: Agent, status: HTTPResponse.Status = .ok) throws -> Response {
        HTTP.json(try JSONSerialization.data(withJSONObject: try agentObject(a), options: [.sortedKeys, .withoutEscapingSlashes]),
                  status: status)
    }
}

extension String {
    var snakeCased: String {
        var out = ""
        for c in self {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }
}
