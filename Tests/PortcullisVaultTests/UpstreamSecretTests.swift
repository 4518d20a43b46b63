import AsyncHTTPClient
import Cedar
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PortcullisCore
import PortcullisGateway
@testable import PortcullisStore
import PortcullisVault
import Synchronization
import Testing

/// MCP upstreams reference vault secrets in their headers and environments, so no credential sits in the
/// configuration in clear.
@Suite("Vault references in MCP upstreams")
struct UpstreamSecretTests {
    @Test("an HTTP upstream's `vault:` header is resolved per request: rotation applies at once, a missing secret sends nothing")
    func httpHeaders() async throws {
        let t = TempVault()
        defer { t.remove() }
        let seen = Mutex<[String]>([])
        let router = Router()
        router.post("/mcp") { request, _ -> Response in
            seen.withLock { $0.append(request.headers[HTTPField.Name("X-Upstream-Key")!] ?? "<none>") }
            let body = String(buffer: try await request.body.collect(upTo: 1 << 16))
            guard body.contains("\"id\"") else { return Response(status: .accepted) }
            let id = body.contains("\"initialize\"") ? 1 : 2
            let result = body.contains("\"initialize\"")
                ? #"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}"#
                : #"{"tools":[]}"#
            return Response(status: .ok, headers: [.contentType: "application/json", HTTPField.Name("Mcp-Session-Id")!: "s1"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"jsonrpc":"2.0","id":\#(id),"result":\#(result)}"#)))
        }
        try await withLocalServer(router) { port in
            let vault = try await Vault.open(store: try t.store(), key: VaultKey.generate())
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let injector = CredentialInjector(vault: vault, client: client)
            try await vault.put(name: "mcp.key", kind: .header, metadata: ["header": "X-Upstream-Key"],
                                secret: SecretValue(["value": "first-secret"]), by: "admin")
            let upstream = HTTPUpstream(name: "web", url: "http://127.0.0.1:\(port)/mcp",
                                        headers: ["X-Upstream-Key": "vault:mcp.key"], logger: Logger(label: "test"),
                                        injector: injector)
            _ = try await upstream.call(method: "tools/list", params: nil, timeoutSeconds: 5)
            #expect(Set(seen.withLock { $0 }) == ["first-secret"])
            try await vault.rotate(name: "mcp.key", secret: SecretValue(["value": "second-secret"]), by: "admin")
            _ = try await upstream.call(method: "tools/list", params: nil, timeoutSeconds: 5)
            #expect(seen.withLock { $0.last } == "second-secret")
            try await vault.delete(name: "mcp.key")
            let before = seen.withLock { $0.count }
            await #expect(throws: UpstreamError.self) { try await upstream.call(method: "tools/list", params: nil, timeoutSeconds: 5) }
            #expect(seen.withLock { $0.count } == before, "a request went out without its credential")
            #expect(!seen.withLock { $0 }.contains { $0.hasPrefix("vault:") })
            // Without a vault the reference is not sent as a literal either.
            let unresolved = HTTPUpstream(name: "web2", url: "http://127.0.0.1:\(port)/mcp",
                                          headers: ["X-Upstream-Key": "vault:mcp.key"], logger: Logger(label: "test"))
            await #expect(throws: UpstreamError.self) { try await unresolved.call(method: "tools/list", params: nil, timeoutSeconds: 5) }
            #expect(seen.withLock { $0.count } == before)
            await unresolved.shutdown()
            await upstream.shutdown()
            try await client.shutdown()
        }
    }

    @Test("a stdio upstream's `vault:` environment value is read when the child starts; a missing secret stops the start")
    func stdioEnvironment() async throws {
        let t = TempVault()
        defer { t.remove() }
        let vault = try await Vault.open(store: try t.store(), key: VaultKey.generate())
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let injector = CredentialInjector(vault: vault, client: client)
        let marker = t.directory + "/env-seen"
        // A child that writes the variable it got, then exits (the call fails: it is not an MCP server).
        let upstream = StdioUpstream(name: "env", command: ["/bin/sh", "-c", "printf %s \"$UPSTREAM_TOKEN\" > '\(marker)'"],
                                     environment: ["UPSTREAM_TOKEN": "vault:gh.token"], logger: Logger(label: "test"),
                                     injector: injector)
        do {
            _ = try await upstream.call(method: "tools/list", params: nil, timeoutSeconds: 2)
            Issue.record("a missing secret started the child")
        } catch {
            #expect("\(error)".contains("vault:gh.token"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
        await upstream.shutdown()
        try await vault.put(name: "gh.token", kind: .bearer, metadata: [:], secret: SecretValue(["token": "ghs_child_token"]), by: "admin")
        let second = StdioUpstream(name: "env2", command: ["/bin/sh", "-c", "printf %s \"$UPSTREAM_TOKEN\" > '\(marker)'; sleep 2"],
                                   environment: ["UPSTREAM_TOKEN": "vault:gh.token"], logger: Logger(label: "test"),
                                   injector: injector)
        _ = try? await second.call(method: "tools/list", params: nil, timeoutSeconds: 1)
        #expect((try? String(contentsOfFile: marker, encoding: .utf8)) == "ghs_child_token")
        await second.shutdown()
        try await client.shutdown()
    }
}
