/// A Cedar `decimal` extension value: a fixed-point number with four fractional digits.
///
/// The value is stored as a signed 64-bit count of ten-thousandths, so the representable
/// range is -922337203685477.5808 through 922337203685477.5807, exactly as in Cedar.
public struct CedarDecimal: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The number of fractional digits Cedar keeps.
    static let fractionalDigits = 4

    /// The scale between `rawValue` and the decimal number it represents.
    static let scale: Int64 = 10_000

    /// The value multiplied by 10 000.
    public let rawValue: Int64

    /// Creates a decimal from its internal encoding (the value multiplied by 10 000).
    public init(rawValue: Int64) {
        self.rawValue = rawValue
    }

    /// Parses the argument of Cedar's `decimal("…")` constructor; `nil` is an extension error.
    ///
    /// Accepts `-?[0-9]+\.[0-9]{1,4}` and rejects values that do not fit in 64 bits. A leading
    /// `+`, `_` separators, exponents and missing digits on either side of `.` are all rejected.
    public static func parse(_ text: String) -> CedarDecimal? {
        let bytes = Array(text.utf8)
        var index = 0
        let isNegative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if isNegative { index += 1 }

        let integerStart = index
        while index < bytes.count, isASCIIDigit(bytes[index]) { index += 1 }
        let integerDigits = bytes[integerStart..<index]
        guard !integerDigits.isEmpty, index < bytes.count, bytes[index] == UInt8(ascii: ".") else {
            return nil
        }
        index += 1

        let fractionStart = index
        while index < bytes.count, isASCIIDigit(bytes[index]) { index += 1 }
        let fractionDigits = bytes[fractionStart..<index]
        guard !fractionDigits.isEmpty, index == bytes.count,
            fractionDigits.count <= fractionalDigits
        else { return nil }

        // The integer part is accumulated with its sign so that the most negative Int64
        // still parses, matching Rust's `i64::from_str("-…")` before the scaling step.
        var integerPart: Int64 = 0
        for digit in integerDigits {
            let (shifted, mulOverflow) = integerPart.multipliedReportingOverflow(by: 10)
            let delta = Int64(digit - UInt8(ascii: "0"))
            let (next, addOverflow) =
                isNegative
                ? shifted.subtractingReportingOverflow(delta)
                : shifted.addingReportingOverflow(delta)
            guard !mulOverflow, !addOverflow else { return nil }
            integerPart = next
        }
        let (scaled, scaleOverflow) = integerPart.multipliedReportingOverflow(by: scale)
        guard !scaleOverflow else { return nil }

        var fraction: Int64 = 0
        for digit in fractionDigits {
            fraction = fraction * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        for _ in fractionDigits.count..<fractionalDigits { fraction *= 10 }

        // The sign comes from the text, not from the integer part, so "-0.5" is negative.
        let (value, overflow) =
            isNegative
            ? scaled.subtractingReportingOverflow(fraction)
            : scaled.addingReportingOverflow(fraction)
        return overflow ? nil : CedarDecimal(rawValue: value)
    }

    /// The canonical text, always with four fractional digits (for example `-1.0500`).
    public var description: String {
        let magnitude = rawValue.magnitude
        let unsignedScale = UInt64(Self.scale)
        let integerPart = String(magnitude / unsignedScale)
        let fraction = String(magnitude % unsignedScale)
        let padding = String(repeating: "0", count: Self.fractionalDigits - fraction.count)
        return (rawValue < 0 ? "-" : "") + integerPart + "." + padding + fraction
    }

    /// Orders decimals by numeric value.
    public static func < (lhs: CedarDecimal, rhs: CedarDecimal) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    private static func isASCIIDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
