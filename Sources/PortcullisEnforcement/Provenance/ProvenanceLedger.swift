public import Cedar
public import Foundation
public import PortcullisCore
public import Synchronization

/// Where each argument value of a call came from (docs/provenance.md).
public struct ProvenanceReport: Sendable, Equatable {
    public enum Label: String, Sendable, Comparable {
        /// The user's delegated intent names it (the task statement or `authorization_details`).
        case intent
        /// Seen in a trusted result (a value an attacker cannot have written there, even if untrusted content
        /// repeats it).
        case trusted
        /// Never seen: the agent wrote it (or paraphrased something).
        case new
        /// Seen in an untrusted result (third-party content), and neither in the intent nor in a trusted result.
        case untrusted

        var rank: Int {
            switch self {
            case .intent: 0
            case .trusted: 1
            case .new: 2
            case .untrusted: 3
            }
        }

        public static func < (a: Label, b: Label) -> Bool { a.rank < b.rank }
    }

    /// Each argument (a dotted path, arrays folded into their parent) with the worst label of its values.
    public var arguments: [(path: String, label: Label)] = []
    /// The results the untrusted values were seen in (`upstream.tool`).
    public var untrustedSources: [String] = []
    public var emails: Set<String> = []
    public var emailDomains: Set<String> = []
    public var urlHosts: Set<String> = []
    /// Every host among the values: e-mail domains, URL hosts, bare domains.
    public var hosts: Set<String> = []
    /// The ledger was full for this agent: a value not found may have been forgotten, so nothing counts as known.
    public var overflow = false
    /// Whether the call carries a user's intent at all.
    public var hasIntent = false
    /// Some identifier (an address, URL, host, IBAN, number, handle or id, not free text) was never seen.
    public var anyNewIdentifier = false
    /// The exact forms of every value of the arguments: an answer that reflects them is not their source.
    public var argumentValues: Set<String> = []

    public init() {}

    public var anyUntrusted: Bool { overflow || arguments.contains { $0.label == .untrusted } }
    public var anyNew: Bool { arguments.contains { $0.label == .new } }
    /// Every value comes from the intent or a trusted result.
    public var allKnown: Bool { !overflow && arguments.allSatisfy { $0.label <= .trusted } }

    public static func == (a: ProvenanceReport, b: ProvenanceReport) -> Bool {
        a.arguments.map { "\($0.path)=\($0.label.rawValue)" } == b.arguments.map { "\($0.path)=\($0.label.rawValue)" }
            && a.untrustedSources == b.untrustedSources && a.hosts == b.hosts && a.emails == b.emails && a.overflow == b.overflow
            && a.hasIntent == b.hasIntent
    }

    /// `context.provenance`.
    public var cedarValue: Value {
        func strings(_ s: some Sequence<String>) -> Value { .set(Set(s.map { Value.string($0) })) }
        return .record([
            "arguments": .record(Dictionary(arguments.map { (CedarString($0.path), Value.string($0.label.rawValue)) },
                                            uniquingKeysWith: { a, _ in a })),
            "untrusted": strings(arguments.filter { $0.label == .untrusted }.map(\.path)),
            "new": strings(arguments.filter { $0.label == .new }.map(\.path)),
            "anyUntrusted": .bool(anyUntrusted), "anyNew": .bool(anyNew), "allKnown": .bool(allKnown),
            "sources": strings(untrustedSources), "emails": strings(emails), "emailDomains": strings(emailDomains),
            "urlHosts": strings(urlHosts), "hosts": strings(hosts), "overflow": .bool(overflow),
            "intent": .bool(hasIntent), "anyNewIdentifier": .bool(anyNewIdentifier || overflow),
        ])
    }

    /// One line for the audit record: `provenance: to=untrusted, body=new; untrusted from mail.read_inbox`.
    public var summary: String {
        let labels = arguments.map { "\($0.path)=\($0.label.rawValue)" }.joined(separator: ", ")
        var s = "provenance: " + (labels.isEmpty ? "no values" : labels)
        if !untrustedSources.isEmpty { s += "; untrusted from " + untrustedSources.joined(separator: ", ") }
        if overflow { s += "; ledger full (nothing counts as known)" }
        return s
    }
}

/// The values agents have seen in tool results, per agent and the user it acts for (as taint is), kept as keyed
/// hashes: the ledger never holds the text of a result.
///
/// Untrusted results are remembered by the values' skeletons (lookalikes fold together), trusted ones by their exact
/// forms. Entries last as long as taint does (``lifetime`` after the last result), and the process (a restart
/// forgets them, as it forgets taint). A book that would grow past ``capacity`` stops growing and reports
/// `overflow`, so that flooding the ledger cannot make an attacker's value look new.
public final class ProvenanceLedger: Sendable {
    struct Key: Hashable, Sendable {
        var a: UInt64
    }

    public struct Source: Sendable, Hashable {
        public var name: String
        public var trusted: Bool
        public var dataClass: String

        public init(name: String, trusted: Bool, dataClass: String) {
            self.name = name
            self.trusted = trusted
            self.dataClass = dataClass
        }
    }

    struct Book: LapsingBook {
        /// Each untrusted value's first source (an index into `sources`).
        var untrusted = HashedKeyTable()
        var trusted = HashedKeyTable()
        var sources: [Source] = []
        var overflow = false
        var last: Date
    }

    private let books: AgentBooks<Book>
    /// A random key per ledger: the hashes mean nothing outside this process.
    /// A hasher that has already absorbed the ledger's random 256-bit key: each value's hash starts from a copy.
    private let seeded: Hasher
    public let lifetime: TimeInterval
    public let capacity: Int
    /// For benchmarks only (`GatewayBenchmarks --result-bytes`): off, nothing is labelled or remembered, so that what
    /// provenance adds to a call is measured side by side with the same server. Nothing else turns it off.
    @_spi(Benchmarks) public let enabled = Atomic<Bool>(true)

    public init(lifetime: TimeInterval, capacity: Int = 50_000) {
        self.lifetime = lifetime
        self.capacity = capacity
        books = AgentBooks(lifetime: lifetime)
        var g = SystemRandomNumberGenerator()
        var h = Hasher()
        for _ in 0..<4 { h.combine(g.next() as UInt64) }
        seeded = h
    }

    /// A keyed 64-bit hash of a value: SipHash (Swift's `Hasher`, itself seeded at random per process) under the
    /// ledger's random 256-bit key. Only equality is ever asked of it, inside this process, among at most
    /// ``capacity`` values per book, on 48 of its bits (``HashedKeyTable``): a chance collision is about one in
    /// 5 × 10^9 lookups, and without the key nobody can aim for one. HMAC-SHA256 would cost about thirty times as much per value on every answer.
    func hash(_ s: String) -> Key {
        var s = s
        return s.withUTF8 { hash(bytes: $0) }
    }

    func hash(bytes: UnsafeBufferPointer<UInt8>) -> Key {
        var h = seeded
        h.combine(bytes: UnsafeRawBufferPointer(bytes))
        return Key(a: UInt64(bitPattern: Int64(h.finalize())))
    }

    /// Remembers every value of the strings of an answer (hashed straight from the text's bytes), except `own`
    /// (the exact forms of the values the agent itself sent).
    public func record(strings: [String], except own: Set<String>, from source: Source, agentID: String, user: String?,
                       now: Date) {
        var keys: [Key] = []
        keys.reserveCapacity(256)
        let ownKeys = Set(own.map(hash))
        for s in strings {
            ValueExtractor.forEachValue(in: s) { exact, skeleton in
                if !ownKeys.isEmpty, ownKeys.contains(hash(bytes: exact)) { return }
                keys.append(hash(bytes: source.trusted ? exact : skeleton))
            }
        }
        record(keys: keys, from: source, agentID: agentID, user: user, now: now)
    }

    /// Remembers the values of a result the agent (acting for `user`) read.
    public func record(_ values: [ValueExtractor.Value], from source: Source, agentID: String, user: String?, now: Date) {
        record(keys: values.map { hash(source.trusted ? $0.exact : $0.skeleton) }, from: source, agentID: agentID, user: user, now: now)
    }

    func record(keys: [Key], from source: Source, agentID: String, user: String?, now: Date) {
        guard !keys.isEmpty else { return }
        books.modify(agentID: agentID, user: user, now: now) { current in
            var book = current ?? Book(last: now)
            book.last = now
            var index = book.sources.firstIndex(of: source)
            if index == nil {
                if book.sources.count >= Int(UInt16.max) { book.overflow = true } else {
                    book.sources.append(source)
                    index = book.sources.count - 1
                }
            }
            for key in keys {
                if source.trusted {
                    if !book.trusted.contains(key.a) {
                        if book.trusted.count >= capacity { book.overflow = true } else { book.trusted.insert(key.a) }
                    }
                } else if !book.untrusted.contains(key.a) {
                    if book.untrusted.count >= capacity { book.overflow = true } else { book.untrusted.insert(key.a, value: UInt16(index ?? 0)) }
                }
            }
            current = book
        }
    }

    /// Labels every value of `arguments` against the intent and what the agent has seen.
    public func label(_ arguments: JSONValue?, intent: [ValueExtractor.Value], hasIntent: Bool, agentID: String,
                      user: String?, now: Date) -> ProvenanceReport {
        var report = ProvenanceReport()
        report.hasIntent = hasIntent
        var perPath: [(String, [ValueExtractor.Value])] = []
        if let arguments { Self.collect(arguments, path: "", into: &perPath) }
        let intentKeys = Set(intent.map { hash($0.exact) })
        let book = books.book(agentID: agentID, user: user, now: now)
        report.overflow = book?.overflow ?? false
        var sources: [String] = []
        for (path, values) in perPath {
            var worst: ProvenanceReport.Label?
            for v in values {
                report.argumentValues.insert(v.exact)
                let label: ProvenanceReport.Label
                let exact = hash(v.exact)
                if intentKeys.contains(exact) {
                    label = .intent
                } else if let book, book.trusted.contains(exact.a) {
                    label = .trusted
                } else if let book, let source = book.untrusted.value(for: hash(v.skeleton).a) {
                    label = .untrusted
                    let name = book.sources.indices.contains(Int(source)) ? book.sources[Int(source)].name : "?"
                    if !sources.contains(name) { sources.append(name) }
                } else {
                    label = .new
                    if v.kind != .text { report.anyNewIdentifier = true }
                }
                worst = max(worst ?? label, label)
                switch v.kind {
                case .email:
                    report.emails.insert(v.exact)
                    if let at = v.exact.lastIndex(of: "@") { report.emailDomains.insert(String(v.exact[v.exact.index(after: at)...])) }
                case .url:
                    if let host = URLComponents(string: v.exact)?.host { report.urlHosts.insert(host) }
                case .host:
                    report.hosts.insert(v.exact)
                default:
                    break
                }
            }
            if let worst, report.arguments.count < 64 { report.arguments.append((path, worst)) }
        }
        report.hosts.formUnion(report.emailDomains)
        report.hosts.formUnion(report.urlHosts)
        report.untrustedSources = sources
        return report
    }

    /// The string values under each argument path (arrays folded into their parent, at most four levels).
    static func collect(_ value: JSONValue, path: String, into out: inout [(String, [ValueExtractor.Value])], depth: Int = 0) {
        switch value {
        case .object(let members) where depth < 4:
            for (k, v) in members { collect(v, path: path.isEmpty ? k : path + "." + k, into: &out, depth: depth + 1) }
        case .array(let items) where depth < 4:
            for item in items { collect(item, path: path, into: &out, depth: depth + 1) }
        case .string(let s):
            let values = ValueExtractor.values(in: s)
            guard !values.isEmpty else { return }
            let p = path.isEmpty ? "value" : path
            if let i = out.firstIndex(where: { $0.0 == p }) { out[i].1 += values } else { out.append((p, values)) }
        default:
            return
        }
    }

    /// Forgets an agent's values (every user it acts for); returns how many books were dropped.
    @discardableResult
    public func clear(agentID: String) -> Int {
        books.clear(agentID: agentID)
    }
}
