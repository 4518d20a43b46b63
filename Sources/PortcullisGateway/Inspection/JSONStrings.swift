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

    /// DLP findings over every string value, and the value with each finding redacted.
    public static func redacting(_ value: JSONValue) -> (value: JSONValue, kinds: [DLPScanner.Kind]) {
        var kinds: [DLPScanner.Kind] = []
        let redacted = redact(value, kinds: &kinds)
        var seen = Set<DLPScanner.Kind>()
        return (redacted, kinds.filter { seen.insert($0).inserted })
    }

    private static func redact(_ value: JSONValue, kinds: inout [DLPScanner.Kind]) -> JSONValue {
        switch value {
        case .string(let s):
            let f = DLPScanner.findings(in: s)
            guard !f.isEmpty else { return value }
            kinds.append(contentsOf: f.map(\.kind))
            return .string(DLPScanner.redact(s, findings: f))
        case .array(let items): return .array(items.map { redact($0, kinds: &kinds) })
        case .object(let members):
            var out: [(String, JSONValue)] = []
            for (k, v) in members {
                // Member names are scanned too; a secret used as a key is redacted the same way.
                let f = DLPScanner.findings(in: k)
                kinds.append(contentsOf: f.map(\.kind))
                out.append((f.isEmpty ? k : DLPScanner.redact(k, findings: f), redact(v, kinds: &kinds)))
            }
            return .object(out)
        default: return value
        }
    }
}
