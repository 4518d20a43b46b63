/// A Cedar `duration` extension value: a signed number of milliseconds.
public struct CedarDuration: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds in each unit of the duration syntax, largest first.
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1),
    ]

    /// The length of the duration in milliseconds; negative durations are allowed.
    public let milliseconds: Int64

    /// Creates a duration of the given number of milliseconds.
    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// Parses the argument of Cedar's `duration("…")` constructor; `nil` is an extension error.
    ///
    /// The syntax is `-?(Nd)?(Nh)?(Nm)?(Ns)?(Nms)?` with at least one component, where each
    /// `N` is one or more ASCII digits. A leading `-` negates every component. The total must
    /// fit in a signed 64-bit number of milliseconds.
    public static func parse(_ text: String) -> CedarDuration? {
        let bytes = Array(text.utf8)
        var index = 0
        let isNegative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if isNegative { index += 1 }
        guard index < bytes.count else { return nil }

        var quantities = [UInt64?](repeating: nil, count: units.count)
        var nextUnit = 0
        while index < bytes.count {
            let digitStart = index
            while index < bytes.count, isASCIIDigit(bytes[index]) { index += 1 }
            guard index > digitStart else { return nil }
            let unitStart = index
            while index < bytes.count, isASCIILetter(bytes[index]) { index += 1 }
            let suffix = bytes[unitStart..<index]
            guard let unit = units.firstIndex(where: { $0.suffix.utf8.elementsEqual(suffix) }),
                unit >= nextUnit
            else { return nil }
            var quantity: UInt64 = 0
            for digit in bytes[digitStart..<unitStart] {
                let (shifted, mulOverflow) = quantity.multipliedReportingOverflow(by: 10)
                let (next, addOverflow) = shifted.addingReportingOverflow(
                    UInt64(digit - UInt8(ascii: "0")))
                guard !mulOverflow, !addOverflow else { return nil }
                quantity = next
            }
            quantities[unit] = quantity
            nextUnit = unit + 1
        }

        // Summing from the smallest unit up mirrors Rust's `parse_duration`, whose first step
        // is the only one allowed to land exactly on Int64.min.
        var total: Int64 = 0
        for (unit, quantity) in zip(units, quantities).reversed() {
            guard let quantity else { continue }
            if isNegative, unit.milliseconds == 1, quantity == UInt64(Int64.max) + 1 {
                total = Int64.min
                continue
            }
            guard let signed = Int64(exactly: quantity) else { return nil }
            let (product, mulOverflow) = signed.multipliedReportingOverflow(by: unit.milliseconds)
            let (sum, addOverflow) =
                isNegative
                ? total.subtractingReportingOverflow(product)
                : total.addingReportingOverflow(product)
            guard !mulOverflow, !addOverflow else { return nil }
            total = sum
        }
        return CedarDuration(milliseconds: total)
    }

    /// The duration in milliseconds.
    public var toMilliseconds: Int64 { milliseconds }

    /// The duration in whole seconds, truncated toward zero.
    public var toSeconds: Int64 { toMilliseconds / 1_000 }

    /// The duration in whole minutes, truncated toward zero.
    public var toMinutes: Int64 { toSeconds / 60 }

    /// The duration in whole hours, truncated toward zero.
    public var toHours: Int64 { toMinutes / 60 }

    /// The duration in whole days, truncated toward zero.
    public var toDays: Int64 { toHours / 24 }

    /// The canonical text Cedar uses for a duration, for example `-90000ms`.
    public var description: String {
        String(milliseconds) + "ms"
    }

    /// Orders durations by length, negative durations first.
    public static func < (lhs: CedarDuration, rhs: CedarDuration) -> Bool {
        lhs.milliseconds < rhs.milliseconds
    }

    private static func isASCIIDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isASCIILetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
    }
}
