import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PortcullisAudit
import PortcullisServer
import PortcullisStorePostgres

/// `portcullis audit …`: verify the log offline; search, prove and export through the admin API.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Verify, search, prove and export the tamper-evident audit log.",
        subcommands: [Verify.self, Tail.self, Search.self, Show.self, Prove.self, Consistency.self, Checkpoint.self,
                      Key.self, Export.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit log in a data directory, offline; exit 0 only if it is intact.",
            discussion: """
            Recomputes every leaf hash and the Merkle tree from the stored entries, checks every \
            checkpoint's signature and root, and reports the first entry that was modified, deleted, \
            inserted, reordered or truncated. The checkpoint key is read from the data directory's \
            audit-key unless --vkey pins it (a verifier key or a file holding one).
            """)
        @Option(help: "Data directory. Default ./portcullis-data.") var dataDir = "./portcullis-data"
        @Option(help: "Trusted verifier key (`name+hash+base64`), or a file containing it.") var vkey: String?
        @Option(help: """
            Verify the deployment's log in PostgreSQL (postgres://…; default $PORTCULLIS_POSTGRES_URL) instead of \
            the data directory's SQLite file; the data directory's head checkpoint is checked too when it has one.
            """) var postgres: String?
        @Option(help: "With --postgres: a file holding the database password.") var passwordFile: String?
        @Flag(help: "Print the report as JSON.") var json = false

        func run() async throws {
            let directory = DataDirectory(path: dataDir)
            let report: AuditVerificationReport
            do {
                let verifier: NoteVerifier
                if let vkey {
                    let text = FileManager.default.contents(atPath: vkey).map { String(decoding: $0, as: UTF8.self) } ?? vkey
                    verifier = try NoteVerifier(verifierKey: text)
                } else {
                    verifier = try AuditSigningKey.load(path: directory.auditKeyPath).verifier
                }
                if let url = postgres ?? ProcessInfo.processInfo.environment["PORTCULLIS_POSTGRES_URL"] {
                    let store = try await PostgresStore.connect(try PostgresSettings(url: url, passwordFile: passwordFile,
                                                                                     poolSize: 2), migrate: false)
                    defer { store.close() }
                    let head = FileManager.default.fileExists(atPath: directory.auditHeadPath) ? directory.auditHeadPath : nil
                    report = try await PostgresAuditVerifier.verify(store: store, verifier: verifier, headPath: head)
                } else {
                    report = try AuditVerifier(verifier: verifier).verify(databasePath: directory.auditDatabasePath,
                                                                          headPath: directory.auditHeadPath)
                }
            } catch {
                FileHandle.standardError.write(Data("portcullis: cannot verify the audit log: \(error)\n".utf8))
                throw ExitCode(2)
            }
            if json {
                let problems: [[String: Any]] = report.problems.map {
                    var o: [String: Any] = ["kind": $0.kind.rawValue, "message": $0.message]
                    o["index"] = $0.index
                    o["event_id"] = $0.eventID
                    return o
                }
                var object: [String: Any] = ["intact": report.intact, "entries": report.entries,
                                             "checkpoints_verified": report.checkpointsVerified,
                                             "uncovered_entries": report.uncoveredEntries, "problems": problems]
                object["latest_checkpoint_size"] = report.latestCheckpointSize
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            } else if report.intact {
                print("intact: \(report.entries) entries, \(report.checkpointsVerified) checkpoints verified"
                      + (report.latestCheckpointSize.map { ", latest signed size \($0)" } ?? "")
                      + (report.uncoveredEntries > 0 ? "; \(report.uncoveredEntries) newest entries not yet under a checkpoint" : ""))
            } else {
                for p in report.problems {
                    print("\(p.kind.rawValue.uppercased()): \(p.message)")
                }
            }
            if !report.intact { throw ExitCode(1) }
        }
    }

    /// The search filters shared by `tail`, `search` and `export`.
    struct Filters: ParsableArguments {
        @Option(help: "Agent id.") var agent: String?
        @Option(help: "On-behalf-of user.") var user: String?
        @Option(help: "allow, deny or pending.") var decision: String?
        @Option(help: "decision, admin, token or alert.") var kind: String?
        @Option(help: "Action, e.g. call_tool, agent.suspend, token.issue.") var action: String?
        @Option(help: "Tool or resource (a trailing * matches a prefix).") var tool: String?
        @Option(name: .customLong("by"), help: "Administrator who acted (admin:NAME).") var actor: String?
        @Option(help: "From this time (RFC 3339 or Unix nanoseconds), inclusive.") var since: String?
        @Option(help: "Until this time (RFC 3339 or Unix nanoseconds), exclusive.") var until: String?

        var items: [URLQueryItem] {
            [("agent", agent), ("user", user), ("decision", decision), ("kind", kind), ("action", action),
             ("resource", tool), ("actor", actor), ("since", since), ("until", until)]
                .compactMap { k, v in v.map { URLQueryItem(name: k, value: $0) } }
        }
    }

    static func path(_ base: String, _ items: [URLQueryItem]) -> String {
        var c = URLComponents()
        c.path = base
        c.queryItems = items.isEmpty ? nil : items
        return c.string ?? base
    }

    static func printEntries(_ value: Any, admin: AdminOptions) throws {
        if admin.json {
            try admin.show(value)
            return
        }
        for entry in (value as? [[String: Any]] ?? []).reversed() {
            let e = entry["event"] as? [String: Any] ?? [:]
            let ns = (e["time_ns"] as? NSNumber)?.int64Value ?? 0
            let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ns) / 1e9))
            let who = (e["agent"] as? [String: Any])?["id"] as? String ?? e["actor"] as? String ?? "-"
            var line = "#\(entry["index"] ?? "?") \(time) \(e["kind"] ?? "") \(who) \(e["action"] ?? "")"
            if let r = e["resource"] as? String { line += " \(r)" }
            if let d = e["decision"] as? String { line += " \(d)" }
            if let r = e["reason"] as? String { line += " — \(r)" }
            print(line)
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the newest entries.")
        @Option(name: .short, help: "How many.") var n = 20
        @OptionGroup var filters: Filters
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let items = filters.items + [URLQueryItem(name: "limit", value: String(n))]
            try AuditCommand.printEntries(try await admin.call("GET", AuditCommand.path("/admin/audit/entries", items)), admin: admin)
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Find entries by agent, user, decision, tool and time.")
        @Option(help: "At most this many (newest first).") var limit = 100
        @OptionGroup var filters: Filters
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let items = filters.items + [URLQueryItem(name: "limit", value: String(limit))]
            try AuditCommand.printEntries(try await admin.call("GET", AuditCommand.path("/admin/audit/entries", items)), admin: admin)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one entry (by position or event id).")
        @Argument var entry: String
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let value = try await admin.call("GET", "/admin/audit/entries/\(entry)")
            var copy = admin
            copy.json = true
            try copy.show(value)
        }
    }

    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print an inclusion proof of an entry (RFC 6962).")
        @Argument var index: UInt64
        @Option(help: "Tree size (default: the latest checkpoint's).") var size: UInt64?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            var items = [URLQueryItem(name: "index", value: String(index))]
            if let size { items.append(URLQueryItem(name: "size", value: String(size))) }
            var copy = admin
            copy.json = true
            try copy.show(try await admin.call("GET", AuditCommand.path("/admin/audit/proof/inclusion", items)))
        }
    }

    struct Consistency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a consistency proof between two tree sizes (RFC 6962).")
        @Argument var from: UInt64
        @Argument var to: UInt64?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            var items = [URLQueryItem(name: "from", value: String(from))]
            if let to { items.append(URLQueryItem(name: "to", value: String(to))) }
            var copy = admin
            copy.json = true
            try copy.show(try await admin.call("GET", AuditCommand.path("/admin/audit/proof/consistency", items)))
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the latest signed checkpoint (a C2SP signed note), e.g. for a witness.")
        @Option(help: "The checkpoint of exactly this size.") var size: UInt64?
        @Flag(help: "Sign a checkpoint of the current tree first.") var sign = false
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let path = size.map { "/admin/audit/checkpoint?size=\($0)" } ?? "/admin/audit/checkpoint"
            print(try await admin.text(sign ? "POST" : "GET", sign ? "/admin/audit/checkpoint" : path), terminator: "")
        }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the checkpoint verifier key (signed-note vkey).")
        @Option(help: "Read it from this data directory instead of asking the server.") var dataDir: String?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            if let dataDir {
                print(try AuditSigningKey.load(path: DataDirectory(path: dataDir).auditKeyPath).verifierKey)
            } else {
                print(try await admin.text("GET", "/admin/audit/key"), terminator: "")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export entries as JSON lines (the hashed canonical entries) or OCSF 1.7.0 events, oldest first.")
        @Option(help: "jsonl or ocsf.") var format = "jsonl"
        @Option(help: "Write here instead of standard output.") var output: String?
        @Option(help: "Start at this position.") var from: UInt64 = 0
        @Option(help: "Read the log offline from this data directory instead of asking the server.") var dataDir: String?
        @OptionGroup var filters: Filters
        @OptionGroup var admin: AdminOptions

        func validate() throws {
            guard ["jsonl", "ocsf"].contains(format) else { throw ValidationError("--format must be jsonl or ocsf") }
        }

        func run() async throws {
            let handle: FileHandle
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil) else {
                    throw ValidationError("cannot create \(output)")
                }
                handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            } else {
                handle = FileHandle.standardOutput
            }
            var next = from
            let page: UInt64 = 1000
            if let dataDir {
                let path = DataDirectory(path: dataDir).auditDatabasePath
                let f = filters
                while true {
                    let query = AuditQuery(agent: f.agent, user: f.user, decision: f.decision, kind: f.kind, action: f.action,
                                           resource: f.tool, actor: f.actor, since: f.since.flatMap { Int64($0) },
                                           until: f.until.flatMap { Int64($0) }, fromIndex: next, limit: Int(page), ascending: true)
                    let entries = try AuditLog.entries(databasePath: path, query)
                    for entry in entries {
                        let line = format == "ocsf" ? try OCSFExporter.line(entry) : String(decoding: entry.canonical, as: UTF8.self)
                        handle.write(Data((line + "\n").utf8))
                    }
                    guard let last = entries.last, UInt64(entries.count) == page else { break }
                    next = last.index + 1
                }
                if output != nil { try handle.close() }
                return
            }
            while true {
                // Page by position over JSON (positions are needed to continue), writing the requested format.
                let items = filters.items + [URLQueryItem(name: "from", value: String(next)), URLQueryItem(name: "order", value: "asc"),
                                             URLQueryItem(name: "limit", value: String(page)),
                                             URLQueryItem(name: "format", value: format)]
                let body = try await admin.text("GET", AuditCommand.path("/admin/audit/entries", items))
                let lines = body.split(separator: "\n")
                if lines.isEmpty { break }
                handle.write(Data(body.utf8))
                guard let last = lines.last, let data = last.data(using: .utf8),
                      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { break }
                let lastIndex = (object["index"] as? NSNumber)
                    ?? ((object["metadata"] as? [String: Any])?["sequence"] as? NSNumber)
                guard let lastIndex else { break }
                next = lastIndex.uint64Value + 1
                if UInt64(lines.count) < page { break }
            }
            if output != nil { try handle.close() }
        }
    }
}

extension AdminOptions {
    /// Sends a request to the admin API and returns the body as text, or fails with the server's reason.
    func text(_ method: String, _ path: String) async throws -> String {
        var request = HTTPClientRequest(url: server.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(try token())")
        request.headers.add(name: "X-Portcullis-Actor", value: actor ?? ProcessInfo.processInfo.environment["USER"] ?? "cli")
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        } catch {
            throw ValidationError("cannot reach Portcullis at \(server): \(error)")
        }
        let bytes = try await response.body.collect(upTo: 256 << 20)
        let text = String(buffer: bytes)
        guard (200..<300).contains(Int(response.status.code)) else {
            let reason = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["reason"] as? String ?? text
            throw ValidationError("\(response.status.code) \(response.status.reasonPhrase): \(reason)")
        }
        return text
    }
}
