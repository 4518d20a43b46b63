import Foundation
import Hummingbird
import HummingbirdTesting
import PortcullisCore
import PortcullisIdentity
@testable import PortcullisServer

/// A node on a fresh temporary data directory, tested in process.
struct TestNode {
    let directory: String
    let services: PortcullisApplication.Services

    init(configure: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        directory = NSTemporaryDirectory() + "portcullis-test-" + UUID().uuidString
        var config = ServerConfiguration()
        config.dataDirectory = directory
        config.port = 8640
        configure(&config)
        services = try await PortcullisApplication.open(configuration: config)
    }

    var issuer: String { services.configuration.effectiveIssuer }

    func app() -> some ApplicationProtocol {
        Application(router: PortcullisApplication.router(services))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    var adminHeaders: HTTPFields { [.authorization: "Bearer \(services.adminToken)", .contentType: "application/json"] }

    /// Registers an agent holding `key`, through the admin API.
    func register(_ client: some TestClientProtocol, key: SigningKey, extra: [String: Any] = [:]) async throws -> [String: Any] {
        var body: [String: Any] = [
            "name": "billing-bot", "owner": "alice@example.com", "purpose": "refunds", "model_provider": "acme",
            "model": "acme-large", "model_version": "2026-10", "scopes": ["tools.read", "tools.write"],
            "audiences": ["https://mcp.example.com"],
            "public_keys": [try JSONSerialization.jsonObject(with: JSONEncoder().encode(key.publicJWK))],
        ]
        body.merge(extra) { _, new in new }
        let data = try JSONSerialization.data(withJSONObject: body)
        return try await client.execute(uri: "/admin/agents", method: .post, headers: adminHeaders,
                                        body: ByteBuffer(bytes: data)) { response in
            guard response.status == .created else {
                throw TestFailure("registration failed: \(response.status) \(String(buffer: response.body))")
            }
            return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
        }
    }

    /// Why the resource server refuses `token` for the gateway (`<issuer>/mcp`, scope `mcp`), or nil when it accepts it.
    func refusal(of token: String) async -> OAuthError? {
        do {
            _ = try await services.tokenService.authenticateResource(
                authorization: ["Bearer \(token)"], dpopProofs: [], audiences: [issuer + "/mcp"], method: "POST",
                url: issuer + "/mcp", requiredScope: "mcp", cache: services.tokenCache)
            return nil
        } catch {
            return error
        }
    }

    /// A fresh client assertion (RFC 7523) signed with `key`.
    func assertion(clientID: String, key: SigningKey, audience: String? = nil, digest: String? = nil,
                   jti: String = UUID().uuidString) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        var claims: [String: JSONAny] = [
            "iss": .string(clientID), "sub": .string(clientID), "aud": .string(audience ?? issuer + "/oauth/token"),
            "iat": .int(now), "exp": .int(now + 60), "jti": .string(jti),
        ]
        if let digest { claims["agent_config_digest"] = .string(digest) }
        return try JWTSigner(key: key).sign(type: "JWT", claims: claims)
    }

    /// A client_credentials token request with a fresh private_key_jwt assertion.
    func clientCredentials(clientID: String, key: SigningKey, resource: String = "https://mcp.example.com",
                           scope: String, digest: String? = nil) throws -> ByteBuffer {
        Self.form([
            "grant_type": "client_credentials", "client_assertion_type": TokenService.clientAssertionType,
            "client_assertion": try assertion(clientID: clientID, key: key, digest: digest), "resource": resource, "scope": scope,
        ])
    }

    /// Registers an agent that may use the whole gateway (`<issuer>/mcp`, scope `mcp`; `extra` fields on top) and
    /// obtains a token for it.
    func mcpAgent(_ client: some TestClientProtocol, extra: [String: Any] = [:]) async throws -> (id: String, token: String) {
        let key = SigningKey.generate(.es256)
        var fields: [String: Any] = ["scopes": ["mcp"], "audiences": [issuer + "/mcp"]]
        fields.merge(extra) { _, new in new }
        let id = try await register(client, key: key, extra: fields)["client_id"] as! String
        let body = try clientCredentials(clientID: id, key: key, resource: issuer + "/mcp", scope: "mcp",
                                         digest: extra["config_digest"] as? String)
        let token = try await client.execute(uri: "/oauth/token", method: .post,
                                             headers: [.contentType: "application/x-www-form-urlencoded"], body: body) { response in
            guard response.status == .ok else { throw TestFailure("token: \(response.status) \(String(buffer: response.body))") }
            return (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any])["access_token"] as! String
        }
        return (id, token)
    }

    static func form(_ fields: [String: String]) -> ByteBuffer {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let text = fields.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
        return ByteBuffer(string: text)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension Data {
    init(buffer: ByteBuffer) {
        self.init(buffer.readableBytesView)
    }
}
