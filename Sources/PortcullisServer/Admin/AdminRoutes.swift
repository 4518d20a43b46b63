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
        let admin = router.group("/admin")
        registerGateway(on: admin)
        registerResponse(on: admin)
        admin.post("/agents") { request, _ in
            try await guarded(request) { request, actor in
                let body = try HTTP.jsonDecoder.decode(AgentRegistry.Registration.self, from: try await body(&request))
                return try agentResponse(try await registry.register(body, actor: actor), status: .created)
            }
        }
        admin.get("/agents") { request, _ in
            try await guarded(request) { request, _ in
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
        }
        admin.get("/agents/:id") { request, context in
            let id = try context.parameters.require("id")
            return try await guarded(request) { _, _ in try agentResponse(try await registry.existing(id)) }
        }
        admin.patch("/agents/:id") { request, context in
            let id = try context.parameters.require("id")
            return try await guarded(request) { request, actor in
                let body = try HTTP.jsonDecoder.decode(AgentRegistry.Update.self, from: try await body(&request))
                return try agentResponse(try await registry.update(id: id, body, actor: actor))
            }
        }
        admin.get("/agents/:id/events") { request, context in
            let id = try context.parameters.require("id")
            return try await guarded(request) { _, _ in
                _ = try await registry.existing(id)
                return try HTTP.encode(try await services.registry.agents.events(agentID: id))
            }
        }
        for transition in AgentRegistry.Transition.allCases {
            admin.post("/agents/:id/\(transition.rawValue)") { request, context in
                let id = try context.parameters.require("id")
                return try await guarded(request) { request, actor in
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
    }

    func body(_ request: inout Request) async throws -> Data {
        do {
            return try await HTTP.body(&request, limit: services.configuration.maxBodyBytes)
        } catch {
            throw PortcullisError(.invalidInput, error.description)
        }
    }

    /// Checks the admin token, runs the handler, and renders any error as JSON.
    func guarded(_ request: Request, _ handler: (inout Request, String) async throws -> Response) async throws -> Response {
        guard let bearer = HTTP.bearer(request), HTTP.constantTimeEqual(bearer, services.adminToken) else {
            var r = HTTP.json(object: ["error": "unauthorized", "reason": "admin token required (Authorization: Bearer …)"],
                              status: .unauthorized)
            r.headers[.wwwAuthenticate] = "Bearer realm=\"portcullis-admin\""
            return r
        }
        // Who acted, for the lifecycle record: a named person if the client says, else the bootstrap admin.
        let actor = request.headers[HTTPField.Name("X-Portcullis-Actor")!].map { "admin:\($0)" } ?? "admin"
        return await rendered(request, actor, handler)
    }

    /// Runs an authenticated handler and renders any error as JSON.
    func rendered(_ request: Request, _ actor: String, _ handler: (inout Request, String) async throws -> Response) async
        -> Response
    {
        var request = request
        do {
            return try await handler(&request, actor)
        } catch let e as PortcullisError {
            return HTTP.portcullisError(e)
        } catch let e as DecodingError {
            return HTTP.portcullisError(PortcullisError(.invalidInput, "malformed JSON body: \(Self.describe(e))"))
        } catch {
            return HTTP.portcullisError(PortcullisError(.internalError, "\(error)"))
        }
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let k, _): "missing field `\(k.stringValue.snakeCased)`"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            "wrong type at `\(c.codingPath.map(\.stringValue.snakeCased).joined(separator: "."))`"
        case .dataCorrupted(let c): "invalid JSON (\(c.debugDescription))"
        @unknown default: "invalid JSON"
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
