/// A string as Cedar sees it: a sequence of Unicode scalar values compared exactly.
///
/// Swift's `String ==` treats canonically equivalent strings as equal
/// (`"caf\u{e9}" == "cafe\u{301}"`), but Cedar compares scalar values without
/// normalization. Every Cedar string, entity id, type name and attribute name
/// goes through this wrapper so that equality, hashing and ordering follow Cedar.
///
/// Cedar evaluation never creates strings (there is no concatenation), so each
/// string gets a 64-bit FNV-1a fingerprint of its UTF-8 bytes once, when it is
/// read. Equality rejects on the fingerprint before comparing bytes, and hashing
/// feeds only the fingerprint to the hasher: entity and attribute lookups, the
/// hottest operations of an authorization, stay cheap.
public struct CedarString: Sendable, Hashable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The underlying Swift string.
    public let string: String
    private let fingerprint: UInt64

    /// Wraps a Swift string without any normalization.
    public init(_ string: String) {
        var s = string
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        s.withUTF8 { bytes in
            for b in bytes {
                h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3
            }
        }
        self.string = s
        self.fingerprint = h
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public var description: String { string }

    public static func == (lhs: CedarString, rhs: CedarString) -> Bool {
        guard lhs.fingerprint == rhs.fingerprint else { return false }
        var a = lhs.string
        var b = rhs.string
        return a.withUTF8 { pa in b.withUTF8 { pb in bytesEqual(pa, pb) } }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(fingerprint)
    }

    /// Orders by Unicode scalar values (UTF-8 byte order is the same order).
    public static func < (lhs: CedarString, rhs: CedarString) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// Compares two byte buffers eight bytes at a time.
    private static func bytesEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return true }
        let ra = UnsafeRawPointer(pa)
        let rb = UnsafeRawPointer(pb)
        var i = 0
        while i + 8 <= a.count {
            if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        while i < a.count {
            if pa[i] != pb[i] { return false }
            i += 1
        }
        return true
    }
}
