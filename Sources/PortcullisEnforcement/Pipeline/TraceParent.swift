import Foundation

/// A W3C trace context (`traceparent`, https://www.w3.org/TR/trace-context/) as an agent sent it, in the
/// `traceparent` header or in MCP `params._meta.traceparent`. It only correlates: nothing is decided on it.
public struct TraceParent: Sendable, Equatable {
    /// 32 lowercase hex digits, not all zero.
    public let traceID: String
    /// 16 lowercase hex digits, not all zero: the caller's span.
    public let parentID: String
    /// 2 hex digits (`01`: sampled).
    public let flags: String

    /// Parses a `traceparent`; nil when it is malformed (the call is then traced as a new trace, or not at all).
    /// Version `ff` is invalid; a higher version is read by its first four fields, as the specification says.
    public init?(_ header: String) {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", Self.isHex(parts[0]),
              parts[0] != "00" || parts.count == 4,
              parts[1].count == 32, Self.isHex(parts[1]), parts[1] != String(repeating: "0", count: 32),
              parts[2].count == 16, Self.isHex(parts[2]), parts[2] != String(repeating: "0", count: 16),
              parts[3].count == 2, Self.isHex(parts[3]) else { return nil }
        traceID = String(parts[1])
        parentID = String(parts[2])
        flags = String(parts[3])
    }

    public var header: String { "00-\(traceID)-\(parentID)-\(flags)" }

    static func isHex(_ s: Substring) -> Bool { s.allSatisfy { $0.isHexDigit && !$0.isUppercase } }
}
