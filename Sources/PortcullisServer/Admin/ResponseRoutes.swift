import Foundation
import HTTPTypes
import Hummingbird
import PortcullisCore
import PortcullisGateway
import PortcullisEnforcement

/// Admin API for issue #6 (docs/response.md): approvers, approvals, the kill switch, alerts, risk and
/// the automatic response, and the testing clock.
extension AdminRoutes {
    func registerResponse(on admin: RouterGroup<PortcullisRequestContext>) {
        let gateway = services.gateway
        admin.post("/kill") { request, context in
            var request = request
            let actor = try context.administrator()
            struct Body: Decodable { var agent: String?; var owner: String?; var all: Bool?; var reason: String? }
            let b = try HTTP.jsonDecoder.decode(Body.self, from: try await body(&request))
            let targets = [b.agent != nil, b.owner != nil, b.all == true].filter { $0 }.count
            guard targets == 1 else {
                throw PortcullisError(.invalidInput, "name exactly one of `agent`, `owner` or `all: true`")
            }
            let target: PortcullisApplication.Services.KillTarget =
                if let a = b.agent { .agent(a) } else if let o = b.owner { .owner(o) } else { .all }
            let r = try await services.kill(target, actor: actor, reason: b.reason ?? "")
            return HTTP.json(object: ["killed": r.killed, "already_stopped": r.alreadyStopped,
                                      "sessions_closed": r.sessionsClosed, "calls_cancelled": r.callsCancelled,
                                      "took_ms": r.tookMs])
        }
        admin.get("/alerts") { request, context in
            _ = try context.administrator()
            let agent = request.uri.queryParameters["agent"].map(String.init)
            let limit = try Self.limit(request)
            let alerts = try await services.monitorStore.alerts(agentID: agent, limit: limit)
            return try Self.list(alerts.map(\.jsonObject))
        }
        admin.get("/agents/:id/risk") { request, context in
            let id = try context.parameters.require("id")
            _ = try context.administrator()
            _ = try await registry.existing(id)
            let risk = gateway.monitor.risk(id)
            var object: [String: Any] = ["agent": id, "score": risk.score, "response": risk.response.rawValue]
            if let b = try await gateway.monitor.baseline(id) {
                object["baseline"] = try JSONSerialization.jsonObject(with: HTTP.jsonEncoder.encode(b))
            }
            return HTTP.json(object: object)
        }
        admin.post("/agents/:id/clear-taint") { request, context in
            let id = try context.parameters.require("id")
            let actor = try context.administrator()
            let reason = try await requiredReason(request)
            _ = try await registry.existing(id)
            let sources = gateway.pipeline.taint.entries(agentID: id, now: Date()).flatMap(\.entry.sources)
            // Recorded before it acts: an unrecorded clearing does not happen.
            try await services.recordAdmin(actor: actor, action: "agent.clear-taint", resource: id,
                                           reason: "\(reason) (sources: \(sources.isEmpty ? "none" : sources.joined(separator: ", ")))")
            let cleared = gateway.pipeline.taint.clear(agentID: id)
            return HTTP.json(object: ["agent": id, "cleared": cleared, "sources": sources])
        }
        admin.post("/agents/:id/clear-response") { request, context in
            let id = try context.parameters.require("id")
            let actor = try context.administrator()
            let reason = try await requiredReason(request)
            _ = try await registry.existing(id)
            let state = try await gateway.monitor.clear(agentID: id, actor: actor, reason: reason)
            return HTTP.json(object: ["agent": id, "score": 0, "response": state.response.rawValue])
        }

        // Approvers: managed with the admin token.
        admin.post("/approvers") { request, context in
            var request = request
            let actor = try context.administrator()
            struct Body: Decodable { var name: String; var role: String? }
            let b = try HTTP.jsonDecoder.decode(Body.self, from: try await body(&request))
            let name = b.name.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.count <= 128, !name.contains(where: { $0.isNewline || $0 == "\"" }) else {
                throw PortcullisError(.invalidInput, "an approver name must be 1-128 characters without quotes or newlines")
            }
            guard name.lowercased() != ConsoleState.operatorName else {
                throw PortcullisError(.invalidInput, "`\(ConsoleState.operatorName)` is reserved for the holder of the data directory (the sign-in link `portcullis serve` logs)")
            }
            guard let role = Approver.Role(rawValue: b.role ?? "approver") else {
                throw PortcullisError(.invalidInput, "`role` must be approver or administrator")
            }
            let token = "pca_" + Hex.random(24)
            try await services.recordAdmin(actor: actor, action: role == .approver ? "approver.add" : "administrator.add",
                                           resource: name, reason: "\(role.rawValue) added")
            try await services.approvalStore.saveApprover(Approver(name: name, tokenDigest: AdminAuthenticator.digest(token),
                                                                   createdAt: Date(), createdBy: actor, role: role))
            var r = HTTP.json(object: ["name": name, "token": token, "role": role.rawValue,
                                       "signin_link": try services.console.signInLink(name: name, role: role)], status: .created)
            r.status = .created
            return r
        }
        admin.get("/approvers") { request, context in
            _ = try context.administrator()
            let list = try await services.approvalStore.approvers()
            return try Self.list(list.map { ["name": $0.name, "role": $0.role.rawValue, "created_at": Self.iso($0.createdAt),
                                             "created_by": $0.createdBy] })
        }
        admin.delete("/approvers/:name") { request, context in
            let name = try context.parameters.require("name")
            let actor = try context.administrator()
            try await services.recordAdmin(actor: actor, action: "approver.remove", resource: name, reason: "approver removed")
            guard try await services.approvalStore.removeApprover(name: name) else {
                throw PortcullisError(.notFound, "no approver `\(name)`")
            }
            return HTTP.json(object: ["removed": name])
        }

        // Approvals: read with the admin or an approver token; decided only by approvers.
        admin.get("/approvals") { request, context in
            _ = try context.approvalReader()
            var status: Approval.Status?
            if let s = request.uri.queryParameters["status"].map(String.init) {
                guard let parsed = Approval.Status(rawValue: s) else { throw PortcullisError(.invalidInput, "unknown status `\(s)`") }
                status = parsed
            }
            let agent = request.uri.queryParameters["agent"].map(String.init)
            let list = try await gateway.approvals.list(status: status, agentID: agent, limit: try Self.limit(request))
            return try Self.list(try list.map(Self.approvalObject))
        }
        admin.get("/approvals/:id") { request, context in
            let id = try context.parameters.require("id")
            _ = try context.approvalReader()
            guard let a = try await gateway.approvals.approval(id: id) else { throw PortcullisError(.notFound, "no approval `\(id)`") }
            return HTTP.json(try JSONSerialization.data(withJSONObject: try Self.approvalObject(a), options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        for (verb, approve) in [("approve", true), ("deny", false)] {
            admin.post("/approvals/:id/\(verb)") { request, context in
                let id = try context.parameters.require("id")
                var request = request
                let approver = try context.approver()
                struct Body: Decodable { var reason: String? }
                let data = try await body(&request)
                let reason = data.isEmpty ? "" : try HTTP.jsonDecoder.decode(Body.self, from: data).reason ?? ""
                guard let a = try await gateway.approvals.approval(id: id) else {
                    throw PortcullisError(.notFound, "no approval `\(id)`")
                }
                let decision = gateway.authorizeApprover(approver, approval: a, approve: approve)
                guard decision.allowed else {
                    try? await services.recordAdmin(actor: "approver:\(approver)", action: "approval.\(verb).refused",
                                                    resource: id, reason: decision.summary)
                    throw PortcullisError(.forbidden, "`\(approver)` may not \(verb) \(id): \(decision.summary)")
                }
                let decided = try await gateway.approvals.decide(id: id, approve: approve, approver: approver, reason: reason)
                await services.feed.publish(.approval(id))
                return HTTP.json(try JSONSerialization.data(withJSONObject: try Self.approvalObject(decided),
                                                            options: [.sortedKeys, .withoutEscapingSlashes]))
            }
        }

        // The testing clock (only with `testing.manualClock`).
        admin.get("/clock") { request, context in
            _ = try context.administrator()
            guard let clock = services.manualClock else { throw PortcullisError(.notFound, "no manual clock (testing.manualClock)") }
            return HTTP.json(object: ["now": Self.iso(clock.now)])
        }
        admin.post("/clock") { request, context in
            var request = request
            _ = try context.administrator()
            guard let clock = services.manualClock else { throw PortcullisError(.notFound, "no manual clock (testing.manualClock)") }
            struct Body: Decodable { var set: String?; var advanceSeconds: Double? }
            let b = try HTTP.jsonDecoder.decode(Body.self, from: try await body(&request))
            if let s = b.set {
                guard let d = ManualClock.parse(s) else { throw PortcullisError(.invalidInput, "`set` must be ISO 8601") }
                clock.set(d)
            }
            if let n = b.advanceSeconds { clock.advance(n) }
            return HTTP.json(object: ["now": Self.iso(clock.now)])
        }
    }

    /// The `reason` of a JSON body `{"reason": …}`; refuses a missing or blank one.
    func requiredReason(_ request: Request) async throws -> String {
        struct Body: Decodable { var reason: String? }
        var request = request
        let data = try await body(&request)
        let reason = data.isEmpty ? "" : try HTTP.jsonDecoder.decode(Body.self, from: data).reason ?? ""
        try PortcullisError.requireReason(reason)
        return reason
    }

    static func iso(_ d: Date) -> String { d.formatted(.iso8601) }

    static func limit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters["limit"] else { return 100 }
        guard let n = Int(text), (1...10_000).contains(n) else { throw PortcullisError(.invalidInput, "limit must be 1-10000") }
        return n
    }

    static func list(_ objects: [[String: Any]]) throws -> Response {
        HTTP.json(try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    static func approvalObject(_ a: Approval) throws -> [String: Any] {
        var o = try JSONSerialization.jsonObject(with: HTTP.jsonEncoder.encode(a)) as? [String: Any] ?? [:]
        o["agent"] = a.agentID
        o.removeValue(forKey: "reported")
        return o
    }

}
