import PortcullisCore

/// A writer of canonical JSON: object keys sorted by Unicode scalar, no whitespace, strings
/// escaped minimally (`"`, `\` and control characters; `\u00XX` in lowercase hex), integers
/// in decimal. The same bytes come out of Python's
/// `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, so an
/// independent verifier can rebuild them.
struct CanonicalJSON {
    var bytes: [UInt8] = []

    init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func string(_ s: String) {
        bytes.append(0x22)
        var s = s
        // Runs of bytes that need no escape are copied at once (most strings are one run).
        s.withUTF8 { buffer in
            var start = 0
            for i in 0..<buffer.count {
                let b = buffer[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                if start < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<i])) }
                escape(b)
                start = i + 1
            }
            if start < buffer.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start...])) }
        }
        bytes.append(0x22)
    }

    private mutating func escape(_ b: UInt8) {
        switch b {
        case 0x22: bytes.append(0x5C); bytes.append(0x22)
        case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
        case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
        case 0x0D: bytes.append(0x5C); bytes.append(0x72)
        case 0x09: bytes.append(0x5C); bytes.append(0x74)
        case 0x08: bytes.append(0x5C); bytes.append(0x62)
        case 0x0C: bytes.append(0x5C); bytes.append(0x66)
        default:
            bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, Self.hexDigits[Int(b >> 4)], Self.hexDigits[Int(b & 0xF)]])
        }
    }

    /// Decimal digits, written in place (no intermediate `String`).
    mutating func integer<I: BinaryInteger>(_ i: I) {
        guard let value = Int64(exactly: i) else {
            bytes.append(contentsOf: String(i).utf8)
            return
        }
        if value < 0 { bytes.append(0x2D) }
        var magnitude = value.magnitude
        let start = bytes.count
        repeat {
            bytes.append(UInt8(truncatingIfNeeded: magnitude % 10) + 0x30)
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
    }

    mutating func strings(_ list: [String]) {
        bytes.append(0x5B)
        for (n, s) in list.enumerated() {
            if n > 0 { bytes.append(0x2C) }
            string(s)
        }
        bytes.append(0x5D)
    }

    /// Writes any JSON value; a non-finite number cannot be written.
    mutating func value(_ v: JSONAny) throws {
        switch v {
        case .null: raw("null")
        case .bool(let b): if b { raw("true") } else { raw("false") }
        case .int(let i): integer(i)
        case .double(let d):
            guard d.isFinite else { throw AuditError(.malformed, "a JSON number must be finite") }
            if d == d.rounded(), abs(d) < 9_007_199_254_740_992 {
                integer(Int64(d))
            } else {
                bytes.append(contentsOf: "\(d)".utf8)
            }
        case .string(let s): string(s)
        case .array(let a):
            bytes.append(0x5B)
            for (n, e) in a.enumerated() {
                if n > 0 { bytes.append(0x2C) }
                try value(e)
            }
            bytes.append(0x5D)
        case .object(let o):
            bytes.append(0x7B)
            // UTF-8 byte order is Unicode scalar order, and cheaper to compare.
            for (n, key) in o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if n > 0 { bytes.append(0x2C) }
                string(key)
                bytes.append(0x3A)
                try value(o[key]!)
            }
            bytes.append(0x7D)
        }
    }
}
