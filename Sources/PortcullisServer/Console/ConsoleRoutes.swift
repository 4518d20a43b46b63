import Cedar
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PortcullisAudit
import PortcullisCore
import PortcullisEnforcement
import PortcullisGateway
import ServiceLifecycle

/// A console answer that is not a page: a redirect (303), or an error page with its status.
struct ConsoleAnswer: Error, HTTPResponseError {
    var status: HTTPResponse.Status
    var location: String?
    var message: String
    var cookie: String?

    static func redirect(_ location: String, cookie: String? = nil) -> ConsoleAnswer {
        ConsoleAnswer(status: .seeOther, location: location, message: "", cookie: cookie)
    }

    static func refuse(_ status: HTTPResponse.Status, _ message: String) -> ConsoleAnswer {
        ConsoleAnswer(status: status, location: nil, message: message, cookie: nil)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var extra: HTTPFields = [:]
        if let location { extra[.location] = location }
        if let cookie { extra[.setCookie] = cookie }
        if location != nil { return ConsoleHTML.response("", status: status, extra: extra) }
        let title = status == .forbidden ? "Not allowed" : status == .notFound ? "Not found" : "Cannot do that"
        return ConsoleHTML.response(ConsoleHTML.page(title, active: nil, person: nil,
            "<p class=\"error\" id=\"error\">\(ConsoleHTML.h(message))</p><p><a href=\"/console\">Back to the console</a></p>"),
            status: status, extra: extra)
    }
}

/// The web console (docs/console.md): server-rendered pages over the same services as the admin API, for named
/// people signed in with their own credential. Every page and every action is authorized by Cedar
/// (``ConsoleState/authorize(_:_:resource:)``) and every change is audited under the person's name.
struct ConsoleRoutes: Sendable {
    let services: PortcullisApplication.Services
    var state: ConsoleState { services.console }
    static let cookieName = "portcullis_console"
    typealias H = ConsoleHTML

    func register(on router: Router<PortcullisRequestContext>) {
        router.get("/console") { _, _ -> Response in throw ConsoleAnswer.redirect("/console/overview") }
        let console = router.group("/console")
        console.get("/assets/console.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(string: H.script)))
        }
        registerSignIn(on: console)
        registerOverview(on: console)
        registerAgents(on: console)
        registerDecisions(on: console)
        registerApprovals(on: console)
        registerTools(on: console)
        registerPolicies(on: console)
    }

    // MARK: - Sessions, forms, authorization

    func cookie(_ request: Request) -> String? {
        for field in request.headers[values: .cookie] {
            for part in field.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == Self.cookieName { return String(kv[1]) }
            }
        }
        return nil
    }

    func sessionCookie(_ id: String, maxAge: Int) -> String {
        "\(Self.cookieName)=\(id); Path=/console; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)" + (state.cookieSecure ? "; Secure" : "")
    }

    /// The signed-in person; a missing, expired or revoked session goes to the sign-in page.
    func session(_ request: Request, touch: Bool = true) async throws -> ConsoleState.Session {
        guard let id = cookie(request), let s = state.session(id, touch: touch) else { throw ConsoleAnswer.redirect("/console/signin") }
        if s.name != ConsoleState.operatorName {
            // Removed, or given another role: the session ends at once.
            let person = try await services.approvalStore.approvers().first { $0.name == s.name }
            guard let person, person.role == s.role else {
                state.closeAll(name: s.name)
                throw ConsoleAnswer.redirect("/console/signin")
            }
        }
        return s
    }

    /// Refuses an action Cedar does not permit; the refusal is audited under the person's name.
    func authorize(_ s: ConsoleState.Session, _ action: ConsoleState.Action, _ resource: EntityUID) async throws {
        let (allowed, reason) = state.authorize(s, action, resource: resource)
        guard allowed else {
            try? await services.recordAdmin(actor: s.actor, action: "console.refused", resource: "\(resource.type)::\(resource.id)",
                                            reason: "\(action.rawValue): \(reason)")
            throw ConsoleAnswer.refuse(.forbidden, "\(s.name) (\(s.role.rawValue)) may not \(action.rawValue.replacingOccurrences(of: "_", with: " ")): \(reason)")
        }
    }

    /// The posted form of a signed-in person: same origin, and carrying the session's CSRF token.
    func form(_ request: Request, _ s: ConsoleState.Session) async throws -> [String: String] {
        var request = request
        try sameOrigin(request)
        let fields = try await fields(&request)
        guard let token = fields["csrf"], HTTP.constantTimeEqual(token, s.csrf) else {
            try? await services.recordAdmin(actor: s.actor, action: "console.refused", resource: request.uri.path,
                                            reason: "a form without this session's CSRF token")
            throw ConsoleAnswer.refuse(.forbidden, "the form is missing this session's CSRF token (it may come from another site); nothing was done")
        }
        return fields
    }

    func fields(_ request: inout Request) async throws -> [String: String] {
        do {
            let data = try await HTTP.body(&request, limit: services.configuration.maxBodyBytes)
            return try HTTP.form(data).compactMapValues(\.first)
        } catch {
            throw ConsoleAnswer.refuse(.badRequest, "the form could not be read: \(error)")
        }
    }

    /// A form posted from another origin is refused before anything else (browsers send `Origin` on posts).
    func sameOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin] else { return }
        guard origin == HTTP.origin(state.issuer) else {
            throw ConsoleAnswer.refuse(.forbidden, "a form from another origin (\(origin)) was refused")
        }
    }

    func reason(_ fields: [String: String]) throws -> String {
        let reason = (fields["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw ConsoleAnswer.refuse(.badRequest, "a reason is required; nothing was done") }
        return reason
    }

    func page(_ title: String, _ active: String?, _ s: ConsoleState.Session, _ request: Request, _ body: String) -> Response {
        H.response(H.page(title, active: active, person: s, notice: request.uri.queryParameters["notice"].map(String.init), body))
    }

    func csrfField(_ s: ConsoleState.Session) -> String { "<input type=\"hidden\" name=\"csrf\" value=\"\(s.csrf)\">" }

    // MARK: - Sign-in

    func registerSignIn(on console: RouterGroup<PortcullisRequestContext>) {
        console.get("/signin") { request, _ -> Response in
            // A link's code is spent by a same-origin POST, never by the GET: a mail scanner that follows the link
            // does not use it up, and a link sent by somebody else does not sign a browser in behind its back.
            if let code = request.uri.queryParameters["code"].map(String.init) {
                guard let read = state.readCode(code) else {
                    throw ConsoleAnswer.refuse(.forbidden, "this sign-in link is not valid or has expired; ask an administrator for a new one")
                }
                return H.response(H.page("Sign in", active: nil, person: nil, """
                    <form method="post" action="/console/signin" id="link-signin"><input type="hidden" name="code" value="\(H.h(code))">
                    <p>Sign in to Portcullis as <b>\(H.h(read.name))</b> (\(read.role.rawValue))?</p>
                    <p><button id="use-link">Sign in as \(H.h(read.name))</button></p></form>
                    <p>The link works once. If you did not ask for it, close this page.</p>
                    """))
            }
            return H.response(H.page("Sign in", active: nil, person: nil, """
                <form method="post" action="/console/signin" id="signin">
                <p><label>Your personal token (<code>pca_…</code>, from <code>portcullis approvers add NAME</code>)<br>
                <input type="password" name="token" size="60" autocomplete="off" autofocus></label></p>
                <p><button>Sign in</button></p></form>
                <p>Or open a one-time sign-in link: <code>portcullis serve</code> prints one, and
                <code>portcullis approvers add</code> gives one with each person's token. The admin token does not sign in here.</p>
                """))
        }
        console.post("/signin") { request, context -> Response in
            var request = request
            try sameOrigin(request)
            let fields = try await fields(&request)
            let previous = cookie(request)
            let peer = context.remoteAddress?.ipAddress ?? "unknown peer"
            if let code = fields["code"] {
                guard let read = state.readCode(code) else {
                    throw ConsoleAnswer.refuse(.forbidden, "this sign-in link is not valid or has expired; ask an administrator for a new one")
                }
                // Spent once, on every replica (the store's replay cache).
                guard try await services.registry.tokens.recordOnce(namespace: "console-signin", id: read.jti, expiresAt: read.expires) else {
                    throw ConsoleAnswer.refuse(.forbidden, "this sign-in link was already used; ask an administrator for a new one")
                }
                if read.name != ConsoleState.operatorName {
                    let person = try await services.approvalStore.approvers().first { $0.name == read.name }
                    guard person?.role == read.role else {
                        throw ConsoleAnswer.refuse(.forbidden, "`\(read.name)` is no longer a \(read.role.rawValue)")
                    }
                }
                return try await signedIn(read.name, read.role, via: "sign-in link", replacing: previous)
            }
            let token = fields["token"]?.trimmingCharacters(in: .whitespaces) ?? ""
            if HTTP.constantTimeEqual(token, services.adminToken) {
                throw ConsoleAnswer.refuse(.forbidden, "the shared admin token does not sign in to the console: sign in as a named person (portcullis approvers add NAME --role administrator)")
            }
            guard token.hasPrefix("pca_"), let person = try await services.approvalStore.approver(tokenDigest: AdminAuthenticator.digest(token)) else {
                // Counted, not one audit entry each: failed sign-ins from anyone must not grow the log at will.
                services.gateway.pipeline.refusals.note(action: "console.signin.refused", subject: peer, reason: "unknown token")
                throw ConsoleAnswer.refuse(.forbidden, "unknown token")
            }
            return try await signedIn(person.name, person.role, via: "personal token", replacing: previous)
        }
        console.post("/signout") { request, _ -> Response in
            let s = try await session(request)
            _ = try await form(request, s)
            state.close(s.id)
            throw ConsoleAnswer.redirect("/console/signin", cookie: sessionCookie("", maxAge: 0))
        }
    }

    func signedIn(_ name: String, _ role: Approver.Role, via: String, replacing previous: String?) async throws -> Response {
        try await services.recordAdmin(actor: "person:\(name)", action: "console.signin", resource: "console", reason: "signed in with a \(via)")
        if let previous { state.close(previous) }
        let s = state.open(name: name, role: role)
        throw ConsoleAnswer.redirect(role == .approver ? "/console/approvals" : "/console/overview",
                                     cookie: sessionCookie(s.id, maxAge: Int(ConsoleState.absolute)))
    }
}
