import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisAudit
import PortcullisCore

/// The audit API under `/admin/audit` (admin token): search, entries, proofs, checkpoints, key, export.
///
/// Hashes are standard base64, as in checkpoints. `format=jsonl` streams the exact canonical
/// entry bytes that were hashed (one per line), so an export can be re-hashed independently;
/// `format=ocsf` streams OCSF 1.7.0 events.
struct AuditRoutes: Sendable {
    let services: PortcullisApplication.Services

    var audit: any MerkleAuditLog { services.audit }

    func register(on router: Router<PortcullisRequestContext>) {
        let group = router.group("/admin/audit")
            .add(middleware: APIErrorMiddleware())
            .add(middleware: AdminAuthenticator(adminToken: services.adminToken, approvers: services.approvalStore))
        group.get("/entries") { request, context in
            _ = try context.administrator()
            let params = request.uri.queryParameters
            let query = try Self.query(params)
            let entries = try await wrap { try await audit.entries(query) }
            switch params["format"].map(String.init) ?? "json" {
            case "json":
                return HTTP.json(try JSONSerialization.data(withJSONObject: try entries.map(Self.object),
                                                            options: [.sortedKeys, .withoutEscapingSlashes]))
            case "jsonl":
                return Self.lines(entries.map { String(decoding: $0.canonical, as: UTF8.self) })
            case "ocsf":
                return Self.lines(try entries.map { try OCSFExporter.line($0) })
            case let other:
                throw PortcullisError(.invalidInput, "unknown format `\(other)`: use json, jsonl or ocsf")
            }
        }
        group.get("/entries/:index") { request, context in
            let raw = try context.parameters.require("index")
            _ = try context.administrator()
            let found: AuditLogEntry?
            if let index = UInt64(raw) {
                found = try await wrap { try await audit.entry(index: index) }
            } else {
                found = try await wrap { try await audit.entry(eventID: raw) }
            }
            guard let entry = found else { throw PortcullisError(.notFound, "no audit entry `\(raw)`") }
            return HTTP.json(try JSONSerialization.data(withJSONObject: try Self.object(entry),
                                                        options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        group.get("/proof/inclusion") { request, context in
            _ = try context.administrator()
            let params = request.uri.queryParameters
            guard let index = try Self.number(params, "index") else {
                throw PortcullisError(.invalidInput, "`index` is required")
            }
            let p = try await wrap { try await audit.inclusionProof(index: index, treeSize: try Self.number(params, "size")) }
            var object: [String: Any] = [
                "index": p.index, "tree_size": p.treeSize, "leaf_hash": Self.b64(p.leafHash),
                "hashes": p.hashes.map(Self.b64), "root_hash": Self.b64(p.rootHash),
            ]
            object["checkpoint"] = p.checkpoint?.note.serialized
            return HTTP.json(object: object)
        }
        group.get("/proof/consistency") { request, context in
            _ = try context.administrator()
            let params = request.uri.queryParameters
            guard let from = try Self.number(params, "from") else {
                throw PortcullisError(.invalidInput, "`from` is required")
            }
            let p = try await wrap { try await audit.consistencyProof(from: from, to: try Self.number(params, "to")) }
            var object: [String: Any] = [
                "from": p.fromSize, "to": p.toSize, "hashes": p.hashes.map(Self.b64),
                "from_root": Self.b64(p.fromRoot), "to_root": Self.b64(p.toRoot),
            ]
            object["from_checkpoint"] = p.fromCheckpoint?.note.serialized
            object["to_checkpoint"] = p.toCheckpoint?.note.serialized
            return HTTP.json(object: object)
        }
        group.get("/checkpoint") { request, context in
            _ = try context.administrator()
            let checkpoint: SignedCheckpoint?
            if let size = try Self.number(request.uri.queryParameters, "size") {
                checkpoint = try await wrap { try await audit.checkpoint(size: size) }
            } else if let latest = await audit.latestCheckpoint {
                checkpoint = latest
            } else {
                checkpoint = try await wrap { try await audit.checkpoint() }
            }
            guard let checkpoint else { throw PortcullisError(.notFound, "no checkpoint of that size was signed") }
            return Self.text(checkpoint.note.serialized)
        }
        group.post("/checkpoint") { request, context in
            _ = try context.administrator()
            return Self.text(try await wrap { try await audit.checkpoint() }.note.serialized)
        }
        group.get("/checkpoints") { request, context in
            _ = try context.administrator()
            let params = request.uri.queryParameters
            let limit = Int(try Self.number(params, "limit") ?? 100)
            let list = try await wrap { try await audit.checkpoints(after: try Self.number(params, "after"), limit: limit) }
            let objects: [[String: Any]] = list.map {
                ["size": $0.size, "root_hash": Self.b64($0.rootHash), "note": $0.note.serialized]
            }
            return HTTP.json(try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        group.get("/key") { request, context in
            _ = try context.administrator()
            return Self.text(audit.verifierKey + "\n")
        }
    }

    /// Turns audit errors into domain errors rendered at the edge.
    func wrap<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as AuditError {
            switch e.code {
            case .outOfRange: throw PortcullisError(.notFound, e.reason)
            default: throw PortcullisError(.storage, e.reason)
            }
        }
    }

    static func b64(_ hash: [UInt8]) -> String { Data(hash).base64EncodedString() }

    static func object(_ entry: AuditLogEntry) throws -> [String: Any] {
        let event = try JSONSerialization.jsonObject(with: Data(entry.canonical)) as? [String: Any]
        return ["index": entry.index, "leaf_hash": b64(entry.leafHash), "event": event?["event"] ?? [:],
                "entry": String(decoding: entry.canonical, as: UTF8.self)]
    }

    static func lines(_ lines: [String]) -> Response {
        let body = lines.map { $0 + "\n" }.joined()
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func text(_ s: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: s)))
    }

    static func number(_ params: Parameters, _ key: String) throws -> UInt64? {
        guard let raw = params[Substring(key)] else { return nil }
        guard let n = UInt64(raw) else { throw PortcullisError(.invalidInput, "`\(key)` must be a non-negative integer") }
        return n
    }

    /// A time bound: Unix nanoseconds, or an RFC 3339 date.
    static func time(_ params: Parameters, _ key: String) throws -> Int64? {
        guard let raw = params[Substring(key)].map(String.init) else { return nil }
        if let n = Int64(raw) { return n }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = formatter.date(from: raw) ?? ISO8601DateFormatter().date(from: raw) { return AuditEvent.nowNanos(d) }
        throw PortcullisError(.invalidInput, "`\(key)` must be Unix nanoseconds or an RFC 3339 time")
    }

    static func query(_ params: Parameters) throws -> AuditQuery {
        func s(_ k: String) -> String? { params[Substring(k)].map(String.init) }
        if let d = s("decision"), AuditEvent.Decision(rawValue: d) == nil {
            throw PortcullisError(.invalidInput, "`decision` must be allow, deny or pending")
        }
        if let k = s("kind"), AuditEvent.Kind(rawValue: k) == nil {
            throw PortcullisError(.invalidInput, "`kind` must be decision, admin, token or alert")
        }
        return AuditQuery(agent: s("agent"), user: s("user"), decision: s("decision"), kind: s("kind"), action: s("action"),
                          resource: s("resource") ?? s("tool"), actor: s("actor"), since: try time(params, "since"),
                          until: try time(params, "until"), fromIndex: try number(params, "from"),
                          beforeIndex: try number(params, "before"), limit: Int(min(try number(params, "limit") ?? 100, 10_000)),
                          ascending: s("order") == "asc")
    }
}
