/// A Cedar `datetime` extension value: milliseconds since the Unix epoch in UTC, no leap seconds.
public struct CedarDatetime: Hashable, Comparable, Sendable, CustomStringConvertible {
    private static let millisecondsPerDay: Int64 = 86_400_000

    /// Milliseconds since 1970-01-01T00:00:00Z; negative values are before the epoch.
    public let milliseconds: Int64

    /// Creates a datetime at the given number of milliseconds since the Unix epoch.
    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// Parses the argument of Cedar's `datetime("…")` constructor; `nil` is an extension error.
    ///
    /// Accepted forms are `YYYY-MM-DD`, optionally followed by `Thh:mm:ss`, an optional
    /// `.SSS`, and then `Z` or a `+hhmm`/`-hhmm` offset. Every component has exactly the
    /// digits shown. The date must exist in the proleptic Gregorian calendar (year 0000 is
    /// allowed), seconds stop at 59 and offsets must be below 24 hours and 60 minutes. The
    /// result is the UTC instant, so an offset is subtracted from the local time.
    public static func parse(_ text: String) -> CedarDatetime? {
        var scanner = Scanner(Array(text.utf8))
        guard let year = scanner.number(digits: 4), scanner.consume("-"),
            let month = scanner.number(digits: 2), scanner.consume("-"),
            let day = scanner.number(digits: 2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day) else {
            return nil
        }
        let midnight = daysFromCivil(year: year, month: month, day: day) * millisecondsPerDay
        if scanner.isAtEnd { return CedarDatetime(milliseconds: midnight) }

        guard scanner.consume("T"), let hour = scanner.number(digits: 2), scanner.consume(":"),
            let minute = scanner.number(digits: 2), scanner.consume(":"),
            let second = scanner.number(digits: 2)
        else { return nil }
        var millisecond: Int64 = 0
        if scanner.consume(".") {
            guard let value = scanner.number(digits: 3) else { return nil }
            millisecond = value
        }
        var offsetSeconds: Int64 = 0
        if !scanner.consume("Z") {
            let sign: Int64
            if scanner.consume("+") {
                sign = 1
            } else if scanner.consume("-") {
                sign = -1
            } else {
                return nil
            }
            guard let offsetHour = scanner.number(digits: 2),
                let offsetMinute = scanner.number(digits: 2),
                offsetHour < 24, offsetMinute < 60
            else { return nil }
            offsetSeconds = sign * (offsetHour * 3_600 + offsetMinute * 60)
        }
        // Chrono's `NaiveTime` has no 24:00 and, for whole milliseconds, no leap second.
        guard scanner.isAtEnd, hour < 24, minute < 60, second < 60 else { return nil }

        let secondsOfDay = hour * 3_600 + minute * 60 + second - offsetSeconds
        return CedarDatetime(milliseconds: midnight + secondsOfDay * 1_000 + millisecond)
    }

    /// This instant moved by `duration`; `nil` when the result leaves the Int64 range.
    public func offset(by duration: CedarDuration) -> CedarDatetime? {
        let (result, overflow) = milliseconds.addingReportingOverflow(duration.milliseconds)
        return overflow ? nil : CedarDatetime(milliseconds: result)
    }

    /// The signed time from `other` to this instant; `nil` when it leaves the Int64 range.
    public func durationSince(_ other: CedarDatetime) -> CedarDuration? {
        let (result, overflow) = milliseconds.subtractingReportingOverflow(other.milliseconds)
        return overflow ? nil : CedarDuration(milliseconds: result)
    }

    /// Midnight UTC of this instant's day; `nil` when that midnight precedes Int64.min.
    public func toDate() -> CedarDatetime? {
        let (result, overflow) = milliseconds.subtractingReportingOverflow(timeOfDay)
        return overflow ? nil : CedarDatetime(milliseconds: result)
    }

    /// The time elapsed since midnight UTC of this instant's day, always in 0..<24h.
    public func toTime() -> CedarDuration {
        CedarDuration(milliseconds: timeOfDay)
    }

    /// The instant in ISO 8601 form, `YYYY-MM-DDThh:mm:ss.SSSZ`.
    ///
    /// Instants outside years 0000…9999 print with a longer or negative year, which
    /// `parse` does not accept.
    public var description: String {
        // Floor division that never subtracts `timeOfDay` first, which overflows near Int64.min.
        let quotient = milliseconds / Self.millisecondsPerDay
        let days = milliseconds % Self.millisecondsPerDay < 0 ? quotient - 1 : quotient
        let (year, month, day) = Self.civilFromDays(days)
        let yearText = String(year.magnitude)
        let date =
            (year < 0 ? "-" : "") + Self.padded(yearText, to: 4) + "-" + Self.padded(month, to: 2)
            + "-" + Self.padded(day, to: 2)
        let time = timeOfDay
        let clock =
            Self.padded(time / 3_600_000, to: 2) + ":" + Self.padded(time / 60_000 % 60, to: 2)
            + ":" + Self.padded(time / 1_000 % 60, to: 2) + "." + Self.padded(time % 1_000, to: 3)
        return date + "T" + clock + "Z"
    }

    /// Orders datetimes chronologically.
    public static func < (lhs: CedarDatetime, rhs: CedarDatetime) -> Bool {
        lhs.milliseconds < rhs.milliseconds
    }

    /// Milliseconds since the preceding UTC midnight (a Euclidean remainder).
    private var timeOfDay: Int64 {
        let remainder = milliseconds % Self.millisecondsPerDay
        return remainder < 0 ? remainder + Self.millisecondsPerDay : remainder
    }

    private static func isLeapYear(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day count from 1970-01-01 (inverse of `daysFromCivil`).
    private static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func padded(_ value: Int64, to width: Int) -> String {
        padded(String(value), to: width)
    }

    private static func padded(_ text: String, to width: Int) -> String {
        String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// A cursor over the UTF-8 bytes of a datetime string.
    private struct Scanner {
        private let bytes: [UInt8]
        private var index = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        var isAtEnd: Bool { index == bytes.count }

        /// Consumes `character` if it is next.
        mutating func consume(_ character: Unicode.Scalar) -> Bool {
            guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
            index += 1
            return true
        }

        /// Consumes exactly `digits` ASCII digits and returns their value.
        mutating func number(digits: Int) -> Int64? {
            guard index + digits <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<(index + digits)] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            index += digits
            return value
        }
    }
}
