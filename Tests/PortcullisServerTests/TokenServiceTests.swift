import Foundation
import Hummingbird
import HummingbirdTesting
import PortcullisCore
import PortcullisIdentity
@testable import PortcullisServer
import Testing

@Suite("Token service, in process")
struct TokenServiceTests {
    static let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    @Test("metadata and JWKS are published")
    func metadata() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        try await node.app().test(.router) { client in
            try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get) { response in
                #expect(response.status == .ok)
                let m = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                #expect(m["issuer"] as? String == node.issuer)
                #expect(m["token_endpoint"] as? String == node.issuer + "/oauth/token")
                #expect(m["authorization_endpoint"] != nil)
                #expect((m["token_endpoint_auth_methods_supported"] as? [String]) == ["private_key_jwt"])
            }
            try await client.execute(uri: "/oauth/jwks", method: .get) { response in
                let jwks = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                let keys = jwks["keys"] as! [[String: Any]]
                #expect(keys.count == 1)
                #expect(keys[0]["alg"] as? String == "ES256")
                #expect(keys[0]["d"] == nil, "the private key must never be published")
            }
        }
    }

    @Test("client_credentials with private_key_jwt issues an at+jwt that the verifier accepts")
    func clientCredentials() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let key = SigningKey.generate(.es256)
        try await node.app().test(.router) { client in
            let agent = try await node.register(client, key: key)
            let id = agent["client_id"] as! String
            let body = try node.clientCredentials(clientID: id, key: key, scope: "tools.read admin.everything")
            try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders, body: body) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "no-store")
                let r = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                #expect(r["token_type"] as? String == "Bearer")
                #expect(r["scope"] as? String == "tools.read", "the scope is the intersection of requested and allowed")
                let token = r["access_token"] as! String
                let verified = try AccessTokenVerifier(issuer: node.issuer, keys: [node.services.tokenService.signingKey])
                    .verify(token, expectedAudience: "https://mcp.example.com", now: Date())
                #expect(verified.clientID == id)
                #expect(verified.sub == id)
            }
        }
    }

    @Test("a replayed client assertion, an unknown client and a suspended agent are refused")
    func refusals() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let key = SigningKey.generate(.es256)
        try await node.app().test(.router) { client in
            let id = try await node.register(client, key: key)["client_id"] as! String
            let assertion = try node.assertion(clientID: id, key: key)
            let form = ["grant_type": "client_credentials", "client_assertion_type": TokenService.clientAssertionType,
                        "client_assertion": assertion, "resource": "https://mcp.example.com"]
            try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders,
                                     body: TestNode.form(form)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders,
                                     body: TestNode.form(form)) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("invalid_client"))
            }
            let stranger = SigningKey.generate(.es256)
            var unknown = form
            unknown["client_assertion"] = try node.assertion(clientID: "agt_nobody", key: stranger)
            try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders,
                                     body: TestNode.form(unknown)) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("unknown client"))
            }
            try await client.execute(uri: "/admin/agents/\(id)/suspend", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: #"{"reason":"incident 42"}"#)) { #expect($0.status == .ok) }
            var fresh = form
            fresh["client_assertion"] = try node.assertion(clientID: id, key: key)
            try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders,
                                     body: TestNode.form(fresh)) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("suspended"))
            }
        }
    }

    @Test("configuration drift is refused and recorded")
    func drift() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let key = SigningKey.generate(.es256)
        let pinned = String(repeating: "ab", count: 32)
        try await node.app().test(.router) { client in
            let id = try await node.register(client, key: key, extra: ["config_digest": pinned])["client_id"] as! String
            let form = ["grant_type": "client_credentials", "client_assertion_type": TokenService.clientAssertionType,
                        "client_assertion": try node.assertion(clientID: id, key: key, digest: String(repeating: "cd", count: 32)),
                        "resource": "https://mcp.example.com"]
            try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders,
                                     body: TestNode.form(form)) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("configuration drift"))
            }
            try await client.execute(uri: "/admin/agents/\(id)/events", method: .get, headers: node.adminHeaders) { response in
                #expect(String(buffer: response.body).contains("configuration_drift"))
            }
            var good = form
            good["client_assertion"] = try node.assertion(clientID: id, key: key, digest: pinned)
            try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders,
                                     body: TestNode.form(good)) { #expect($0.status == .ok) }
        }
    }

    @Test("the admin API requires the admin token and validates input")
    func adminAPI() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        try await node.app().test(.router) { client in
            try await client.execute(uri: "/admin/agents", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/admin/agents", method: .get,
                                     headers: [.authorization: "Bearer wrong"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/admin/agents", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: "{not json")) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("malformed JSON"))
            }
            try await client.execute(uri: "/admin/agents", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: #"{"name":"x"}"#)) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("missing field"))
            }
            try await client.execute(uri: "/admin/agents/agt_missing", method: .get, headers: node.adminHeaders) {
                #expect($0.status == .notFound)
            }
        }
        // The data directory holds its secrets with owner-only permissions.
        let attrs = try FileManager.default.attributesOfItem(atPath: node.directory + "/admin.token")
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }
}
