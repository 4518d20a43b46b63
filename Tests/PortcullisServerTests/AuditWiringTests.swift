import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisAudit
import PortcullisCore
import PortcullisIdentity
@testable import PortcullisServer
import Testing

@Suite("Audit wiring")
struct AuditWiringTests {
    static let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    @Test("registration, issuance and suspension are in the audit log, with the named administrator")
    func recorded() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let key = SigningKey.generate(.es256)
        try await node.app().test(.router) { client in
            let agent = try await node.register(client, key: key)
            let id = agent["client_id"] as! String
            let body = TestNode.form([
                "grant_type": "client_credentials", "client_assertion_type": TokenService.clientAssertionType,
                "client_assertion": try node.assertion(clientID: id, key: key), "resource": "https://mcp.example.com",
            ])
            try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders, body: body) { response in
                #expect(response.status == .ok)
            }
            var headers = node.adminHeaders
            headers[HTTPField.Name("X-Portcullis-Actor")!] = "bob"
            try await client.execute(uri: "/admin/agents/\(id)/suspend", method: .post, headers: headers,
                                     body: ByteBuffer(string: #"{"reason":"investigating"}"#)) { response in
                #expect(response.status == .ok)
            }
            let entries = try await node.services.audit.entries(AuditQuery(agent: id, ascending: true))
            #expect(entries.map(\.event.action) == ["agent.register", "token.issue", "agent.suspend"])
            #expect(entries[2].event.actor == "admin:bob")
            #expect(entries[2].event.reason == "investigating")
            #expect(entries[1].event.resource == "https://mcp.example.com")
            try await client.execute(uri: "/admin/audit/entries?agent=\(id)&format=jsonl&order=asc", method: .get,
                                     headers: node.adminHeaders) { response in
                #expect(response.status == .ok)
                let lines = String(buffer: response.body).split(separator: "\n").map(String.init)
                #expect(lines == entries.map { String(decoding: $0.canonical, as: UTF8.self) })
            }
            try await client.execute(uri: "/admin/audit/entries", method: .get, headers: [:]) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }
}
