/// A Cedar `ipaddr` extension value: an IPv4 or IPv6 address with a CIDR prefix length.
///
/// A single address carries the full prefix (32 or 128). Equality compares the family, the
/// address exactly as written (host bits included) and the prefix, so `10.0.0.1/24`,
/// `10.0.0.0/24` and `10.0.0.1` are three different values.
public struct IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Whether the address is IPv6; IPv4 sorts first, as in Cedar.
    let isV6: Bool

    /// The address bits; an IPv4 address occupies the low 32 bits.
    let address: UInt128

    /// The CIDR prefix length: 0…32 for IPv4, 0…128 for IPv6.
    let prefixLength: Int

    /// The longest accepted input, `ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128`.
    private static let maxTextLength = 43

    init(isV6: Bool, address: UInt128, prefixLength: Int) {
        self.isV6 = isV6
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses the argument of Cedar's `ip("…")` constructor; `nil` is an extension error.
    ///
    /// Accepts dotted-quad IPv4 (no leading zeros) and colon-hex IPv6 (at most one `::`),
    /// each with an optional `/prefix` in decimal without leading zeros. IPv4-in-IPv6 forms
    /// such as `::ffff:1.2.3.4` are rejected, as are zone identifiers.
    public static func parse(_ text: String) -> IPAddress? {
        let bytes = Array(text.utf8)
        guard bytes.count <= maxTextLength else { return nil }
        // Cedar refuses IPv4-embedded IPv6 by this coarse test before parsing anything.
        let colons = bytes.lazy.filter { $0 == UInt8(ascii: ":") }.count
        let dots = bytes.lazy.filter { $0 == UInt8(ascii: ".") }.count
        guard colons < 2 || dots < 2 else { return nil }

        let slash = bytes.firstIndex(of: UInt8(ascii: "/"))
        let addressBytes = bytes[..<(slash ?? bytes.endIndex)]
        let parsed: (isV6: Bool, address: UInt128)
        if let v4 = parseIPv4(addressBytes) {
            parsed = (false, UInt128(v4))
        } else if let v6 = parseIPv6(addressBytes) {
            parsed = (true, v6)
        } else {
            return nil
        }
        let width = parsed.isV6 ? 128 : 32
        var prefixLength = width
        if let slash {
            let prefixBytes = bytes[(slash + 1)...]
            guard let prefix = parsePrefix(prefixBytes, maxDigits: parsed.isV6 ? 3 : 2),
                prefix <= width
            else { return nil }
            prefixLength = prefix
        }
        return IPAddress(isV6: parsed.isV6, address: parsed.address, prefixLength: prefixLength)
    }

    /// Whether this is an IPv4 address or range.
    public var isIPv4: Bool { !isV6 }

    /// Whether this is an IPv6 address or range.
    public var isIPv6: Bool { isV6 }

    /// Whether the whole range lies inside `127.0.0.0/8` or is exactly `::1`.
    public var isLoopback: Bool {
        if isV6 {
            return address == 1 && prefixLength >= 128
        }
        return address >> 24 == 127 && prefixLength >= 8
    }

    /// Whether the whole range lies inside `224.0.0.0/4` or `ff00::/8`.
    public var isMulticast: Bool {
        if isV6 {
            return address >> 120 == 0xff && prefixLength >= 8
        }
        return address >> 28 == 0xe && prefixLength >= 4
    }

    /// Whether every address of this range lies inside `range`; always false across families.
    public func isInRange(_ range: IPAddress) -> Bool {
        guard isV6 == range.isV6 else { return false }
        let (lowerBound, upperBound) = bounds
        let (rangeLower, rangeUpper) = range.bounds
        return rangeLower <= lowerBound && upperBound <= rangeUpper
    }

    /// Cedar's order: IPv4 before IPv6, then by address, then by prefix length.
    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.isV6 != rhs.isV6 { return !lhs.isV6 }
        if lhs.address != rhs.address { return lhs.address < rhs.address }
        return lhs.prefixLength < rhs.prefixLength
    }

    /// The address and prefix as Rust's `std::net` prints them, for example `::1/128`.
    public var description: String {
        let prefix = "/" + String(prefixLength)
        guard isV6 else { return Self.dottedQuad(UInt32(truncatingIfNeeded: address)) + prefix }
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: address >> (112 - 16 * $0)) }
        if address >> 32 == 0xffff {
            return "::ffff:" + Self.dottedQuad(UInt32(truncatingIfNeeded: address)) + prefix
        }
        // RFC 5952: compress the first longest run of two or more zero groups.
        var bestStart = 0
        var bestLength = 0
        var runStart = 0
        var runLength = 0
        for (index, group) in groups.enumerated() {
            if group == 0 {
                if runLength == 0 { runStart = index }
                runLength += 1
                if runLength > bestLength { (bestStart, bestLength) = (runStart, runLength) }
            } else {
                runLength = 0
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestLength > 1 else { return hex.joined(separator: ":") + prefix }
        let head = hex[..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail + prefix
    }

    /// The first and last address covered by the prefix.
    private var bounds: (UInt128, UInt128) {
        let width = isV6 ? 128 : 32
        let allOnes: UInt128 = isV6 ? .max : UInt128(UInt32.max)
        // A /0 prefix shifts by the full width; Swift's smart shifts and the final mask make
        // that 0, like Rust's `checked_shl(..).unwrap_or(0)`.
        let hostMask = allOnes >> prefixLength
        let networkMask = (allOnes << (width - prefixLength)) & allOnes
        return (address & networkMask, address | hostMask)
    }

    private static func dottedQuad(_ value: UInt32) -> String {
        (0..<4).map { String((value >> (24 - 8 * $0)) & 0xff) }.joined(separator: ".")
    }

    /// Parses four decimal octets as Rust's `Ipv4Addr::from_str` does.
    private static func parseIPv4(_ bytes: ArraySlice<UInt8>) -> UInt32? {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(isASCIIDigit),
                part.first != UInt8(ascii: "0") || part.count == 1
            else { return nil }
            let octet = part.reduce(0) { $0 * 10 + UInt32($1 - UInt8(ascii: "0")) }
            guard octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    /// Parses colon-hex IPv6 following the algorithm of Rust's `Ipv6Addr::from_str`.
    ///
    /// The embedded-IPv4 branch of that algorithm is left out: any string it would accept
    /// has at least two colons and three dots, which `parse` has already rejected.
    private static func parseIPv6(_ bytes: ArraySlice<UInt8>) -> UInt128? {
        var position = bytes.startIndex
        let head = readGroups(bytes, &position, limit: 8)
        var groups = head
        if head.count < 8 {
            guard position + 1 < bytes.endIndex, bytes[position] == UInt8(ascii: ":"),
                bytes[position + 1] == UInt8(ascii: ":")
            else { return nil }
            position += 2
            // "::" stands for at least one zero group, so the tail holds at most 7 - head.
            let tail = readGroups(bytes, &position, limit: 7 - head.count)
            groups += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard position == bytes.endIndex else { return nil }
        return groups.reduce(0) { $0 << 16 | UInt128($1) }
    }

    /// Reads up to `limit` colon-separated hex groups, stopping before the first that fails.
    private static func readGroups(
        _ bytes: ArraySlice<UInt8>, _ position: inout Int, limit: Int
    ) -> [UInt16] {
        var groups: [UInt16] = []
        while groups.count < limit {
            var cursor = position
            if !groups.isEmpty {
                guard cursor < bytes.endIndex, bytes[cursor] == UInt8(ascii: ":") else { break }
                cursor += 1
            }
            var value: UInt16 = 0
            var digits = 0
            while cursor < bytes.endIndex, let digit = hexValue(bytes[cursor]) {
                digits += 1
                // A fifth digit invalidates the group rather than ending it.
                guard digits <= 4 else { return groups }
                value = value << 4 | digit
                cursor += 1
            }
            guard digits > 0 else { break }
            groups.append(value)
            position = cursor
        }
        return groups
    }

    /// Parses a prefix length: ASCII digits only, no leading zeros, at most `maxDigits` long.
    private static func parsePrefix(_ bytes: ArraySlice<UInt8>, maxDigits: Int) -> Int? {
        guard !bytes.isEmpty, bytes.count <= maxDigits, bytes.allSatisfy(isASCIIDigit),
            bytes.first != UInt8(ascii: "0") || bytes.count == 1
        else { return nil }
        return bytes.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }

    private static func isASCIIDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func hexValue(_ byte: UInt8) -> UInt16? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt16(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt16(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt16(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
