import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PortcullisCore

/// Authenticates the admin API: the admin token, or a named approver's token. Puts the identity in
/// the request context; what each route then requires is a one-line check
/// (``PortcullisRequestContext/administrator()``, ``PortcullisRequestContext/approver()``).
/// A request with no valid token never reaches a handler.
struct AdminAuthenticator: RouterMiddleware {
    typealias Context = PortcullisRequestContext

    let adminToken: String
    let approvers: any ApprovalStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        guard let bearer = HTTP.bearer(request) else {
            throw PortcullisError(.unauthorized, "admin token required (Authorization: Bearer …)")
        }
        if HTTP.constantTimeEqual(bearer, adminToken) {
            // Who acted, for the records: a named person if the client says, else the bootstrap admin.
            let actor = request.headers[HTTPField.Name("X-Portcullis-Actor")!].map { "admin:\($0)" } ?? "admin"
            context.identity = .administrator(actor: actor)
        } else {
            // A store failure propagates as a storage error: no identity is assumed (fail closed).
            guard let approver = try await approvers.approver(tokenDigest: Self.digest(bearer)) else {
                throw PortcullisError(.unauthorized, "unknown token: use the admin token or an approver token")
            }
            context.identity = approver.role == .administrator ? .namedAdministrator(name: approver.name) : .approver(name: approver.name)
        }
        return try await next(request, context)
    }

    static func digest(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Array(token.utf8)))
    }
}
