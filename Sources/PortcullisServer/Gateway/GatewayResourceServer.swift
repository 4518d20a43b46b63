import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisCore
import PortcullisEnforcement
import PortcullisGateway
import PortcullisIdentity

/// What the gateways' front ends (`/mcp`, `/http`) share as OAuth protected resources: the caller built from an
/// authenticated token, the RFC 6750/9728 challenge, and the rendering of a front end's answer.
enum GatewayResourceServer {
    /// The caller the pipeline sees, from an authenticated access token.
    static func caller(_ auth: ResourceAuthentication, _ request: Request, _ context: PortcullisRequestContext) -> GatewayCaller {
        let token = auth.token
        var details: [JSONAny] = []
        if case .array(let items)? = token.claims["authorization_details"] { details = items }
        return GatewayCaller(
            agent: auth.agent, tokenID: token.jti, scopes: token.scope,
            actors: Array(TokenService.actors(token.act).reversed()).filter { $0 != auth.agent.id },
            onBehalfOf: token.sub == auth.agent.id || token.sub.hasPrefix("agt_") ? nil : token.sub,
            authorizationDetails: details,
            sourceAddress: context.remoteAddress?.ipAddress, traceID: traceID(request.headers[.traceparent]),
            intent: token.claims["intent"]?.stringValue, traceParent: request.headers[.traceparent].flatMap(TraceParent.init))
    }

    /// 401 with a challenge pointing to the metadata; 403 for a missing scope; 503 when the store is down.
    static func challenge(_ e: OAuthError, metadataURL: String, scope: String) -> Response {
        let description = e.description.replacingOccurrences(of: "\"", with: "'")
        var challenge = "Bearer resource_metadata=\"\(metadataURL)\""
        if e.status == 403 {
            challenge += ", error=\"insufficient_scope\", scope=\"\(scope)\""
        } else if e.status == 401 {
            challenge += ", error=\"\(e.error)\", error_description=\"\(description)\""
        }
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store", .wwwAuthenticate: challenge]
        if e.status == 401 { headers.append(HTTPField(name: .wwwAuthenticate, value: "DPoP algs=\"ES256 EdDSA\"")) }
        let body: [String: Any] = ["error": e.error, "error_description": e.description]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return Response(status: HTTPResponse.Status(code: e.status), headers: headers,
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A front end's answer as a Hummingbird response (never cached).
    static func response(_ answer: GatewayHTTPResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) }
        }
        if fields[.cacheControl] == nil { fields[.cacheControl] = "no-store" }
        return Response(status: .init(code: answer.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    /// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`).
    static func traceID(_ header: String?) -> String? {
        guard let parts = header?.split(separator: "-"), parts.count == 4, parts[1].count == 32,
              parts[1].allSatisfy(\.isHexDigit), parts[1] != String(repeating: "0", count: 32) else { return nil }
        return String(parts[1]).lowercased()
    }
}

extension HTTPField.Name {
    static let traceparent = HTTPField.Name("traceparent")!
}
