public import Foundation

/// `application/x-www-form-urlencoded`, as the token endpoint reads it, the HTTP gateway reads query strings and
/// form bodies, and the vault writes client-credentials requests (one reading and one writing for all of them).
public enum FormEncoding {
    /// The name–value pairs in order (empty pairs skipped, a name without `=` has an empty value); nil when a name
    /// or value is not valid percent-encoding.
    public static func pairs<S: StringProtocol>(_ text: S) -> [(name: String, value: String)]? {
        var out: [(name: String, value: String)] = []
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else { return nil }
            out.append((name, value))
        }
        return out
    }

    /// The encoded form of name–value pairs.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&")
    }

    /// One name or value, with only unreserved characters left as they are (RFC 3986 §2.3; RFC 6749 appendix B).
    public static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    static func decode<S: StringProtocol>(_ s: S) -> String? {
        String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    private static let unreserved: CharacterSet = {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return allowed
    }()
}
