public import Cedar

/// Walks the strings of a JSON value, for inspection and redaction.
public enum JSONStrings {
    /// Every string (member names included), depth-first.
    public static func all(_ value: JSONValue) -> [String] {
        var out: [String] = []
        collect(value, into: &out)
        return out
    }

    private static func collect(_ value: JSONValue, into out: inout [String]) {
        switch value {
        case .string(let s): out.append(s)
        case .array(let items): for i in items { collect(i, into: &out) }
        case .object(let members):
            for (k, v) in members {
                out.append(k)
                collect(v, into: &out)
            }
        default: break
        }
    }

    /// DLP findings over every string and number, and the value with each finding redacted.
    ///
    /// Each string is scanned as it is and, when that finds nothing, as normalized text
    /// (``TextNormalizer``): a finding only the normalized text shows replaces the whole string.
    /// Numbers are read as their digits. Finally all strings are read joined, so that a card number
    /// split across items is found; such a finding cannot be cut out of one string, so every string
    /// is replaced (the answer keeps its shape and loses its text).
    public static func redacting(_ value: JSONValue) -> (value: JSONValue, kinds: [DLPScanner.Kind]) {
        var kinds: [DLPScanner.Kind] = []
        var redacted = redact(value, kinds: &kinds) ?? value
        var strings: [String] = []
        collectValues(redacted, into: &strings)
        if strings.count > 1 {
            let joined = DLPScanner.findings(in: TextNormalizer.normalize(joinedForScan(strings))).map(\.kind)
            let spanning = joined.filter { !kinds.contains($0) }
            if !spanning.isEmpty {
                kinds.append(contentsOf: spanning)
                redacted = blank(redacted, label: "[REDACTED:\(spanning.map(\.rawValue).joined(separator: ","))]")
            }
        }
        var seen = Set<DLPScanner.Kind>()
        return (redacted, kinds.filter { seen.insert($0).inserted })
    }

    /// The strings joined with spaces as a reader sees them, leaving out tag-like values (`text`,
    /// `image/png`, `resource_link`) that separate content items in the structure but not in the prose.
    public static func joinedForScan(_ strings: [String]) -> String {
        strings.filter { !isTag($0) }.joined(separator: " ")
    }

    static func isTag(_ s: String) -> Bool {
        s.utf8.count <= 24 && s.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2F || $0 == 0x2D || $0 == 0x2B || $0 == 0x2E || $0 == 0x5F }
    }

    /// String values and number texts, depth-first (member names are left out: they are scanned one by one).
    private static func collectValues(_ value: JSONValue, into out: inout [String]) {
        switch value {
        case .string(let s): out.append(s)
        case .number(let n): out.append(n)
        case .array(let items): for i in items { collectValues(i, into: &out) }
        case .object(let members): for (_, v) in members { collectValues(v, into: &out) }
        default: break
        }
    }

    private static func blank(_ value: JSONValue, label: String) -> JSONValue {
        switch value {
        case .string, .number: return .string(label)
        case .array(let items): return .array(items.map { blank($0, label: label) })
        case .object(let members): return .object(members.map { ($0.0, blank($0.1, label: label)) })
        default: return value
        }
    }

    /// Findings in `text`, or in its normalized form when the text itself shows none; and the text to keep.
    static func scan(_ text: String) -> (kinds: [DLPScanner.Kind], replacement: String?) {
        let f = DLPScanner.findings(in: text)
        if !f.isEmpty { return (f.map(\.kind), DLPScanner.redact(text, findings: f)) }
        guard TextNormalizer.mayChange(text) else { return ([], nil) }
        let hidden = DLPScanner.findings(in: TextNormalizer.normalize(text)).map(\.kind)
        guard !hidden.isEmpty else { return ([], nil) }
        return (hidden, "[REDACTED:\(hidden.map(\.rawValue).joined(separator: ","))]")
    }

    /// The value with each finding redacted, or nil when there is nothing to redact: the tree is
    /// copied only along the paths where something was found.
    private static func redact(_ value: JSONValue, kinds: inout [DLPScanner.Kind]) -> JSONValue? {
        switch value {
        case .string(let s):
            let (found, replacement) = scan(s)
            guard let replacement else { return nil }
            kinds.append(contentsOf: found)
            return .string(replacement)
        case .number(let n):
            // A card number sent as a JSON number is still a card number.
            let found = DLPScanner.findings(in: n).map(\.kind)
            guard !found.isEmpty else { return nil }
            kinds.append(contentsOf: found)
            return .string("[REDACTED:\(found.map(\.rawValue).joined(separator: ","))]")
        case .array(let items):
            var out: [JSONValue]?
            for (i, item) in items.enumerated() {
                if let r = redact(item, kinds: &kinds) {
                    if out == nil { out = items }
                    out![i] = r
                }
            }
            return out.map(JSONValue.array)
        case .object(let members):
            var out: [(String, JSONValue)]?
            for (i, (k, v)) in members.enumerated() {
                // Member names are scanned too; a secret used as a key is redacted the same way.
                let (found, replacement) = scan(k)
                kinds.append(contentsOf: found)
                let redactedValue = redact(v, kinds: &kinds)
                if replacement != nil || redactedValue != nil {
                    if out == nil { out = members }
                    out![i] = (replacement ?? k, redactedValue ?? v)
                }
            }
            return out.map(JSONValue.object)
        default: return nil
        }
    }
}
