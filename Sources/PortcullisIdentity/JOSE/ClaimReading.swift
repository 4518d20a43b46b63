import Foundation
import PortcullisCore

/// Typed reads of registered claims (RFC 7519 §4.1) that refuse a wrongly typed value.
///
/// A claim that is absent reads as nil; a claim that is present with the wrong
/// JSON type is an error, never silently treated as absent.
extension Dictionary where Key == String, Value == JSONAny {
    /// A string claim, nil when absent.
    func string(_ name: String) throws(JOSEFailure) -> String? {
        guard let value = self[name] else { return nil }
        guard case .string(let string) = value else { throw JOSEFailure("\(name) is not a string") }
        return string
    }

    /// A required, non-empty string claim.
    func requiredString(_ name: String) throws(JOSEFailure) -> String {
        guard let string = try string(name) else { throw JOSEFailure("\(name) is missing") }
        guard !string.isEmpty else { throw JOSEFailure("\(name) is empty") }
        return string
    }

    /// A NumericDate claim (seconds since the epoch, integer or not), nil when absent.
    func numericDate(_ name: String) throws(JOSEFailure) -> Date? {
        switch self[name] {
        case .none: return nil
        case .int(let seconds)?: return Date(timeIntervalSince1970: TimeInterval(seconds))
        case .double(let seconds)? where seconds.isFinite: return Date(timeIntervalSince1970: seconds)
        default: throw JOSEFailure("\(name) is not a NumericDate")
        }
    }

    /// The `aud` claim as a list: a single string or an array of strings (RFC 7519 §4.1.3), nil when absent.
    func audiences() throws(JOSEFailure) -> [String]? {
        switch self["aud"] {
        case .none: return nil
        case .string(let audience)?: return [audience]
        case .array(let values)?:
            var audiences: [String] = []
            for value in values {
                guard case .string(let audience) = value else { throw JOSEFailure("aud holds a non-string") }
                audiences.append(audience)
            }
            return audiences
        default: throw JOSEFailure("aud is neither a string nor an array of strings")
        }
    }
}

/// The time checks shared by all verifiers, with a clock-skew leeway.
enum TimeChecks {
    /// Refuses when `exp` is absent or `now` is at or past `exp + leeway`.
    static func requireUnexpired(_ claims: [String: JSONAny], now: Date, leeway: TimeInterval) throws(JOSEFailure)
        -> Date
    {
        guard let exp = try claims.numericDate("exp") else { throw JOSEFailure("exp is missing") }
        guard now < exp.addingTimeInterval(leeway) else { throw JOSEFailure("token has expired") }
        return exp
    }

    /// Refuses an `nbf` later than `now + leeway`.
    static func requireNotBefore(_ claims: [String: JSONAny], now: Date, leeway: TimeInterval) throws(JOSEFailure) {
        if let nbf = try claims.numericDate("nbf"), nbf > now.addingTimeInterval(leeway) {
            throw JOSEFailure("token is not valid yet (nbf is in the future)")
        }
    }

    /// The `iat`, nil when absent; refused when later than `now + leeway`.
    static func issuedAt(_ claims: [String: JSONAny], now: Date, leeway: TimeInterval) throws(JOSEFailure) -> Date? {
        guard let iat = try claims.numericDate("iat") else { return nil }
        guard iat <= now.addingTimeInterval(leeway) else { throw JOSEFailure("iat is in the future") }
        return iat
    }
}
