import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisCore
import PortcullisEnforcement
import PortcullisIdentity
import PortcullisVault

/// Per-user credentials: a user connects an HTTP upstream once, and agents acting for that user get that user's
/// access (docs/http-gateway.md, "Per-user credentials").
///
/// - `POST /connect/<upstream>[?credential=read|write]`, with the user's identity-provider token as bearer: a
///   single-use link (10 minutes) for the browser.
/// - `GET /connect/<upstream>/begin?ticket=…`: a page naming the user and the upstream, with a confirm button. The
///   page sets a SameSite=Strict cookie that the confirmation must echo, so another site cannot confirm for the
///   browser (connect CSRF).
/// - `POST /connect/<upstream>/begin`: starts authorization code + PKCE, binds the flow to the browser with a
///   cookie, sends the browser to the upstream's authorization server.
/// - `GET /connect/callback`: redeems the code, records the connection in the audit log, stores the refresh token
///   sealed under (secret, user).
/// - `GET /connect` and `DELETE /connect/<upstream>` (user's bearer): the user's connections; disconnecting.
struct ConnectRoutes: Sendable {
    let services: PortcullisApplication.Services

    var issuer: String { services.configuration.effectiveIssuer }
    var redirectURI: String { issuer + "/connect/callback" }
    var secureCookies: Bool { issuer.hasPrefix("https://") }
    static let bindingCookie = "portcullis_connect"
    static let confirmCookie = "portcullis_connect_confirm"

    func register(on router: Router<PortcullisRequestContext>) {
        router.get("/connect") { request, _ in
            await guarded {
                let user = try await authenticateUser(request)
                var rows: [[String: Any]] = []
                for grant in try await services.vault.grants(user: user) {
                    for (upstream, role) in usages(of: grant.secret) {
                        var row: [String: Any] = ["upstream": upstream, "credential": role, "secret": grant.secret,
                                                  "connected_at": ISO8601DateFormatter().string(from: grant.createdAt),
                                                  "updated_at": ISO8601DateFormatter().string(from: grant.updatedAt)]
                        if let scope = grant.scope { row["scope"] = scope }
                        rows.append(row)
                    }
                }
                return HTTP.json(object: ["user": user, "connections": rows])
            }
        }
        router.post("/connect/:upstream") { request, context in
            await guarded {
                let user = try await authenticateUser(request)
                let (upstream, secret) = try await perUserSecret(context, request)
                let (ticket, expiry) = try await services.connections.issueTicket(secret: secret, upstream: upstream, user: user)
                return HTTP.json(object: [
                    "url": "\(issuer)/connect/\(upstream)/begin?ticket=\(ticket)", "user": user, "upstream": upstream,
                    "expires_at": ISO8601DateFormatter().string(from: expiry),
                ], status: .created)
            }
        }
        router.delete("/connect/:upstream") { request, context in
            await guarded {
                let user = try await authenticateUser(request)
                let (upstream, secret) = try await perUserSecret(context, request)
                guard try await services.vault.grants(secret: secret, user: user).isEmpty == false else {
                    throw ConnectFailure(404, "not_connected", "user \(Printable.clip(user, 80)) has not connected `\(upstream)`")
                }
                try await services.recordAdmin(actor: "user:" + user, action: "vault.disconnect", resource: "vault:\(secret)",
                                               reason: "user \(user) disconnected `\(upstream)`")
                try await services.vault.deleteGrant(secret: secret, user: user)
                services.injector.forgetTokens(secret: secret, user: user)
                return Response(status: .noContent)
            }
        }
        router.get("/connect/:upstream/begin") { request, context in
            let upstream = (try? context.parameters.require("upstream")) ?? ""
            guard let ticket = request.uri.queryParameters["ticket"].map(String.init),
                  let t = services.connections.peek(ticket: ticket), t.upstream == upstream else {
                return page(.badRequest, "Link not usable", "This connection link is unknown, used or expired. Ask for a new one.")
            }
            let confirm = Hex.random(32)
            // The confirmation's redirect goes to the authorization server: CSP `form-action` must allow it.
            let authorize = (try? await services.vault.entry(name: t.secret))?.metadata["authorize_url"]
            var response = page(.ok, "Connect \(t.upstream)", """
                <p>Agents acting for <strong>\(ConsoleHTML.h(t.user))</strong> will use your access to \
                <strong>\(ConsoleHTML.h(t.upstream))</strong>. Continue only if you asked for this link.</p>
                <form method="post" action="/connect/\(ConsoleHTML.h(t.upstream))/begin">
                <input type="hidden" name="ticket" value="\(ConsoleHTML.h(ticket))">
                <input type="hidden" name="confirm" value="\(confirm)">
                <button type="submit">Connect \(ConsoleHTML.h(t.upstream))</button>
                </form>
                """, formTarget: authorize.flatMap(HTTP.origin))
            response.headers[values: .setCookie] = [cookie(Self.confirmCookie, confirm, sameSite: "Strict",
                                                           path: "/connect/\(t.upstream)/begin")]
            return response
        }
        router.post("/connect/:upstream/begin") { request, context in
            var request = request
            let upstream = (try? context.parameters.require("upstream")) ?? ""
            let form: [String: [String]]
            do {
                form = try HTTP.form(try await HTTP.body(&request, limit: 4096))
            } catch {
                return page(.badRequest, "Not connected", "The confirmation could not be read.")
            }
            // Double submit: the cookie set by the page (SameSite=Strict, so never sent by another site's form) must
            // match the form's value.
            guard let confirm = form["confirm"]?.first, let sent = Self.cookie(Self.confirmCookie, in: request),
                  HTTP.constantTimeEqual(confirm, sent) else {
                return page(.forbidden, "Not connected", "The confirmation did not come from the connection page. Open the link again.")
            }
            guard let ticket = form["ticket"]?.first, services.connections.peek(ticket: ticket)?.upstream == upstream else {
                return page(.badRequest, "Link not usable", "This connection link is unknown, used or expired. Ask for a new one.")
            }
            do {
                let (url, binding, _) = try await services.connections.begin(ticket: ticket, redirectURI: redirectURI)
                var headers: HTTPFields = [.location: url, .cacheControl: "no-store"]
                headers[values: .setCookie] = [cookie(Self.bindingCookie, binding, sameSite: "Lax", path: "/connect/callback"),
                                               cookie(Self.confirmCookie, "", sameSite: "Strict",
                                                      path: "/connect/\(upstream)/begin", maxAge: 0)]
                return Response(status: .seeOther, headers: headers)
            } catch let e as VaultError {
                return page(.badRequest, "Not connected", e.message)
            } catch {
                return page(.internalServerError, "Not connected", "The connection could not be started.")
            }
        }
        router.get("/connect/callback") { request, _ in
            let q = request.uri.queryParameters
            let clear = cookie(Self.bindingCookie, "", sameSite: "Lax", path: "/connect/callback", maxAge: 0)
            var response: Response
            do {
                let connected = try await services.connections.complete(
                    state: q["state"].map(String.init) ?? "", binding: Self.cookie(Self.bindingCookie, in: request),
                    code: q["code"].map(String.init), error: q["error"].map(String.init), issuer: q["iss"].map(String.init)
                ) { c in
                    try await services.recordAdmin(actor: "user:" + c.user, action: "vault.connect", resource: "vault:\(c.secret)",
                                                   reason: "user \(c.user) connected `\(c.upstream)`" + (c.scope.map { " (scope \($0))" } ?? ""))
                }
                response = page(.ok, "Connected", "<p><strong>\(ConsoleHTML.h(connected.upstream))</strong> is connected for <strong>\(ConsoleHTML.h(connected.user))</strong>. You can close this page.</p>")
            } catch let e as VaultError {
                response = page(e.code == .credentialUnavailable ? .badGateway : .badRequest, "Not connected", e.message)
            } catch {
                response = page(.serviceUnavailable, "Not connected", "The connection could not be recorded; nothing was stored.")
            }
            response.headers[values: .setCookie] = [clear]
            return response
        }
    }

    // MARK: - Pieces

    struct ConnectFailure: Error {
        var status: Int
        var code: String
        var message: String
        init(_ status: Int, _ code: String, _ message: String) {
            self.status = status
            self.code = code
            self.message = message
        }
    }

    /// JSON errors for the API routes (the browser routes answer pages).
    func guarded(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let e as ConnectFailure {
            var headers: HTTPFields = [:]
            if e.status == 401 { headers[.wwwAuthenticate] = "Bearer error=\"invalid_token\"" }
            let data = (try? JSONSerialization.data(withJSONObject: ["error": e.code, "message": e.message], options: [.sortedKeys])) ?? Data()
            return HTTP.json(data, status: HTTPResponse.Status(code: e.status), extraHeaders: headers)
        } catch let e as VaultError {
            let status = e.code == .notFound ? 404 : e.code == .invalidInput ? 400 : 503
            return HTTP.json(object: ["error": e.code.rawValue, "message": e.message], status: HTTPResponse.Status(code: status))
        } catch {
            return HTTP.json(object: ["error": "unavailable", "message": "the connection could not be handled; nothing was changed"],
                             status: .serviceUnavailable)
        }
    }

    /// The user behind a request: a token from a trusted identity provider (the same kind a user exchanges for an
    /// agent's token), its audience this server.
    func authenticateUser(_ request: Request) async throws -> String {
        guard let token = HTTP.bearer(request) else {
            throw ConnectFailure(401, "invalid_token", "a user's token from a trusted identity provider is required (Authorization: Bearer …)")
        }
        guard let iss = JWTPeek.claim("iss", of: token),
              let idp = services.tokenService.identityProviders.first(where: { $0.issuer == iss }) else {
            throw ConnectFailure(401, "invalid_token", "the token's issuer is not a trusted identity provider")
        }
        do {
            let claims = try idp.verify(token, now: Date())
            guard let sub = claims["sub"]?.stringValue, !sub.isEmpty else {
                throw ConnectFailure(401, "invalid_token", "the token has no `sub`")
            }
            return sub
        } catch let e as OAuthError {
            throw ConnectFailure(401, "invalid_token", e.description)
        }
    }

    /// The upstream named in the path and its per-user secret (`credential=read|write`; by default the read one, or
    /// the write one when only it is per-user).
    func perUserSecret(_ context: PortcullisRequestContext, _ request: Request) async throws -> (String, String) {
        let name = (try? context.parameters.require("upstream")) ?? ""
        guard let u = services.configuration.gateway.httpUpstreams?.first(where: { $0.name == name }) else {
            throw ConnectFailure(404, "not_found", "no HTTP upstream named `\(Printable.clip(name, 64))`")
        }
        let role = request.uri.queryParameters["credential"].map(String.init)
        let candidates: [String?]
        switch role {
        case nil: candidates = [u.credentials?.read, u.credentials?.write]
        case "read": candidates = [u.credentials?.read]
        case "write": candidates = [u.credentials?.write]
        default: throw ConnectFailure(400, "invalid_request", "`credential` must be `read` or `write`")
        }
        let secrets = candidates.compactMap { $0.flatMap(HTTPUpstreamConfiguration.vaultSecret) }
        for secret in secrets where try await services.vault.entry(name: secret)?.kind == VaultSecretKind.oauthUser.rawValue {
            return (name, secret)
        }
        throw ConnectFailure(404, "not_found", "`\(name)` has no per-user (`oauth_user`) credential to connect")
    }

    /// Where a secret is used: (upstream, read|write).
    func usages(of secret: String) -> [(String, String)] {
        var out: [(String, String)] = []
        for u in services.configuration.gateway.httpUpstreams ?? [] {
            if u.credentials?.read.flatMap(HTTPUpstreamConfiguration.vaultSecret) == secret { out.append((u.name, "read")) }
            if u.credentials?.write.flatMap(HTTPUpstreamConfiguration.vaultSecret) == secret { out.append((u.name, "write")) }
        }
        return out.isEmpty ? [("", "unused")] : out
    }

    func cookie(_ name: String, _ value: String, sameSite: String, path: String, maxAge: Int = Int(UserConnections.lifetime)) -> String {
        "\(name)=\(value); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=\(sameSite)" + (secureCookies ? "; Secure" : "")
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        cookie(name, headers: request.headers[values: .cookie])
    }

    /// The value of cookie `name` in `Cookie` header values (RFC 6265 §5.4: `name=value` pairs separated by `;`).
    /// A name that appears twice is ambiguous (a cookie planted for a wider path or domain could shadow ours): nil.
    static func cookie(_ name: String, headers: [String]) -> String? {
        var found: String?
        for header in headers {
            for part in header.split(separator: ";") {
                let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard pair.count == 2, HTTPText.trimmed(pair[0]) == name else { continue }
                if found != nil { return nil }
                found = String(HTTPText.trimmed(pair[1]))
            }
        }
        return found.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A small HTML page; every interpolated value is escaped by the caller.
    func page(_ status: HTTPResponse.Status, _ title: String, _ body: String, formTarget: String? = nil) -> Response {
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(ConsoleHTML.h(title)) · Portcullis</title>
            <meta name="viewport" content="width=device-width, initial-scale=1"></head>
            <body><h1>\(ConsoleHTML.h(title))</h1>\(body.hasPrefix("<") ? body : "<p>\(ConsoleHTML.h(body))</p>")</body></html>
            """
        return Response(status: status,
                        headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                  .contentSecurityPolicy: "default-src 'none'; form-action 'self'\(formTarget.map { " " + $0 } ?? ""); frame-ancestors 'none'",
                                  HTTPField.Name("Referrer-Policy")!: "no-referrer"],
                        body: .init(byteBuffer: ByteBuffer(string: html)))
    }


}
