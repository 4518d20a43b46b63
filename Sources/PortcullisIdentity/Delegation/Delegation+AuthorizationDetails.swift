import Foundation
public import PortcullisCore

extension Delegation {
    /// The authorization detail types we can narrow (RFC 9396 `type` values).
    public enum AuthorizationDetailType: String, Sendable, CaseIterable {
        /// A payment: `recipient`, `max_amount`, `currency`.
        case payment
        /// Sending email: `recipients`.
        case email
        /// Calling tools: `tools`, `constraints`.
        case toolCall = "tool_call"
    }

    /// The `authorization_details` of a token derived from one that carried `granted`.
    ///
    /// Details only narrow along a chain. Rules:
    /// - `requested` nil: the new token inherits `granted` unchanged.
    /// - `granted` nil (nothing was delegated) and `requested` non-empty: refused —
    ///   details cannot be added by exchange (initial grants are decided by policy,
    ///   not here).
    /// - Otherwise every requested entry must be an object with a supported `type`
    ///   (``AuthorizationDetailType``; any other is refused) and be covered by at
    ///   least one granted entry of the same `type`, where covered means, field by field:
    ///   - `payment`: `recipient` equal when the grant names one; `max_amount`
    ///     present and ≤ the granted one when the grant has one (number or decimal
    ///     string, never negative); `currency` equal when the grant names a
    ///     currency or a maximum.
    ///   - `email`: `recipients` a subset of the granted `recipients` when the grant lists them.
    ///   - `tool_call`: `tools` a subset of the granted `tools` when the grant
    ///     lists them; `constraints` must hold every granted constraint key, with
    ///     an equal value or, for a numeric `max_*` key, a value ≤ the granted
    ///     one; added keys only narrow further.
    ///   - any type: the RFC 9396 common fields `locations`, `actions`,
    ///     `datatypes`, `privileges` are subsets when granted, `identifier` equal
    ///     when granted; every other field must be equal in both (or absent from
    ///     both), since we cannot tell whether it widens.
    ///
    /// A granted field that is absent places no limit, so the request may add it (narrowing).
    ///
    /// - Returns: `requested` when every entry is covered, else `granted` when `requested` is nil.
    /// - Throws: ``OAuthError/invalidAuthorizationDetails(_:)`` naming the first entry that is not covered.
    public static func narrowAuthorizationDetails(requested: [JSONAny]?, granted: [JSONAny]?)
        throws(OAuthError) -> [JSONAny]?
    {
        guard let requested else { return granted }
        guard let granted else {
            if requested.isEmpty { return [] }
            throw .invalidAuthorizationDetails(
                "authorization_details cannot be added: the subject token carries none to narrow")
        }
        for (index, entry) in requested.enumerated() {
            guard case .object(let fields) = entry, case .string(let typeName)? = fields["type"] else {
                throw .invalidAuthorizationDetails("authorization_details entry \(index) is not an object with a type")
            }
            guard let type = AuthorizationDetailType(rawValue: typeName) else {
                throw .invalidAuthorizationDetails("authorization_details type \(printable(typeName)) is not supported")
            }
            var firstReason: String?
            var covered = false
            for case .object(let grantedFields) in granted where grantedFields["type"] == .string(typeName) {
                guard let reason = uncovered(fields, by: grantedFields, type: type) else {
                    covered = true
                    break
                }
                firstReason = firstReason ?? reason
            }
            guard covered else {
                throw .invalidAuthorizationDetails(
                    "authorization_details entry \(index) (\(typeName)) exceeds the grant: "
                        + (firstReason ?? "no \(typeName) entry was granted"))
            }
        }
        return requested
    }

    /// Fields each type's own rule covers.
    private static func ruledFields(_ type: AuthorizationDetailType) -> Set<String> {
        let common: Set<String> = ["type", "locations", "actions", "datatypes", "privileges", "identifier"]
        switch type {
        case .payment: return common.union(["recipient", "max_amount", "currency"])
        case .email: return common.union(["recipients"])
        case .toolCall: return common.union(["tools", "constraints"])
        }
    }

    /// Why `requested` is wider than `granted`, or nil when `granted` covers it.
    private static func uncovered(
        _ requested: [String: JSONAny], by granted: [String: JSONAny],
        type: AuthorizationDetailType
    ) -> String? {
        for field in ["locations", "actions", "datatypes", "privileges"] {
            if let reason = subsetViolation(field, requested, granted) { return reason }
        }
        if let reason = equalityViolation("identifier", requested, granted, onlyWhenGranted: true) { return reason }
        switch type {
        case .payment:
            if let reason = paymentViolation(requested, granted) { return reason }
        case .email:
            if let reason = subsetViolation("recipients", requested, granted) { return reason }
        case .toolCall:
            if let reason = subsetViolation("tools", requested, granted) { return reason }
            if let reason = constraintsViolation(requested["constraints"], granted["constraints"]) { return reason }
        }
        let ruled = ruledFields(type)
        let others = Set(requested.keys).union(granted.keys).subtracting(ruled)
        for field in others.sorted() {
            if let reason = equalityViolation(field, requested, granted, onlyWhenGranted: false) { return reason }
        }
        return nil
    }

    private static func paymentViolation(_ requested: [String: JSONAny], _ granted: [String: JSONAny]) -> String? {
        if let reason = equalityViolation("recipient", requested, granted, onlyWhenGranted: true) { return reason }
        if granted["currency"] != nil || granted["max_amount"] != nil, requested["currency"] != granted["currency"] {
            return "currency differs from the granted one"
        }
        var requestedAmount: Decimal?
        if let value = requested["max_amount"] {
            guard let amount = number(value), amount >= 0 else { return "max_amount is not a non-negative amount" }
            requestedAmount = amount
        }
        if let grantedValue = granted["max_amount"] {
            guard let grantedAmount = number(grantedValue) else { return "granted max_amount is not a number" }
            guard let requestedAmount else { return "max_amount is missing but the grant has one" }
            guard requestedAmount <= grantedAmount else { return "max_amount exceeds the granted max_amount" }
        }
        return nil
    }

    private static func constraintsViolation(_ requested: JSONAny?, _ granted: JSONAny?) -> String? {
        guard let granted else { return nil }
        guard case .object(let grantedConstraints) = granted else { return "granted constraints is not an object" }
        guard case .object(let requestedConstraints)? = requested else {
            return grantedConstraints.isEmpty ? nil : "constraints are missing but the grant has some"
        }
        for (key, grantedValue) in grantedConstraints.sorted(by: { $0.key < $1.key }) {
            guard let requestedValue = requestedConstraints[key] else {
                return "constraint \(printable(key)) is missing"
            }
            if key.hasPrefix("max_"), let grantedLimit = number(grantedValue) {
                guard let requestedLimit = number(requestedValue), requestedLimit <= grantedLimit else {
                    return "constraint \(printable(key)) exceeds the granted limit"
                }
            } else if requestedValue != grantedValue {
                return "constraint \(printable(key)) differs from the granted one"
            }
        }
        return nil
    }

    /// When `granted` has `field` (an array), `requested` must have it too, with only granted elements.
    private static func subsetViolation(
        _ field: String, _ requested: [String: JSONAny],
        _ granted: [String: JSONAny]
    ) -> String? {
        guard let grantedValue = granted[field] else { return nil }
        guard case .array(let allowed) = grantedValue else { return "granted \(field) is not an array" }
        guard let requestedValue = requested[field] else { return "\(field) is missing but the grant limits it" }
        guard case .array(let asked) = requestedValue else { return "\(field) is not an array" }
        guard asked.allSatisfy(allowed.contains) else { return "\(field) includes values that were not granted" }
        return nil
    }

    /// `field` must be equal in both; with `onlyWhenGranted`, only when `granted` has it.
    private static func equalityViolation(
        _ field: String, _ requested: [String: JSONAny],
        _ granted: [String: JSONAny], onlyWhenGranted: Bool
    ) -> String? {
        if onlyWhenGranted, granted[field] == nil { return nil }
        return requested[field] == granted[field] ? nil : "\(printable(field)) differs from the granted one"
    }

    /// A JSON number, or a string holding a plain decimal (`"12.50"`), as an exact decimal.
    static func number(_ value: JSONAny) -> Decimal? {
        let text: String
        switch value {
        case .int(let integer): return Decimal(integer)
        case .double(let double) where double.isFinite: text = "\(double)"
        case .string(let string):
            let digits = string.utf8.drop { $0 == UInt8(ascii: "-") }
            let parts = digits.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            let isDecimal =
                string.utf8.count - digits.count <= 1 && (1...2).contains(parts.count)
                && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { (0x30...0x39).contains($0) } }
            guard isDecimal, string.utf8.count <= 40 else { return nil }
            text = string
        default: return nil
        }
        return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }
}
