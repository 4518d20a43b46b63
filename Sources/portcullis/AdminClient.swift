import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where the admin commands send requests, and with which credential.
struct AdminOptions: ParsableArguments {
    @Option(help: "Portcullis server URL.") var server = "http://127.0.0.1:8640"
    @Option(help: "Admin token file (default: $PORTCULLIS_ADMIN_TOKEN, else ./portcullis-data/admin.token).")
    var tokenFile: String?
    @Option(help: "Who is acting, recorded in the agent's history (default: $USER).") var actor: String?
    @Flag(help: "Print JSON instead of text.") var json = false

    func token() throws -> String {
        if tokenFile == nil, let env = ProcessInfo.processInfo.environment["PORTCULLIS_ADMIN_TOKEN"], !env.isEmpty {
            return env
        }
        let path = tokenFile ?? "./portcullis-data/admin.token"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("no admin token: set PORTCULLIS_ADMIN_TOKEN or pass --token-file (tried \(path))")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Sends a request to the admin API and returns the decoded JSON, or fails with the server's reason.
    func call(_ method: String, _ path: String, body: [String: Any]? = nil, bearer: String? = nil) async throws -> Any {
        let data = try await raw(method, path, body: body, bearer: bearer)
        guard let object = try? JSONSerialization.jsonObject(with: data) else {
            throw ValidationError("the server answered with something other than JSON")
        }
        return object
    }

    /// Sends a request to the admin API and returns the body as it came (a CSV report), or fails with the reason.
    func raw(_ method: String, _ path: String, body: [String: Any]? = nil, bearer: String? = nil) async throws -> Data {
        var request = HTTPClientRequest(url: server.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(try bearer ?? token())")
        request.headers.add(name: "X-Portcullis-Actor", value: actor ?? ProcessInfo.processInfo.environment["USER"] ?? "cli")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            throw ValidationError("cannot reach Portcullis at \(server): \(error)")
        }
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let data = Data(bytes.readableBytesView)
        let object = try? JSONSerialization.jsonObject(with: data)
        guard (200..<300).contains(Int(response.status.code)) else {
            let reason = (object as? [String: Any])?["reason"] as? String ?? String(decoding: data, as: UTF8.self)
            throw ValidationError("\(response.status.code) \(response.status.reasonPhrase): \(reason)")
        }
        return data
    }

    /// Prints a JSON value as JSON or as indented text.
    func show(_ value: Any) throws {
        if json {
            let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else if let object = value as? [String: Any] {
            for key in object.keys.sorted() { print("\(key): \(Self.text(object[key]!))") }
        } else {
            print(Self.text(value))
        }
    }

    /// One path segment, percent-encoded.
    static func path(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? segment
    }

    static func text(_ v: Any) -> String {
        switch v {
        case let s as String: return s
        case let a as [Any]: return a.map(text).joined(separator: ", ")
        case is NSNull: return "-"
        case let n as NSNumber: return n.description
        default:
            let data = (try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }
}
