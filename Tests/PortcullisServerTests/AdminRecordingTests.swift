import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PortcullisAudit
import PortcullisCore
import PortcullisEnforcement
import PortcullisGateway
import PortcullisIdentity
import Synchronization
import Testing
@testable import PortcullisServer

@Suite("Admin changes are recorded before they act; refusals do not flood the log")
struct AdminRecordingTests {
    static let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    func policyDirectory(_ text: String) throws -> String {
        let dir = NSTemporaryDirectory() + "policies-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try text.write(toFile: dir + "/p.cedar", atomically: true, encoding: .utf8)
        return dir
    }

    @Test("a changed policy directory is put in force only once its reload is recorded; a failure is recorded once")
    func fileWatcherRecordsFirst() async throws {
        let dir = try policyDirectory(#"@id("a") permit (principal, action, resource);"#)
        let node = try await TestNode { $0.gateway.policyDirectory = dir }
        defer { node.remove() }
        let gateway = node.services.gateway
        try #"@id("b") forbid (principal, action, resource);"#.write(toFile: dir + "/p.cedar", atomically: true, encoding: .utf8)
        let unrecorded = GatewayService(gateway: gateway, logger: Logger(label: "test")) { _, _ in
            throw PortcullisError(.storage, "audit down")
        }
        var last: String?
        await unrecorded.reloadIfChanged(lastFailure: &last)
        #expect(gateway.policies.snapshot.byID.keys.sorted() == ["a"])
        let recorded = Recorded()
        let service = GatewayService(gateway: gateway, logger: Logger(label: "test")) { action, _ in recorded.add(action) }
        await service.reloadIfChanged(lastFailure: &last)
        #expect(gateway.policies.snapshot.byID.keys.sorted() == ["b"] && recorded.actions == ["policy.reload"])
        try "not cedar".write(toFile: dir + "/p.cedar", atomically: true, encoding: .utf8)
        for _ in 0..<3 { await service.reloadIfChanged(lastFailure: &last) }
        #expect(recorded.actions == ["policy.reload", "policy.reload.failed"])
        #expect(gateway.policies.snapshot.byID.keys.sorted() == ["b"])
    }

    @Test("a person's suspension closes the agent's sessions at once")
    func suspensionDisconnects() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let key = SigningKey.generate(.es256)
        try await node.app().test(.router) { client in
            let id = try await node.register(client, key: key)["client_id"] as! String
            let gateway = node.services.gateway
            _ = try gateway.sessions.create(agentID: id, scope: nil, protocolVersion: "2025-06-18", limit: 5, maxAge: 3600, now: Date())
            #expect(gateway.sessions.count == 1)
            try await client.execute(uri: "/admin/agents/\(id)/suspend", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: #"{"reason":"incident 7"}"#)) { #expect($0.status == .ok) }
            #expect(gateway.sessions.count == 0)
        }
    }

    @Test("unauthenticated token requests are aggregated into one record with a count")
    func tokenRefusalsAggregated() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let before = try await node.services.audit.entries(AuditQuery(limit: 1000)).count
        try await node.app().test(.router) { client in
            for _ in 0..<40 {
                try await client.execute(uri: "/oauth/token", method: .post, headers: Self.formHeaders,
                                         body: TestNode.form(["grant_type": "client_credentials"])) {
                    #expect($0.status == .unauthorized)
                }
            }
        }
        #expect(try await node.services.audit.entries(AuditQuery(limit: 1000)).count == before)
        await node.services.gateway.pipeline.refusals.flush()
        let records = try await node.services.audit.entries(AuditQuery(action: "token.issue.refused", limit: 10))
        #expect(records.count == 1 && records.first?.event.reason?.hasPrefix("40 refused") == true)
    }

    @Test("clearing an agent's taint is recorded and needs a reason")
    func clearTaint() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        let key = SigningKey.generate(.es256)
        try await node.app().test(.router) { client in
            let id = try await node.register(client, key: key)["client_id"] as! String
            let taint = node.services.gateway.pipeline.taint
            taint.taint(agentID: id, user: "alice", source: "mail.read", now: Date())
            try await client.execute(uri: "/admin/agents/\(id)/clear-taint", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: "{}")) { #expect($0.status == .badRequest) }
            #expect(taint.entry(agentID: id, user: "alice", now: Date()) != nil)
            try await client.execute(uri: "/admin/agents/\(id)/clear-taint", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: #"{"reason":"reviewed the mail"}"#)) { #expect($0.status == .ok) }
            #expect(taint.entry(agentID: id, user: "alice", now: Date()) == nil)
        }
        let records = try await node.services.audit.entries(AuditQuery(action: "agent.clear-taint", limit: 10))
        #expect(records.count == 1 && records.first?.event.reason?.contains("mail.read") == true)
    }

    @Test("approver tokens cannot use the admin API, and the admin token cannot decide approvals")
    func rolesAreChecked() async throws {
        let node = try await TestNode()
        defer { node.remove() }
        try await node.app().test(.router) { client in
            var token = ""
            try await client.execute(uri: "/admin/approvers", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: #"{"name":"bea"}"#)) { response in
                #expect(response.status == .created)
                token = (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["token"] as? String ?? ""
            }
            let approver: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
            try await client.execute(uri: "/admin/agents", method: .get, headers: approver) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/admin/approvals", method: .get, headers: approver) { #expect($0.status == .ok) }
            try await client.execute(uri: "/admin/approvals/apr_x/approve", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: "{}")) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/admin/agents", method: .get, headers: [.authorization: "Bearer nope"]) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] != nil)
            }
            try await client.execute(uri: "/admin/agents", method: .post, headers: node.adminHeaders,
                                     body: ByteBuffer(string: #"{"name": 5}"#)) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("invalid_input"))
            }
        }
    }
}

final class Recorded: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ action: String) { list.withLock { $0.append(action) } }
    var actions: [String] { list.withLock { $0 } }
}
