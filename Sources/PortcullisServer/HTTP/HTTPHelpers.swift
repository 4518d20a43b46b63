import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisCore
import PortcullisIdentity

/// Building blocks shared by the routes: JSON bodies, forms, errors at the edge.
enum HTTP {
    static let jsonEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.keyEncodingStrategy = .convertToSnakeCase
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    static let jsonDecoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    /// A JSON response; OAuth responses must not be cached (RFC 6749 §5.1).
    static func json(_ data: Data, status: HTTPResponse.Status = .ok, extraHeaders: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        for field in extraHeaders {
            headers[field.name] = field.value
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json(object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return json(data, status: status)
    }

    static func encode<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        json(try jsonEncoder.encode(value), status: status)
    }

    /// Renders an OAuth error (RFC 6749 §5.2); 401s carry `WWW-Authenticate`.
    static func oauthError(_ e: OAuthError) -> Response {
        var headers: HTTPFields = [:]
        if e.status == 401 {
            headers[.wwwAuthenticate] = "Bearer error=\"\(e.error)\""
        }
        let body: [String: Any] = ["error": e.error, "error_description": e.description]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return json(data, status: HTTPResponse.Status(code: e.status), extraHeaders: headers)
    }

    /// Renders a domain error for the admin API.
    static func portcullisError(_ e: PortcullisError) -> Response {
        json(object: ["error": e.code.rawValue, "reason": e.reason], status: e.status)
    }

    /// Collects the body, refusing more than `limit` bytes.
    static func body(_ request: inout Request, limit: Int) async throws(OAuthError) -> Data {
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch {
            throw OAuthError("invalid_request", "request body larger than \(limit) bytes or unreadable", status: 413)
        }
    }

    /// Parses `application/x-www-form-urlencoded`; a repeated parameter is an error (RFC 6749 §3.1).
    static func form(_ data: Data, repeatable: Set<String> = []) throws(OAuthError) -> [String: [String]] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalidRequest("the body is not UTF-8")
        }
        guard let pairs = FormEncoding.pairs(text) else { throw .invalidRequest("malformed form encoding") }
        var out: [String: [String]] = [:]
        for (key, value) in pairs {
            if out[key] != nil, !repeatable.contains(key) {
                throw .invalidRequest("parameter `\(key)` is repeated")
            }
            out[key, default: []].append(value)
        }
        return out
    }

    /// The bearer credential of an `Authorization` header, if any.
    static func bearer(_ request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(HTTPText.trimmed(parts[1]))
    }

    /// `scheme://host[:port]` of a URL: what a browser sends as `Origin` for a page there.
    static func origin(_ url: String) -> String? {
        guard let u = URLComponents(string: url), let scheme = u.scheme, let host = u.host else { return nil }
        return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)" + (u.port.map { ":\($0)" } ?? "")
    }

    /// Compares secrets in constant time.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }
}

extension HTTPField.Name {
    static let dpop = HTTPField.Name("DPoP")!
}
