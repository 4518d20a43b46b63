import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
public import PortcullisCore
import PortcullisIdentity

/// Errors render themselves at the edge: a ``PortcullisError`` is its own HTTP answer.
extension PortcullisError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch code {
        case .notFound: .notFound
        case .conflict, .concurrentUpdate: .conflict
        case .invalidInput: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .storage, .configuration, .internalError: .serviceUnavailable
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = HTTP.portcullisError(self)
        if code == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer realm=\"portcullis-admin\"" }
        return response
    }
}

/// Turns the errors that are not ``PortcullisError`` into one: a malformed JSON body is bad input
/// (with the field named), anything unexpected is an internal error with its description. Nothing
/// escapes as a bare 500.
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = PortcullisRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as PortcullisError {
            throw e
        } catch let e as DecodingError {
            throw PortcullisError(.invalidInput, "malformed JSON body: \(Self.describe(e))")
        } catch let e as OAuthError {
            throw PortcullisError(.invalidInput, e.description)
        } catch let e as any HTTPResponseError {
            throw e
        } catch {
            throw PortcullisError(.internalError, "\(error)")
        }
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let k, _): "missing field `\(k.stringValue.snakeCased)`"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            "wrong type at `\(c.codingPath.map(\.stringValue.snakeCased).joined(separator: "."))`"
        case .dataCorrupted(let c): "invalid JSON (\(c.debugDescription))"
        @unknown default: "invalid JSON"
        }
    }
}
