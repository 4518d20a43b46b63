/// Small, allocation-light helpers for the text of HTTP headers, on the hot path of every call.
///
/// Foundation's `trimmingCharacters(in:)` bridges through `NSString` and a `CharacterSet` on Linux and cost about
/// 4% of the gateway's CPU per call when it trimmed three header values; HTTP only allows spaces and tabs there
/// (RFC 9110 §5.6.3, OWS), so these work on UTF-8 bytes.
public enum HTTPText {
    @inline(__always)
    static func isOWS(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    /// `value` without leading and trailing spaces and tabs.
    public static func trimmed<S: StringProtocol>(_ value: S) -> Substring {
        let s = Substring(value)
        let utf8 = s.utf8
        guard let first = utf8.firstIndex(where: { !isOWS($0) }) else { return s[s.endIndex...] }
        let last = utf8.lastIndex(where: { !isOWS($0) })!
        return s[first...last]
    }

    /// The media type of one `Content-Type` value ("type/subtype", lowercased, without parameters), or nil when the
    /// value is empty or is a list (a comma: two values folded into one).
    public static func mediaType<S: StringProtocol>(_ value: S) -> String? {
        let whole = Substring(value)
        let head = whole.firstIndex(of: ";").map { whole[..<$0] } ?? whole
        let type = trimmed(head)
        guard !type.isEmpty, !type.utf8.contains(UInt8(ascii: ",")) else { return nil }
        // ASCII lowercasing: a media type is a token (RFC 9110 §8.3.1); anything else is compared as sent.
        return String(decoding: type.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}
