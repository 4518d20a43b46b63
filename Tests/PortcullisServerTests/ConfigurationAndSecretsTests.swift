import Foundation
import PortcullisCore
import Testing
@testable import PortcullisServer

@Suite("Configuration files and secrets on disk")
struct ConfigurationAndSecretsTests {
    @Test("a key given twice is refused, naming it", arguments: [
        #"{"port": 1, "port": 2}"#,
        #"{"gateway": {"approveNewTools": false, "approveNewTools": true}}"#,
        #"{"gateway": {"dlp": {"arguments": "block", "arguments": "allow"}}}"#,
    ])
    func duplicateKeys(json: String) {
        #expect {
            _ = try ConfigurationFile.decode(Data(json.utf8))
        } throws: { error in
            "\(error)".contains("duplicate key")
        }
    }

    @Test("an unknown key at any level is refused", arguments: [
        #"{"gateway": {"upstreams": [{"name": "a", "url": "http://x", "trustAnotations": true}]}}"#,
        #"{"gateway": {"tools": {"a.b": {"effect": "read", "rsik": 5}}}}"#,
        #"{"gateway": {"rateLimit": {"perMinute": 1, "burst": 1, "brust": 100}}}"#,
        #"{"gateway": {"tools": {"a.b": {"effect": "unclassified"}}}}"#,
        #"{"store": {"postgres": {"url": "postgres://a@b/c", "pol": 3}}}"#,
        #"{"store": {"postgress": {"url": "postgres://a@b/c"}}}"#,
    ])
    func unknownKeys(json: String) {
        #expect(throws: (any Error).self) { _ = try ConfigurationFile.decode(Data(json.utf8)) }
    }

    @Test("store.postgres: read strictly, the URL checked at start without echoing its password, overridable from the environment")
    func postgresStore() throws {
        var c = try ConfigurationFile.decode(Data(#"""
            {"store": {"postgres": {"url": "postgres://app:s3cret@db.internal:6543/portcullis?sslmode=require", "pool": 4,
                                    "node": "a", "heartbeatMs": 100, "staleAfterMs": 300}}}
            """#.utf8))
        try c.validate()
        #expect(c.store?.postgres?.pool == 4 && c.store?.postgres?.heartbeatMs == 100)
        for (url, fragment) in [("postgres://app:s3cret@db/p?sslmode=maybe", "sslmode"), ("mysql://app:s3cret@db/p", "postgres://")] {
            var bad = c
            bad.store?.postgres?.url = url
            let error = #expect(throws: ConfigurationError.self) { try bad.validate() }
            #expect("\(error!)".contains(fragment) && !"\(error!)".contains("s3cret"))
        }
        var fast = c
        fast.store?.postgres?.staleAfterMs = 150
        #expect(throws: ConfigurationError.self) { try fast.validate() }
        try c.apply(environment: ["PORTCULLIS_POSTGRES_URL": "postgres://other@h/d"])
        #expect(c.store?.postgres?.url == "postgres://other@h/d" && c.store?.postgres?.pool == 4)
        var plain = ServerConfiguration()
        try plain.apply(environment: ["PORTCULLIS_POSTGRES_URL": "postgres://x@h/d"])
        #expect(plain.store?.postgres?.url == "postgres://x@h/d")
    }

    @Test("the manual testing clock exists in debug builds only")
    func testingClock() throws {
        var c = ServerConfiguration()
        c.testing = .init(manualClock: "2026-11-23T10:00:00Z")
        #if DEBUG
        try c.validate()
        #else
        #expect(throws: ConfigurationError.self) { try c.validate() }
        #endif
    }

    @Test("secrets are written 0600 from the first byte; a loose data directory is tightened")
    func secretsOnDisk() throws {
        let path = NSTemporaryDirectory() + "portcullis-secrets-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = DataDirectory(path: path)
        #expect(try directory.prepare().isEmpty)
        _ = try directory.adminToken()
        func mode(_ p: String) throws -> Int {
            try #require((FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as? NSNumber)?.intValue)
        }
        #expect(try mode(path) == 0o700)
        #expect(try mode(directory.adminTokenPath) == 0o600)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory.adminTokenPath)
        let warnings = try directory.prepare()
        #expect(warnings.count == 2)
        #expect(try mode(path) == 0o700 && mode(directory.adminTokenPath) == 0o600)
        // A leftover temporary file with a loose mode is not reused.
        let file = path + "/secret"
        FileManager.default.createFile(atPath: file + ".tmp", contents: Data("old".utf8), attributes: [.posixPermissions: 0o666])
        try DurableFile.replace(file, with: "new", mode: 0o600)
        #expect(try mode(file) == 0o600)
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self) == "new")
    }
}
