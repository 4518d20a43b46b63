import Cedar
import Crypto
public import Foundation
public import PortcullisCore
import Synchronization

/// The console's people and their sessions (docs/console.md).
///
/// - **Sign-in**: a person's own token (`pca_…`, made by `portcullis approvers add NAME [--role administrator]`), or a
///   one-time sign-in link. A link carries a code MACed with a key derived from the node's signing key (replicas
///   share it), lasts 15 minutes and is spent once in the store's replay cache (so once across replicas). The
///   bootstrap admin token never signs anyone in: it is a shared secret and has no name.
/// - **Sessions**: 256-bit random ids in an `HttpOnly`, `SameSite=Strict` cookie scoped to `/console` (`Secure` when
///   the issuer is https), in this node's memory; they end after 30 minutes idle or 12 hours, on sign-out, and at
///   once when the person is removed or changes role. Each has its own CSRF token, required on every form post,
///   beside an `Origin` check.
/// - **Authorization**: every page and action is a Cedar request (principal `Person`, with its role), decided by
///   the same engine as the agents' calls, against the policies below; a refusal is audited under the person's name.
public final class ConsoleState: Sendable {
    public struct Session: Sendable {
        public var id: String
        public var name: String
        public var role: Approver.Role
        public var csrf: String
        var created: Date
        var lastSeen: Date
        /// The person's actor name in the audit log.
        public var actor: String { "person:\(name)" }
    }

    static let idle: TimeInterval = 30 * 60
    static let absolute: TimeInterval = 12 * 3600
    static let linkLifetime: TimeInterval = 15 * 60
    /// The person a `portcullis serve` sign-in link names: whoever holds the data directory.
    public static let operatorName = "operator"

    private let sessions = Mutex<[String: Session]>([:])
    private let macKey: SymmetricKey
    let issuer: String
    let policies: PolicySet
    let authorizer = Authorizer()

    init(signingKeyJWK: String, issuer: String) {
        // A key of its own for sign-in codes, derived from the signing key (never used to sign tokens).
        macKey = SymmetricKey(data: SHA256.hash(data: Array(("portcullis console sign-in\n" + signingKeyJWK).utf8)))
        self.issuer = issuer
        // The policies are Portcullis's own; a parse failure is a programming error caught by the tests.
        policies = try! PolicySet.parse(Self.policyText, idsFromAnnotations: true)
    }

    // MARK: - Sign-in links

    /// A one-time sign-in link for `name` (15 minutes).
    public func signInLink(name: String, role: Approver.Role, now: Date = Date()) throws -> String {
        let payload: [String: Any] = ["n": name, "r": role.rawValue, "e": Int(now.timeIntervalSince1970 + Self.linkLifetime),
                                      "j": Hex.random(16)]
        let body = Base64URL.encode(try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys]))
        let mac = Base64URL.encode(Data(HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: macKey)))
        return "\(issuer)/console/signin?code=\(body).\(mac)"
    }

    /// What a valid code says: who, which role, its one-time id and when it ends. Nil for anything else.
    func readCode(_ code: String, now: Date = Date()) -> (name: String, role: Approver.Role, jti: String, expires: Date)? {
        let parts = code.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = Base64URL.decode(String(parts[1])),
              HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Array(parts[0].utf8), using: macKey),
              let data = Base64URL.decode(String(parts[0])),
              let payload = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let name = payload["n"] as? String, let role = (payload["r"] as? String).flatMap(Approver.Role.init),
              let jti = payload["j"] as? String, let expires = payload["e"] as? Int,
              Double(expires) > now.timeIntervalSince1970 else { return nil }
        return (name, role, jti, Date(timeIntervalSince1970: Double(expires)))
    }

    // MARK: - Sessions

    func open(name: String, role: Approver.Role, now: Date = Date()) -> Session {
        let session = Session(id: Hex.random(32), name: name, role: role, csrf: Hex.random(32), created: now, lastSeen: now)
        sessions.withLock { table in
            table = table.filter { now.timeIntervalSince($0.value.lastSeen) < Self.idle }
            table[session.id] = session
        }
        return session
    }

    /// The live session with this id, or nil. A person's request restarts its idle timer (`touch`); the live
    /// decisions stream, which polls, does not, so an open tab does not keep a session alive.
    func session(_ id: String, now: Date = Date(), touch: Bool = true) -> Session? {
        sessions.withLock { table in
            guard var s = table[id] else { return nil }
            guard now.timeIntervalSince(s.lastSeen) < Self.idle, now.timeIntervalSince(s.created) < Self.absolute else {
                table[id] = nil
                return nil
            }
            if touch {
                s.lastSeen = now
                table[id] = s
            }
            return s
        }
    }

    func close(_ id: String) { sessions.withLock { $0[id] = nil } }

    /// Ends every session of a person (removed, or their role changed).
    func closeAll(name: String) { sessions.withLock { $0 = $0.filter { $0.value.name != name } } }

    var cookieSecure: Bool { issuer.hasPrefix("https://") }

    // MARK: - Authorization

    /// Console actions, each a Cedar action.
    public enum Action: String, Sendable, CaseIterable {
        case viewOverview = "view_overview", viewAgents = "view_agents", viewDecisions = "view_decisions"
        case viewApprovals = "view_approvals", viewTools = "view_tools", viewPolicies = "view_policies"
        case viewAudit = "view_audit"
        case suspendAgent = "suspend_agent", resumeAgent = "resume_agent", killAgent = "kill_agent"
        case decideApproval = "decide_approval", approveTool = "approve_tool", blockTool = "block_tool"
        case testPolicy = "test_policy"
    }

    static let policyText = """
        @id("administrators-run-portcullis")
        @reason("administrators see and steer everything")
        permit (principal is Person, action, resource) when { principal.role == "administrator" };

        @id("approvers-decide-approvals")
        @reason("approvers see pending calls and decide them")
        permit (principal is Person, action in [Action::"view_approvals", Action::"decide_approval"], resource)
        when { principal.role == "approver" };
        """

    /// The console's entities and actions, against which its policies are validated (the tests).
    static let schemaText = """
        entity Person { name: String, role: String };
        entity Console;
        entity Agent;
        entity Approval;
        entity Tool;
        action view_overview, view_agents, view_decisions, view_approvals, view_tools, view_policies, view_audit,
               suspend_agent, resume_agent, kill_agent, decide_approval, approve_tool, block_tool, test_policy
          appliesTo { principal: Person, resource: [Console, Agent, Approval, Tool] };
        """

    /// The Cedar decision on a person's action; the reason names what denied it.
    func authorize(_ session: Session, _ action: Action, resource: EntityUID) -> (allowed: Bool, reason: String) {
        let person = EntityUID("Person", session.name)
        let entities: Entities
        do {
            entities = try Entities([Entity(uid: person, attributes: ["name": .string(session.name), "role": .string(session.role.rawValue)])])
        } catch {
            return (false, "the person's entity could not be built (\(error)); denied")
        }
        let response = authorizer.isAuthorized(Request(principal: person, action: EntityUID("Action", action.rawValue),
                                                       resource: resource), entities: entities, policies: policies)
        guard response.decision == .allow else {
            return (false, response.errors.isEmpty ? "no policy permits an \(session.role.rawValue) to \(action.rawValue)"
                                                   : "a console policy errored; denied")
        }
        return (true, "permitted by \(response.reasons.joined(separator: ", "))")
    }
}
