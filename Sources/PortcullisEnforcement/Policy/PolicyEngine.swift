public import Cedar
public import Foundation
import Synchronization

/// The gateway's policies: loaded from a directory of `.cedar` files (or the built-in default
/// pack), reloaded on change or on request, evaluated in-process.
///
/// Every load validates the set against Portcullis's schema (``PortcullisSchema``, strict Cedar validation): a set
/// that does not validate is not loaded. A reload that fails (a syntax error, a duplicate id, an unreadable file, a
/// validation error) keeps the policies in force and reports the error; the gateway never runs without a policy set. An empty directory
/// is a valid, empty set: everything is denied.
public final class PolicyEngine: Sendable {
    /// What is in force.
    public struct Snapshot: Sendable {
        /// The policies in force.
        public let policies: PolicySet
        /// The policies in force plus those annotated `@mode("shadow")`: what would decide if the shadow policies
        /// were in force. Nil when there are none. Evaluated beside the enforced set on every call; it never
        /// changes a decision (docs/policy-lifecycle.md).
        public let candidate: PolicySet?
        /// The ids of the shadow policies.
        public let shadowIDs: Set<String>
        /// The directory, or `built-in default`.
        public let source: String
        /// File name → modification time and size, to notice changes.
        let fingerprint: [String: String]
        public let loadedAt: Date
        /// Policies by id, for their annotations (`@reason`, `@obligation`).
        public let byID: [String: Policy]
        public var count: Int { policies.count }

        /// Whether some permit policy names the upstream in its resource scope (`resource == Upstream::"x"`,
        /// `resource in Upstream::"x"`, `resource is Endpoint in Upstream::"x"`, or one of its endpoints):
        /// what a `restricted` upstream needs before any agent may reach it. With `ids`, only those policies count
        /// (the ones that determined a decision).
        public func permitNames(upstream: String, among ids: [String]? = nil) -> Bool {
            let upstreamUID = EntityUID("Upstream", upstream)
            let candidates = ids.map { $0.compactMap { byID[$0] } } ?? Array(byID.values)
            return candidates.contains { policy in
                guard policy.effect == .permit else { return false }
                switch policy.resource {
                case .equal(let uid), .memberOf(let uid), .isTypeMemberOf(_, let uid):
                    return uid == upstreamUID || (uid.type == EntityType("Endpoint") && uid.id.string.hasPrefix(upstream + ":"))
                case .any, .isType:
                    return false
                }
            }
        }

        /// Whether some policy text mentions `history` (a rule over the session's history): then calls racing each
        /// other on the same tool are checked (``HistoryStage``). A comment that mentions it only makes that check
        /// run.
        public let referencesHistory: Bool
        /// What validation warned about (policies that can never apply), one line each.
        public let warnings: [String]

        init(policies: PolicySet, source: String, fingerprint: [String: String], loadedAt: Date, referencesHistory: Bool = false,
             warnings: [String] = [], candidate: PolicySet? = nil, shadowIDs: Set<String> = []) {
            self.referencesHistory = referencesHistory
            self.warnings = warnings
            self.policies = policies
            self.shadowIDs = shadowIDs
            self.candidate = candidate
            self.source = source
            self.fingerprint = fingerprint
            self.loadedAt = loadedAt
            self.byID = Dictionary((candidate ?? policies).policies.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    public let directory: String?
    private let current: Mutex<Snapshot>
    private let authorizer = Authorizer()

    /// Loads the policies; an error stops the start.
    public init(directory: String?) throws(GatewayConfigurationError) {
        self.directory = directory
        current = Mutex(try Self.load(directory))
    }

    public var snapshot: Snapshot { current.withLock { $0 } }

    /// Reloads from the directory. On failure the previous policies stay in force.
    @discardableResult
    public func reload() throws(GatewayConfigurationError) -> Snapshot {
        let fresh = try prepare()
        install(fresh)
        return fresh
    }

    /// Reads and parses the directory without putting anything in force, so that the change can be
    /// recorded before it acts (``install(_:)``). Throws when the set does not load.
    public func prepare() throws(GatewayConfigurationError) -> Snapshot {
        try Self.load(directory)
    }

    /// Like ``prepare()``, but nil when no file was added, removed or changed since the last load.
    public func prepareIfChanged() throws(GatewayConfigurationError) -> Snapshot? {
        guard let directory else { return nil }
        let now = try Self.fingerprint(directory)
        guard now != current.withLock({ $0.fingerprint }) else { return nil }
        return try prepare()
    }

    /// Puts a prepared policy set in force.
    public func install(_ snapshot: Snapshot) {
        current.withLock { $0 = snapshot }
    }

    /// Reloads if a file was added, removed or changed since the last load; nil when nothing changed.
    public func reloadIfChanged() throws(GatewayConfigurationError) -> Snapshot? {
        guard let fresh = try prepareIfChanged() else { return nil }
        install(fresh)
        return fresh
    }

    /// Evaluates a request against a snapshot's candidate set (the policies in force and the shadow ones); nil when
    /// it has no shadow policies.
    public func authorizeCandidate(_ request: Request, entities: Entities, snapshot: Snapshot) -> Response? {
        snapshot.candidate.map { authorizer.isAuthorized(request, entities: entities, policies: $0) }
    }

    /// Evaluates a request against the policies in force; also returns that snapshot (for annotations).
    public func authorize(_ request: Request, entities: Entities) -> (Response, Snapshot) {
        let snapshot = current.withLock { $0 }
        return (authorizer.isAuthorized(request, entities: entities, policies: snapshot.policies), snapshot)
    }

    /// Reads, parses and validates every `*.cedar` file of `directory` in name order (nil: the built-in pack).
    public static func load(_ directory: String?) throws(GatewayConfigurationError) -> Snapshot {
        let parsed = try parse(directory)
        let source = directory.map { "policies in \($0)" } ?? "the built-in policy pack"
        let warnings = try validated(parsed.policies, source: source)
        var enforced: [Policy] = []
        var shadow: [Policy] = []
        for policy in parsed.policies.policies {
            switch policy.annotation("mode") {
            case nil, "enforce": enforced.append(policy)
            case "shadow": shadow.append(policy)
            case let other?:
                throw GatewayConfigurationError("\(source): policy `\(policy.id)` has @mode(\"\(other)\"); "
                    + "the modes are \"enforce\" (the default) and \"shadow\"")
            }
        }
        let policies: PolicySet
        do {
            policies = try PolicySet(enforced)
        } catch {
            throw GatewayConfigurationError("\(source): \(error.message)")
        }
        return Snapshot(policies: policies, source: directory ?? "built-in default", fingerprint: parsed.fingerprint,
                        loadedAt: Date(), referencesHistory: parsed.referencesHistory, warnings: warnings,
                        candidate: shadow.isEmpty ? nil : parsed.policies, shadowIDs: Set(shadow.map(\.id)))
    }

    /// What strict validation against Portcullis's schema says of a directory's policies (nil: the built-in pack),
    /// after they parse; throws when they do not.
    public static func validation(of directory: String?) throws(GatewayConfigurationError) -> ValidationResult {
        PortcullisSchema.schema.validate(policies: try parse(directory).policies)
    }

    /// Reads and parses every `*.cedar` file of `directory` in name order, or the built-in pack.
    static func parse(_ directory: String?) throws(GatewayConfigurationError)
        -> (policies: PolicySet, fingerprint: [String: String], referencesHistory: Bool)
    {
        guard let directory else {
            do {
                return (try parse(DefaultPolicies.text, file: "default.cedar"), [:], false)
            } catch {
                throw GatewayConfigurationError("the built-in policy pack does not parse: \(error)")
            }
        }
        let print = try fingerprint(directory)
        var all: [Policy] = []
        var history = false
        for file in print.keys.sorted() {
            let path = (directory as NSString).appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw GatewayConfigurationError("cannot read policy file \(path)")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw GatewayConfigurationError("policy file \(path) is not UTF-8")
            }
            history = history || text.contains("history")
            do {
                all.append(contentsOf: try parse(text, file: file).policies)
            } catch {
                throw GatewayConfigurationError("policy file \(path): \(error)")
            }
        }
        do {
            return (try PolicySet(all), print, history)
        } catch {
            throw GatewayConfigurationError("policies in \(directory): \(error.message)")
        }
    }

    /// Validates a set against Portcullis's schema; returns the warnings, throws the errors.
    static func validated(_ policies: PolicySet, source: String) throws(GatewayConfigurationError) -> [String] {
        let result = PortcullisSchema.schema.validate(policies: policies)
        guard result.passed else {
            let errors = result.errors.prefix(20).map(\.description)
            let more = result.errors.count > 20 ? "; and \(result.errors.count - 20) more" : ""
            throw GatewayConfigurationError("\(source) do not validate against Portcullis's schema "
                + "(`portcullis policy validate`, docs/policy-validation.md): " + errors.joined(separator: "; ") + more)
        }
        return result.warnings.map(\.description)
    }

    /// Parses one file; a policy without `@id` is named `<file>#<n>` (its position in the file).
    static func parse(_ text: String, file: String) throws(CedarError) -> PolicySet {
        let parsed = try PolicySet(parsing: text)
        let named = parsed.policies.enumerated().map { n, p in p.withID(p.annotation("id") ?? "\(file)#\(n)") }
        return try PolicySet(named)
    }

    static func fingerprint(_ directory: String) throws(GatewayConfigurationError) -> [String: String] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw GatewayConfigurationError("policy directory \(directory) does not exist")
        }
        let names: [String]
        do {
            names = try fm.contentsOfDirectory(atPath: directory)
        } catch {
            throw GatewayConfigurationError("cannot list policy directory \(directory): \(error)")
        }
        var out: [String: String] = [:]
        for name in names where name.hasSuffix(".cedar") && !name.hasPrefix(".") {
            let attributes = try? fm.attributesOfItem(atPath: (directory as NSString).appendingPathComponent(name))
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            let size = (attributes?[.size] as? NSNumber)?.intValue ?? -1
            out[name] = "\(modified):\(size)"
        }
        return out
    }
}
