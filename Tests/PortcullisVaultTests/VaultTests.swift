import AsyncHTTPClient
import Foundation
import Hummingbird
import PortcullisCore
@testable import PortcullisStore
import PortcullisVault
import Synchronization
import Testing

/// A data directory with a SQLite store, removed at the end.
struct TempVault {
    let directory: String
    var database: String { directory + "/portcullis.sqlite" }
    var keyPath: String { directory + "/vault.key" }

    init() {
        directory = NSTemporaryDirectory() + "portcullis-vault-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func store() throws -> SQLiteStore { try SQLiteStore(path: database) }
    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// Every byte of every file in the directory (database, WAL, key).
    func allBytes() throws -> [UInt8] {
        var out: [UInt8] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            if let data = FileManager.default.contents(atPath: directory + "/" + name) { out += data }
        }
        return out
    }
}

/// Runs `router` on 127.0.0.1 (a free port) for the duration of `body`, which gets the port.
func withLocalServer(_ router: Router<BasicRequestContext>, _ body: (Int) async throws -> Void) async throws {
    let started = AsyncStream<Int>.makeStream()
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { channel in started.continuation.yield(channel.localAddress?.port ?? 0) })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService() }
        var iterator = started.stream.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        defer { group.cancelAll() }
        try await body(port)
    }
}

func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
    let n = Array(needle.utf8)
    guard n.count <= haystack.count else { return false }
    for i in 0...(haystack.count - n.count) where haystack[i] == n[0] && Array(haystack[i..<(i + n.count)]) == n {
        return true
    }
    return false
}

@Suite("Vault")
struct VaultTests {
    let secretText = "sk_live_4eC39HqLyjWDarjtT1zdp7dc-unique-marker"

    @Test("a secret is sealed on disk: its bytes appear nowhere in the data directory, and only reveal opens it")
    func sealedAtRest() async throws {
        let t = TempVault()
        defer { t.remove() }
        let store = try t.store()
        let key = try VaultKeySource.file(t.keyPath, create: true).load()
        let vault = try await Vault.open(store: store, key: key)
        let entry = try await vault.put(name: "stripe.read", kind: .header, metadata: ["header": "X-Api-Key"],
                                        secret: SecretValue(["value": secretText]), by: "admin")
        #expect(entry.version == 1 && entry.keyID == key.id)
        let listed = try await vault.list()
        #expect(listed.map(\.name) == ["stripe.read"])
        #expect(!"\(listed)".contains(secretText))
        let revealed = try await vault.reveal(name: "stripe.read")
        #expect(revealed.secret["value"] == secretText)
        #expect("\(revealed.secret)" == "[secret]")
        try await store.close()
        #expect(!contains(try t.allBytes(), secretText), "the secret's bytes are on disk in clear")
        #expect(!contains(try t.allBytes(), String(secretText.prefix(20))))
    }

    @Test("the key file is created 0600; a key file readable by others is refused")
    func keyFileMode() throws {
        let t = TempVault()
        defer { t.remove() }
        _ = try VaultKeySource.file(t.keyPath, create: true).load()
        let mode = try FileManager.default.attributesOfItem(atPath: t.keyPath)[.posixPermissions] as? NSNumber
        #expect(mode?.uint16Value == 0o600)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: t.keyPath)
        #expect(throws: VaultError.self) { try VaultKeySource.file(t.keyPath, create: true).load() }
        #expect(throws: VaultError.self) { try VaultKeySource.file(t.directory + "/missing", create: false).load() }
        #expect(throws: VaultError.self) { try VaultKeySource.environment("PORTCULLIS_TEST_NO_SUCH").load(environment: [:]) }
        #expect(throws: VaultError.self) { try VaultKeySource.environment("K").load(environment: ["K": "c2hvcnQ="]) }
        let key = VaultKey.generate()
        #expect(try VaultKeySource.environment("K").load(environment: ["K": key.text]).id == key.id)
        #expect(try VaultKeySource.command(["/bin/echo", key.text]).load().id == key.id)
        #expect(throws: VaultError.self) { try VaultKeySource.command(["/bin/false"]).load() }
    }

    @Test("a wrong key refuses to open the vault; the right one opens it")
    func wrongKey() async throws {
        let t = TempVault()
        defer { t.remove() }
        let store = try t.store()
        let key = VaultKey.generate()
        let vault = try await Vault.open(store: store, key: key)
        try await vault.put(name: "a", kind: .bearer, metadata: [:], secret: SecretValue(["token": "t0k"]), by: "admin")
        await #expect(throws: VaultError.self) { try await Vault.open(store: store, key: VaultKey.generate()) }
        let again = try await Vault.open(store: store, key: key)
        #expect(try await again.reveal(name: "a").secret["token"] == "t0k")
    }

    @Test("key rotation re-seals every secret; afterwards only the new key opens; an interrupted rotation completes")
    func rotation() async throws {
        let t = TempVault()
        defer { t.remove() }
        let store = try t.store()
        let old = VaultKey.generate(), new = VaultKey.generate()
        let vault = try await Vault.open(store: store, key: old)
        for i in 0..<5 {
            try await vault.put(name: "s\(i)", kind: .bearer, metadata: [:], secret: SecretValue(["token": "v\(i)"]), by: "admin")
        }
        try await vault.rotateKey(to: new)
        #expect(vault.keyID == new.id)
        #expect(try await vault.reveal(name: "s3").secret["token"] == "v3")
        #expect(try await vault.list().allSatisfy { $0.keyID == new.id })
        await #expect(throws: VaultError.self) { try await Vault.open(store: store, key: old) }
        // A restart with the new key file not yet in place: opened with the new key and the previous one, the
        // vault finishes what the database says.
        let newer = VaultKey.generate()
        let reopened = try await Vault.open(store: store, key: newer, previous: new)
        #expect(reopened.keyID == newer.id)
        #expect(try await reopened.reveal(name: "s0").secret["token"] == "v0")
    }

    @Test("a sealed value moved onto another name does not open (the name is authenticated)")
    func movedCiphertext() async throws {
        let t = TempVault()
        defer { t.remove() }
        let store = try t.store()
        let vault = try await Vault.open(store: store, key: VaultKey.generate())
        try await vault.put(name: "payments.write", kind: .bearer, metadata: [:], secret: SecretValue(["token": "WRITE"]), by: "admin")
        try await vault.put(name: "payments.read", kind: .bearer, metadata: [:], secret: SecretValue(["token": "READ"]), by: "admin")
        try await store.execute(sql: """
            UPDATE vault_secrets SET sealed = (SELECT sealed FROM vault_secrets WHERE name = 'payments.write')
            WHERE name = 'payments.read'
            """)
        await #expect(throws: VaultError.self) { try await vault.reveal(name: "payments.read") }
    }

    @Test("bad input is refused with a clear error and changes nothing", arguments: [
        ("Bad Name", VaultSecretKind.bearer, [String: String](), ["token": "x"]),
        ("ok", .bearer, [:], ["token": ""]),
        ("ok", .bearer, [:], ["token": "x", "extra": "y"]),
        ("ok", .header, [:], ["value": "x"]),
        ("ok", .header, ["header": "X Bad"], ["value": "x"]),
        ("ok", .header, ["header": "X-Key", "colour": "red"], ["value": "x"]),
        ("ok", .header, ["header": "X-Key"], ["value": "x\r\nX-Injected: 1"]),
        ("ok", .oauthClientCredentials, ["token_url": "http://evil.example/token", "client_id": "c"], ["client_secret": "s"]),
    ])
    func badInput(name: String, kind: VaultSecretKind, metadata: [String: String], secret: [String: String]) async throws {
        let t = TempVault()
        defer { t.remove() }
        let vault = try await Vault.open(store: try t.store(), key: VaultKey.generate())
        await #expect(throws: VaultError.self) {
            try await vault.put(name: name, kind: kind, metadata: metadata, secret: SecretValue(secret), by: "admin")
        }
        #expect(try await vault.list().isEmpty)
    }

    @Test("static kinds become the right headers; rotate replaces the value and keeps the parameters")
    func staticHeaders() async throws {
        let t = TempVault()
        defer { t.remove() }
        let vault = try await Vault.open(store: try t.store(), key: VaultKey.generate())
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let injector = CredentialInjector(vault: vault, client: client)
        try await vault.put(name: "h", kind: .header, metadata: ["header": "X-Api-Key", "prefix": "Token "],
                            secret: SecretValue(["value": "abc"]), by: "admin")
        try await vault.put(name: "b", kind: .basic, metadata: ["username": "svc"], secret: SecretValue(["password": "pw"]), by: "admin")
        #expect(try await injector.headers(secret: "h").map { "\($0.name): \($0.value)" } == ["X-Api-Key: Token abc"])
        #expect(try await injector.headers(secret: "b").map(\.value) == ["Basic " + Data("svc:pw".utf8).base64EncodedString()])
        let rotated = try await vault.rotate(name: "h", secret: SecretValue(["value": "def"]), by: "admin")
        #expect(rotated.version == 2 && rotated.metadata["prefix"] == "Token ")
        #expect(try await injector.headers(secret: "h").map(\.value) == ["Token def"])
        await #expect(throws: VaultError.self) { try await injector.headers(secret: "missing") }
        try await vault.delete(name: "h")
        await #expect(throws: VaultError.self) { try await injector.headers(secret: "h") }
        try await client.shutdown()
    }

    @Test("client credentials: one token request for 50 concurrent calls, cached, dropped on rotation; a refusal is an error")
    func clientCredentials() async throws {
        let t = TempVault()
        defer { t.remove() }
        let requests = Mutex<[String]>([])
        let router = Router()
        router.post("/token") { request, _ -> Response in
            let auth = request.headers[.authorization] ?? ""
            let body = String(buffer: try await request.body.collect(upTo: 4096))
            requests.withLock { $0.append(auth + " " + body) }
            try await Task.sleep(for: .milliseconds(50))
            guard auth == "Basic " + Data("client-1:s3cret".utf8).base64EncodedString() else {
                return Response(status: .unauthorized)
            }
            let n = requests.withLock { $0.count }
            let json = #"{"access_token":"at-\#(n)","token_type":"Bearer","expires_in":3600}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        try await withLocalServer(router) { p in
            let vault = try await Vault.open(store: try t.store(), key: VaultKey.generate())
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let injector = CredentialInjector(vault: vault, client: client)
            try await vault.put(name: "crm", kind: .oauthClientCredentials,
                                metadata: ["token_url": "http://127.0.0.1:\(p)/token", "client_id": "client-1", "scope": "read"],
                                secret: SecretValue(["client_secret": "s3cret"]), by: "admin")
            let values = try await withThrowingTaskGroup(of: String.self) { g in
                for _ in 0..<50 { g.addTask { try await injector.headers(secret: "crm")[0].value } }
                return try await g.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(values == ["Bearer at-1"])
            #expect(injector.tokenFetches == 1)
            #expect(try await injector.headers(secret: "crm")[0].value == "Bearer at-1")
            #expect(requests.withLock { $0.first?.contains("grant_type=client_credentials") == true })
            #expect(requests.withLock { $0.first?.contains("scope=read") == true })
            try await vault.rotate(name: "crm", secret: SecretValue(["client_secret": "wrong"]), by: "admin")
            await #expect(throws: VaultError.self) { try await injector.headers(secret: "crm") }
            try await vault.rotate(name: "crm", secret: SecretValue(["client_secret": "s3cret"]), by: "admin")
            #expect(try await injector.headers(secret: "crm")[0].value.hasPrefix("Bearer at-"))
            #expect(injector.tokenFetches == 3)
            try await client.shutdown()
        }
    }
}
