import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisCore
import PortcullisEnforcement
import PortcullisGateway
import PortcullisIdentity

/// The HTTP gateway's surface: `/http/<upstream>/<path>`, each upstream an OAuth protected resource (RFC 9728
/// metadata at `/.well-known/oauth-protected-resource/http/<upstream>`, RFC 6750 bearer or RFC 9449 DPoP tokens whose
/// audience is `<issuer>/http/<upstream>`). The agent's token never goes upstream.
struct HTTPGatewayRoutes: Sendable {
    let services: PortcullisApplication.Services

    var gateway: HTTPGateway { services.httpGateway }
    var issuer: String { services.configuration.effectiveIssuer }
    /// Tokens for the HTTP gateway carry this scope.
    static let scope = "http"

    func resource(_ upstream: String) -> String { issuer + "/http/" + upstream }
    func metadataURL(_ upstream: String) -> String { issuer + "/.well-known/oauth-protected-resource/http/" + upstream }

    func register(on router: Router<PortcullisRequestContext>) {
        router.get("/.well-known/oauth-protected-resource/http/:upstream") { _, context in
            let name = try context.parameters.require("upstream")
            guard gateway.upstreamNames.contains(name) else { return Response(status: .notFound) }
            return HTTP.json(object: [
                "resource": resource(name), "authorization_servers": [issuer], "scopes_supported": [Self.scope],
                "bearer_methods_supported": ["header"], "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
                "resource_name": "Portcullis HTTP gateway: \(name)",
            ])
        }
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options, .trace]
        for method in methods {
            router.on("/http/:upstream", method: method) { request, context in try await serve(request, context) }
            router.on("/http/:upstream/**", method: method) { request, context in try await serve(request, context) }
        }
    }

    func serve(_ request: Request, _ context: PortcullisRequestContext) async throws -> Response {
        let name = try context.parameters.require("upstream")
        guard gateway.upstreamNames.contains(name) else {
            return GatewayResourceServer.response(HTTPGateway.error(404, "not_found", "no HTTP upstream named `\(Printable.clip(name, 64))`"))
        }
        // The request target as sent: an absolute-form target or a Host naming another server is refused before
        // anything else (the gateway never routes by them, and an agent relying on them is confused or probing).
        // (HTTP/1.1 keeps an absolute-form target in `path`; the scheme is set for every request.)
        if !(request.head.path ?? "").hasPrefix("/") || request.head.authority.map({ !Self.sameAuthority($0, issuer) }) != false {
            return GatewayResourceServer.response(HTTPGateway.error(400, "invalid_request", "the request target must be a path on \(issuer) (absolute-form targets and other hosts are refused)"))
        }
        let target = request.head.path ?? ""
        let prefix = "/http/" + name
        guard target.hasPrefix(prefix) else {
            return GatewayResourceServer.response(HTTPGateway.error(400, "invalid_request", "the request target is not under \(prefix)"))
        }
        let rest = target.dropFirst(prefix.count)
        let (rawPath, rawQuery): (String, String?)
        if let q = rest.firstIndex(of: "?") {
            rawPath = String(rest[..<q])
            rawQuery = String(rest[rest.index(after: q)...])
        } else {
            rawPath = String(rest)
            rawQuery = nil
        }
        guard rawPath.isEmpty || rawPath.hasPrefix("/") else {
            return GatewayResourceServer.response(HTTPGateway.error(404, "not_found", "no HTTP upstream named `\(Printable.clip(name + rawPath, 64))`"))
        }
        let caller: GatewayCaller
        do {
            caller = try await authenticate(request, context, upstream: name, target: target)
        } catch {
            gateway.pipeline.refusals.note(action: "gateway.refused", subject: context.remoteAddress?.ipAddress ?? "unknown peer",
                                           reason: "\(error.error): \(Printable.clip(error.description, 120))")
            return challenge(error, upstream: name)
        }
        var request = request
        let limit = services.configuration.gateway.httpUpstreams?.first { $0.name == name }?.effectiveMaxRequestBytes ?? 1 << 20
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch {
            return GatewayResourceServer.response(HTTPGateway.error(413, "invalid_request", "the request body is larger than \(limit) bytes"))
        }
        let headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        let answer = await gateway.handle(HTTPProxyRequest(
            method: request.method.rawValue, upstream: name, rawPath: rawPath, rawQuery: rawQuery, headers: headers,
            body: Array(buffer: body), caller: caller))
        return GatewayResourceServer.response(answer)
    }

    /// Whether a `Host` (authority) names the issuer's host and port.
    static func sameAuthority(_ authority: String, _ issuer: String) -> Bool {
        guard let url = URLComponents(string: issuer), let host = url.host else { return false }
        let port = url.port.map { ":\($0)" } ?? ""
        return authority.lowercased() == (host + port).lowercased()
    }

    func authenticate(_ request: Request, _ context: PortcullisRequestContext, upstream: String, target: String)
        async throws(OAuthError) -> GatewayCaller
    {
        let auth = try await services.tokenService.authenticateResource(
            authorization: request.headers[values: .authorization], dpopProofs: request.headers[values: .dpop],
            audiences: [resource(upstream)], method: request.method.rawValue,
            url: issuer + (target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target),
            requiredScope: Self.scope, cache: services.tokenCache)
        return GatewayResourceServer.caller(auth, request, context)
    }

    func challenge(_ e: OAuthError, upstream: String) -> Response {
        GatewayResourceServer.challenge(e, metadataURL: metadataURL(upstream), scope: Self.scope)
    }
}
