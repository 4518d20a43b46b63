/// A string as Cedar sees it: a sequence of Unicode scalar values compared exactly.
///
/// Swift's `String ==` treats canonically equivalent strings as equal
/// (`"caf\u{e9}" == "cafe\u{301}"`), but Cedar compares scalar values without
/// normalization. Every Cedar string, entity id, type name and attribute name
/// goes through this wrapper so that equality, hashing and ordering follow Cedar.
public struct CedarString: Sendable, Hashable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The underlying Swift string.
    public let string: String

    /// Wraps a Swift string without any normalization.
    public init(_ string: String) {
        self.string = string
    }

    public init(stringLiteral value: String) {
        self.string = value
    }

    public var description: String { string }

    public static func == (lhs: CedarString, rhs: CedarString) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var copy = string
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(string.utf8.count)
    }

    /// Orders by Unicode scalar values (UTF-8 byte order is the same order).
    public static func < (lhs: CedarString, rhs: CedarString) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }
}
