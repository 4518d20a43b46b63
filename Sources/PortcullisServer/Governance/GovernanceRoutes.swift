import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisCore

/// The admin API for governance (docs/governance.md): access reviews, owner offboarding, the overdue-review sweep
/// and the reports. Administrators only; every change is recorded under the person's name.
extension AdminRoutes {
    func registerGovernance(on admin: RouterGroup<PortcullisRequestContext>) {
        let governance = services.governance
        admin.post("/agents/:id/review") { request, context in
            let id = try context.parameters.require("id")
            var request = request
            let reviewer = try context.administrator()
            let answers = try HTTP.jsonDecoder.decode(Governance.Answers.self, from: try await body(&request))
            return try HTTP.encode(try await governance.review(agentID: id, answers, reviewer: reviewer))
        }
        admin.post("/owners/:owner/review") { request, context in
            let owner = try context.parameters.require("owner")
            var request = request
            let reviewer = try context.administrator()
            let answers = try HTTP.jsonDecoder.decode(Governance.Answers.self, from: try await body(&request))
            return try HTTP.encode(try await governance.review(owner: owner, answers, reviewer: reviewer))
        }
        admin.post("/owners/:owner/offboard") { request, context in
            let owner = try context.parameters.require("owner")
            var request = request
            let actor = try context.administrator()
            struct Body: Decodable { var reason: String?; var transferTo: String? }
            let b = try HTTP.jsonDecoder.decode(Body.self, from: try await body(&request))
            return try HTTP.encode(try await governance.offboard(owner: owner, reason: b.reason ?? "", transferTo: b.transferTo,
                                                                 actor: actor))
        }
        admin.post("/governance/sweep") { _, context in
            _ = try context.administrator()
            return try HTTP.encode(try await governance.sweep())
        }
        admin.get("/reports/:name") { request, context in
            let name = try context.parameters.require("name")
            _ = try context.administrator()
            let days = try request.uri.queryParameters["days"].map { text in
                guard let n = Int(text) else { throw PortcullisError(.invalidInput, "`days` must be a whole number") }
                return n
            } ?? 30
            let table = try await GovernanceReports(services: services).report(name, days: days)
            switch request.uri.queryParameters["format"].map(String.init) ?? "json" {
            case "json":
                return HTTP.json(try table.json())
            case "csv":
                let headers: HTTPFields = [
                    .contentType: "text/csv; charset=utf-8; header=present", .cacheControl: "no-store",
                    .contentDisposition: "attachment; filename=\"portcullis-\(name).csv\"",
                ]
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: table.csv())))
            case let other:
                throw PortcullisError(.invalidInput, "unknown format `\(other)`: json or csv")
            }
        }
    }
}
