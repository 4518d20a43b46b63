/// Lowercase hex without `String(format:)` (slow on Linux, and on the gateway's hot path).
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `count` random bytes as hex.
    public static func random(_ count: Int) -> String {
        // Eight bytes per draw: `UInt8.random` made one getrandom(2) system call per byte.
        var g = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: g.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return encode(bytes.prefix(count))
    }
}
