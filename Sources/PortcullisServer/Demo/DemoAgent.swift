import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PortcullisCore
import PortcullisEnforcement
import PortcullisIdentity
import ServiceLifecycle

extension ServerConfiguration {
    /// `portcullis serve --demo`: the demo tool server as upstream `demo`, its tools classified.
    public mutating func enableDemo() {
        demo = true
        if !gateway.upstreams.contains(where: { $0.name == "demo" }) {
            gateway.upstreams.append(UpstreamConfiguration(name: "demo", url: effectiveIssuer + "/demo/mcp", timeoutSeconds: 10))
        }
        var tools = gateway.tools ?? [:]
        for (name, effect) in DemoToolServer.classification where tools[name] == nil {
            tools[name] = ToolClassification(effect: ToolRecord.Effect(rawValue: effect), untrustedResults: name == "demo.read_ticket")
        }
        gateway.tools = tools
    }
}

/// `portcullis serve --demo`'s agent: registered once (its key kept 0600 in the data directory), it obtains a token
/// with private_key_jwt from this node's token endpoint and calls the demo tools through the MCP gateway over HTTP,
/// like any agent, every 30 seconds: a search and a ticket read (allowed; the ticket carries an injected
/// instruction), an update that leaks a secret (denied by DLP) and the deletion the injection asked for (waits for a
/// person's approval). The console shows all three kinds within a minute of the start.
struct DemoAgent: Service {
    let services: PortcullisApplication.Services
    let logger: Logger

    var base: String { "http://\(services.configuration.host.contains(":") ? "[\(services.configuration.host)]" : services.configuration.host):\(services.configuration.port)" }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            do {
                let (id, key) = try await agent()
                try await Task.sleep(for: .seconds(2))
                while !Task.isCancelled {
                    do { try await cycle(id: id, key: key) } catch {
                        logger.notice("demo agent: \(error)")
                    }
                    try await Task.sleep(for: .seconds(30))
                }
            } catch is CancellationError {
            } catch {
                logger.error("demo agent stopped: \(error)")
            }
        }
    }

    /// The demo agent's id and key: the ones on disk when its record still exists, else a new registration.
    func agent() async throws -> (String, SigningKey) {
        let dir = services.configuration.dataDirectory
        let keyPath = dir + "/demo-agent.jwk"
        let idPath = dir + "/demo-agent.id"
        if let keyText = FileManager.default.contents(atPath: keyPath), let idText = FileManager.default.contents(atPath: idPath) {
            let id = String(decoding: idText, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if let agent = try await services.registry.agents.agent(id: id), agent.status == .active {
                return (id, try SigningKey(privateJWK: String(decoding: keyText, as: UTF8.self)))
            }
        }
        let key = SigningKey.generate(.es256)
        let jwk = try JSONDecoder().decode(JSONAny.self, from: JSONEncoder().encode(key.publicJWK))
        let agent = try await services.registry.register(AgentRegistry.Registration(
            name: "demo-agent", owner: "demo@portcullis.local", purpose: "answers help-desk tickets (portcullis serve --demo)",
            modelProvider: "demo", model: "demo-model", modelVersion: "1", publicKeys: [jwk], configDigest: nil,
            scopes: ["mcp"], audiences: [services.configuration.effectiveIssuer + "/mcp"], reviewCadenceDays: 90,
            maxSessionSeconds: 900, maxConcurrentSessions: 20, trustLevel: 3, requireDpop: false, teams: ["help-desk"]),
            actor: "demo")
        try? FileManager.default.removeItem(atPath: keyPath)
        guard FileManager.default.createFile(atPath: keyPath, contents: Data(key.privateJWK.utf8), attributes: [.posixPermissions: 0o600]),
              FileManager.default.createFile(atPath: idPath, contents: Data(agent.id.utf8)) else {
            throw PortcullisError(.storage, "cannot write the demo agent's key in \(dir)")
        }
        logger.info("demo agent registered", metadata: ["agent": "\(agent.id)"])
        return (agent.id, key)
    }

    func cycle(id: String, key: SigningKey) async throws {
        let token = try await accessToken(id: id, key: key)
        let session = try await initialize(token)
        _ = try await call(token, session, "demo.search_docs", ["query": "printer"])
        _ = try await call(token, session, "demo.read_ticket", ["id": "T-1042"])
        _ = try await call(token, session, "demo.update_ticket",
                           ["id": "T-1042", "comment": "fixed; the admin key is AKIAIOSFODNN7EXAMPLE"])
        // Waits for a person (the console's Approvals page); not awaited, so the cycle goes on.
        Task { _ = try? await call(token, session, "demo.delete_project", ["project": "payroll-2026"]) }
    }

    func accessToken(id: String, key: SigningKey) async throws -> String {
        let endpoint = services.configuration.effectiveIssuer + "/oauth/token"
        let form = FormEncoding.encode(try ClientCredentialsRequest.form(
            clientID: id, key: key, tokenEndpoint: endpoint, resource: services.configuration.effectiveIssuer + "/mcp", scope: "mcp"))
        let (status, _, body) = try await post(base + "/oauth/token", body: form, headers: [("Content-Type", "application/x-www-form-urlencoded")])
        guard status == 200, let token = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["access_token"] as? String else {
            throw PortcullisError(.internalError, "demo agent: no token (\(status)): \(String(decoding: body, as: UTF8.self))")
        }
        return token
    }

    func initialize(_ token: String) async throws -> String? {
        let (_, headers, _) = try await rpc(token, nil, "initialize", [
            "protocolVersion": "2025-06-18", "capabilities": [:] as [String: Any], "clientInfo": ["name": "portcullis-demo-agent", "version": "1"],
        ])
        let session = headers.first(name: "Mcp-Session-Id")
        _ = try await post(base + "/mcp", body: #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, headers: mcpHeaders(token, session))
        return session
    }

    func call(_ token: String, _ session: String?, _ tool: String, _ arguments: [String: Any]) async throws -> Int {
        try await rpc(token, session, "tools/call", ["name": tool, "arguments": arguments]).0
    }

    func rpc(_ token: String, _ session: String?, _ method: String, _ params: [String: Any]) async throws -> (Int, HTTPHeaders, Data) {
        let body = try JSONSerialization.data(withJSONObject: ["jsonrpc": "2.0", "id": UUID().uuidString, "method": method, "params": params])
        return try await post(base + "/mcp", body: String(decoding: body, as: UTF8.self), headers: mcpHeaders(token, session))
    }

    func mcpHeaders(_ token: String, _ session: String?) -> [(String, String)] {
        var h = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json"),
                 ("Accept", "application/json, text/event-stream"), ("MCP-Protocol-Version", "2025-06-18")]
        if let session { h.append(("Mcp-Session-Id", session)) }
        return h
    }

    func post(_ url: String, body: String, headers: [(String, String)]) async throws -> (Int, HTTPHeaders, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(90))
        let data = Data((try await response.body.collect(upTo: 1 << 20)).readableBytesView)
        return (Int(response.status.code), response.headers, data)
    }
}
