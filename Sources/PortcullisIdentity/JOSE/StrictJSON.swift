import Foundation
import PortcullisCore

/// A strict RFC 8259 JSON reader for JOSE headers, claim sets and JWKs.
///
/// Hand-written rather than `JSONDecoder`, which silently keeps one of two
/// duplicate members: `{"alg":"ES256","alg":"none"}` must not mean one thing to
/// the check and another to whoever reads the header next (RFC 7515 §5.2 lets a
/// JWS parser refuse duplicates, and we do). It also refuses invalid UTF-8, lone
/// surrogates, raw control characters, trailing bytes and nesting deeper than
/// ``maxDepth``.
struct StrictJSON {
    /// How deeply arrays and objects may nest.
    static let maxDepth = 32

    private let bytes: [UInt8]
    private var index = 0

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The single JSON value in `data`.
    static func parse(_ data: some Sequence<UInt8>) throws(JOSEFailure) -> JSONAny {
        var parser = StrictJSON(Array(data))
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw JOSEFailure("trailing bytes after the JSON value") }
        return value
    }

    /// The JSON object in `data`; any other kind of value is refused.
    static func parseObject(_ data: some Sequence<UInt8>) throws(JOSEFailure) -> [String: JSONAny] {
        guard case .object(let object) = try parse(data) else { throw JOSEFailure("not a JSON object") }
        return object
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func expect(_ literal: String) throws(JOSEFailure) {
        for byte in literal.utf8 {
            guard peek() == byte else { throw JOSEFailure("malformed JSON literal") }
            index += 1
        }
    }

    private mutating func parseValue(depth: Int) throws(JOSEFailure) -> JSONAny {
        guard depth <= Self.maxDepth else { throw JOSEFailure("JSON nests too deeply") }
        switch peek() {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case .some(let byte) where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
            return try parseNumber()
        default:
            throw JOSEFailure("malformed JSON")
        }
    }

    private mutating func parseObject(depth: Int) throws(JOSEFailure) -> JSONAny {
        index += 1
        var object: [String: JSONAny] = [:]
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw JOSEFailure("malformed JSON object") }
            let key = try parseString()
            // Swift compares strings by canonical equivalence, so two byte-different
            // but equivalent names also count as a duplicate: stricter, never looser.
            guard object[key] == nil else { throw JOSEFailure("duplicate JSON member \(printable(key))") }
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw JOSEFailure("malformed JSON object") }
            index += 1
            skipWhitespace()
            object[key] = try parseValue(depth: depth)
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(object)
            default: throw JOSEFailure("malformed JSON object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JOSEFailure) -> JSONAny {
        index += 1
        var array: [JSONAny] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth))
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(array)
            default: throw JOSEFailure("malformed JSON array")
            }
        }
    }

    private mutating func parseNumber() throws(JOSEFailure) -> JSONAny {
        let start = index
        var isInteger = true
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw JOSEFailure("malformed JSON number")
        }
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            skipDigits()
        }
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard skipAtLeastOneDigit() else { throw JOSEFailure("malformed JSON number") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard skipAtLeastOneDigit() else { throw JOSEFailure("malformed JSON number") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .int(integer) }
        guard let double = Double(text), double.isFinite else { throw JOSEFailure("JSON number out of range") }
        return .double(double)
    }

    private mutating func skipDigits() {
        while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
    }

    private mutating func skipAtLeastOneDigit() -> Bool {
        let start = index
        skipDigits()
        return index > start
    }

    private mutating func parseString() throws(JOSEFailure) -> String {
        index += 1
        var buffer: [UInt8] = []
        while true {
            guard let byte = peek() else { throw JOSEFailure("unterminated JSON string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: buffer, as: UTF8.self) else {
                    throw JOSEFailure("JSON string is not valid UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                try parseEscape(into: &buffer)
            case 0x00..<0x20:
                throw JOSEFailure("control character in JSON string")
            default:
                buffer.append(byte)
            }
        }
    }

    private mutating func parseEscape(into buffer: inout [UInt8]) throws(JOSEFailure) {
        guard let escape = peek() else { throw JOSEFailure("unterminated JSON string") }
        index += 1
        switch escape {
        case UInt8(ascii: "\""): buffer.append(0x22)
        case UInt8(ascii: "\\"): buffer.append(0x5C)
        case UInt8(ascii: "/"): buffer.append(0x2F)
        case UInt8(ascii: "b"): buffer.append(0x08)
        case UInt8(ascii: "f"): buffer.append(0x0C)
        case UInt8(ascii: "n"): buffer.append(0x0A)
        case UInt8(ascii: "r"): buffer.append(0x0D)
        case UInt8(ascii: "t"): buffer.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4()
            if (0xD800...0xDBFF).contains(scalar) {
                guard peek() == UInt8(ascii: "\\") else { throw JOSEFailure("lone surrogate in JSON string") }
                index += 1
                guard peek() == UInt8(ascii: "u") else { throw JOSEFailure("lone surrogate in JSON string") }
                index += 1
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw JOSEFailure("lone surrogate in JSON string") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw JOSEFailure("lone surrogate in JSON string")
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw JOSEFailure("invalid JSON escape") }
            buffer.append(contentsOf: Array(String(Character(unicode)).utf8))
        default:
            throw JOSEFailure("invalid JSON escape")
        }
    }

    private mutating func parseHex4() throws(JOSEFailure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw JOSEFailure("invalid JSON escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw JOSEFailure("invalid JSON escape")
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
