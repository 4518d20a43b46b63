import Cedar
import Foundation
import Synchronization
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisCore
import PortcullisGateway
import PortcullisEnforcement
import PortcullisIdentity

/// The MCP gateway's HTTP surface: `/mcp` (every upstream) and `/mcp/<upstream>`, each an OAuth
/// protected resource (RFC 9728 metadata, RFC 6750/9449 authentication) in front of ``MCPGateway``.
struct MCPRoutes: Sendable {
    let services: PortcullisApplication.Services

    var gateway: MCPGateway { services.gateway }
    var issuer: String { services.configuration.effectiveIssuer }

    /// The resource identifier of `/mcp` or `/mcp/<upstream>`.
    func resource(_ scope: String?) -> String { issuer + "/mcp" + (scope.map { "/" + $0 } ?? "") }

    func metadataURL(_ scope: String?) -> String {
        issuer + "/.well-known/oauth-protected-resource/mcp" + (scope.map { "/" + $0 } ?? "")
    }

    func register(on router: Router<PortcullisRequestContext>) {
        router.get("/.well-known/oauth-protected-resource/mcp") { _, _ in metadata(nil) }
        router.get("/.well-known/oauth-protected-resource/mcp/:upstream") { _, context in
            let name = try context.parameters.require("upstream")
            guard gateway.hasUpstream(name) else { return Response(status: .notFound) }
            return metadata(name)
        }
        // Every /mcp request is authenticated before it reaches the gateway: the middleware puts the agent in the context.
        let mcp = router.group("/mcp").add(middleware: ResourceServerAuthenticator(routes: self))
        for method in [HTTPRequest.Method.post, .get, .delete] {
            mcp.on("", method: method) { request, context in try await serve(request, context, scope: nil) }
            mcp.on(":upstream", method: method) { request, context in
                try await serve(request, context, scope: try context.parameters.require("upstream"))
            }
        }
    }

    /// RFC 9728 protected resource metadata.
    func metadata(_ scope: String?) -> Response {
        HTTP.json(object: [
            "resource": resource(scope),
            "authorization_servers": [issuer],
            "scopes_supported": [gateway.configuration.effectiveRequiredScope],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
            "resource_name": scope.map { "Portcullis MCP gateway: \($0)" } ?? "Portcullis MCP gateway",
        ])
    }

    func serve(_ request: Request, _ context: PortcullisRequestContext, scope: String?) async throws -> Response {
        guard let caller = context.caller else {
            throw PortcullisError(.unauthorized, "the gateway was reached without an authenticated agent")
        }
        var request = request
        let limit = gateway.configuration.effectiveMaxMessageBytes
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch {
            let failure = RPCFailure(id: nil, code: RPCErrorCode.invalidRequest, message: "message larger than \(limit) bytes",
                                     data: .object([("reason", .string("message larger than \(limit) bytes")), ("refusal", .string("invalid"))]))
            return Response(status: .contentTooLarge, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: failure.response.serialized)))
        }
        let headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        var message = GatewayHTTPRequest(method: request.method.rawValue, scope: scope, headers: headers,
                                         body: Array(buffer: body), caller: caller)
        // Only a message asking for progress may be answered as a stream: every other one takes the direct path
        // (no task, no streams).
        guard request.method == .post, request.headers[.accept]?.contains("text/event-stream") == true,
              body.readableBytesView.firstRange(of: Self.progressToken) != nil else {
            return GatewayResourceServer.response(await gateway.handle(message))
        }
        return await Self.streamingIfNotified(&message, gateway)
    }

    static let progressToken = Array("\"progressToken\"".utf8)

    /// Answers as usual, unless the gateway has something to tell the client before the answer (a call waiting for
    /// a person's approval sends progress notifications): then the answer becomes a stream of server-sent events,
    /// the notifications first and the JSON-RPC response last. The switch happens at the first notification, after
    /// admission and the session checks, so statuses and headers of early failures are kept.
    static func streamingIfNotified(_ message: inout GatewayHTTPRequest, _ gateway: MCPGateway) async -> Response {
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let (notes, notesContinuation) = AsyncStream<JSONValue>.makeStream()
        let first = Mutex(true)
        message.notify = { note in
            if first.withLock({ let was = $0; $0 = false; return was }) { startedContinuation.yield(()) }
            notesContinuation.yield(note)
        }
        let request = message
        let call = Task {
            let answer = await gateway.handle(request)
            notesContinuation.finish()
            startedContinuation.finish()
            return answer
        }
        // The call stops if the client goes away (its approval wait ends, and nothing runs with nobody listening).
        let streaming = await withTaskCancellationHandler {
            for await _ in started { return true }
            return false
        } onCancel: {
            call.cancel()
        }
        guard streaming else {
            return GatewayResourceServer.response(await withTaskCancellationHandler { await call.value } onCancel: { call.cancel() })
        }
        let body = ResponseBody { writer in
            do {
                for await note in notes {
                    try await writer.write(ByteBuffer(string: "event: message\ndata: \(note.serialized)\n\n"))
                }
                let answer = await withTaskCancellationHandler { await call.value } onCancel: { call.cancel() }
                try await writer.write(ByteBuffer(string: "event: message\ndata: \(String(decoding: answer.body, as: UTF8.self))\n\n"))
                try await writer.finish(nil)
            } catch {
                call.cancel()
                throw error
            }
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// Authenticates the agent's token for this path's resource (RFC 6750 bearer or RFC 9449 DPoP) and
    /// builds the caller the gateway sees. Throws the challenge to send.
    func authenticate(_ request: Request, _ context: PortcullisRequestContext, scope: String?) async throws(OAuthError)
        -> GatewayCaller
    {
        let path = "/mcp" + (scope.map { "/" + $0 } ?? "")
        // The token must be for this path's resource, or for the whole gateway.
        let audiences = scope == nil ? [resource(nil)] : [resource(scope), resource(nil)]
        let auth = try await services.tokenService.authenticateResource(
            authorization: request.headers[values: .authorization], dpopProofs: request.headers[values: .dpop],
            audiences: audiences, method: request.method.rawValue, url: issuer + path,
            requiredScope: gateway.configuration.effectiveRequiredScope, cache: services.tokenCache)
        return GatewayResourceServer.caller(auth, request, context)
    }

    /// 401 with a challenge pointing to the metadata; 403 for a missing scope; 503 when the store is down.
    func challenge(_ e: OAuthError, scope: String?) -> Response {
        GatewayResourceServer.challenge(e, metadataURL: metadataURL(scope), scope: gateway.configuration.effectiveRequiredScope)
    }
}

/// The resource server in front of the gateway: no request reaches ``MCPGateway`` without an
/// authenticated agent in the context. A refusal here (no, a revoked or a foreign token, a suspended
/// agent) is answered with the RFC 6750/9728 challenge and counted in the aggregated refusals.
struct ResourceServerAuthenticator: RouterMiddleware {
    typealias Context = PortcullisRequestContext

    let routes: MCPRoutes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let scope = context.parameters.get("upstream")
        if let scope, !routes.gateway.hasUpstream(scope) { return Response(status: .notFound) }
        var context = context
        do {
            context.caller = try await routes.authenticate(request, context, scope: scope)
        } catch {
            routes.gateway.pipeline.refusals.note(
                action: "gateway.refused", subject: context.remoteAddress?.ipAddress ?? "unknown peer",
                reason: "\(error.error): \(Printable.clip(error.description, 120))")
            return routes.challenge(error, scope: scope)
        }
        return try await next(request, context)
    }
}
