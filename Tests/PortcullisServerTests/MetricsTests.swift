import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisCore
import PortcullisEnforcement
import PortcullisGateway
import PortcullisIdentity
import Testing
@testable import PortcullisServer

/// `/metrics`: the Prometheus text format, behind the metrics token; what the node did shows in it.
@Suite("Metrics")
struct MetricsTests {
    static let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// The value of a sample line `name{labels} value` whose name and labels contain all of `parts`.
    static func value(_ text: String, _ name: String, _ parts: [String] = []) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            let s = String(line)
            guard parts.allSatisfy(s.contains), let v = s.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            return v
        }
        return nil
    }

    @Test("the metrics token (or the admin token) reads them; no token, a wrong one or an agent's token does not")
    func access() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let token = try String(contentsOfFile: node.directory + "/metrics.token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("pcmet_"))
        let mode = try FileManager.default.attributesOfItem(atPath: node.directory + "/metrics.token")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try await node.app().test(.router) { client in
            for header in [nil, "Bearer nope", "Basic \(token)"] {
                let headers: HTTPFields = header.map { [.authorization: $0] } ?? [:]
                try await client.execute(uri: "/metrics", method: .get, headers: headers) { response in
                    #expect(response.status == .unauthorized, "\(header ?? "none")")
                    #expect(!String(buffer: response.body).contains("portcullis_"))
                }
            }
            for bearer in [token, node.services.adminToken] {
                try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(bearer)"]) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                }
            }
            // The metrics token opens nothing else.
            try await client.execute(uri: "/admin/agents", method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                #expect(response.status == .unauthorized || response.status == .forbidden)
            }
        }
    }

    @Test("token issuance, kills, decisions, stage and audit latencies are counted")
    func counted() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let key = SigningKey.generate(.es256)
        let metricsHeaders: HTTPFields = [.authorization: "Bearer \(node.services.metricsToken)"]
        try await node.app().test(.router) { client in
            let agent = try await node.register(client, key: key)
            let id = agent["client_id"] as! String
            for _ in 0..<2 {
                let body = try node.clientCredentials(clientID: id, key: key, scope: "tools.read")
                try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders, body: body) { response in
                    #expect(response.status == .ok)
                }
            }
            // A decision through the pipeline (the MCP front end's tool calls go the same way).
            let pipeline = node.services.gateway.pipeline
            var call = GatewayCall(kind: .mcp, action: .connect, caller: GatewayCaller(agent: try await node.services.registry.existing(id),
                                                                                        tokenID: "t", scopes: ["mcp"]),
                                   upstream: "nowhere", session: SessionSnapshot(), sessionRef: "s", reasoning: nil, started: .now)
            _ = await pipeline.authorize(&call)
            let kill = try JSONSerialization.data(withJSONObject: ["agent": id, "reason": "metrics test"])
            try await client.execute(uri: "/admin/kill", method: .post, headers: node.adminHeaders, body: ByteBuffer(bytes: kill)) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: metricsHeaders) { response in
                let text = String(buffer: response.body)
                #expect(Self.value(text, "portcullis_tokens_issued_total", [#"grant="client_credentials""#]) == 2, "\(text)")
                #expect(Self.value(text, "portcullis_kills_total", [#"target="agent""#, #"by="person""#]) == 1)
                #expect(Self.value(text, "portcullis_decisions_total", [#"action="connect""#]) == 1)
                #expect((Self.value(text, "portcullis_stage_duration_seconds_count", [#"stage="decide""#]) ?? 0) >= 1)
                #expect((Self.value(text, "portcullis_audit_append_duration_seconds_count", [#"kind="decision""#]) ?? 0) >= 1)
                #expect(text.contains(#"portcullis_stage_duration_seconds_bucket{stage="decide",le="5e-05"}"#)
                    || text.contains(#"le="0.00005""#), "microsecond buckets")
            }
        }
    }
}
