public import Foundation

/// Unpadded base64url (RFC 7515 §2), strict in what it reads.
///
/// Hand-written rather than Foundation's decoder, which wants the standard
/// alphabet and padding: this one refuses padding, whitespace, the `+`/`/`
/// alphabet and non-zero trailing bits, so that every byte string has exactly one
/// accepted encoding and a token cannot be re-encoded into a second valid form.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// The unpadded base64url text of some bytes.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let input = Array(bytes)
        var output = [UInt8]()
        output.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(chunk >> 18 & 63)])
            output.append(alphabet[Int(chunk >> 12 & 63)])
            output.append(alphabet[Int(chunk >> 6 & 63)])
            output.append(alphabet[Int(chunk & 63)])
            index += 3
        }
        switch input.count - index {
        case 1:
            let chunk = UInt32(input[index]) << 16
            output.append(alphabet[Int(chunk >> 18 & 63)])
            output.append(alphabet[Int(chunk >> 12 & 63)])
        case 2:
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            output.append(alphabet[Int(chunk >> 18 & 63)])
            output.append(alphabet[Int(chunk >> 12 & 63)])
            output.append(alphabet[Int(chunk >> 6 & 63)])
        default:
            break
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The bytes of an unpadded base64url text, or nil when it is not canonical base64url.
    public static func decode(_ text: some StringProtocol) -> Data? {
        decodeBytes(text).map { Data($0) }
    }

    /// ``decode(_:)`` into an array: one pass over the text, no per-byte `Data` appends (which showed in profiles
    /// of DPoP-bound calls, where every proof and token is decoded).
    public static func decodeBytes(_ text: some StringProtocol) -> [UInt8]? {
        var text = String(text)
        return text.withUTF8 { input -> [UInt8]? in
            if input.count % 4 == 1 { return nil }
            var output = [UInt8]()
            output.reserveCapacity(input.count * 3 / 4 + 2)
            var chunk: UInt32 = 0
            var held = 0
            for byte in input {
                let value = decodeTable[Int(byte)]
                if value == 0xFF { return nil }
                chunk = chunk << 6 | UInt32(value)
                held += 1
                if held == 4 {
                    output.append(UInt8(truncatingIfNeeded: chunk >> 16))
                    output.append(UInt8(truncatingIfNeeded: chunk >> 8))
                    output.append(UInt8(truncatingIfNeeded: chunk))
                    chunk = 0
                    held = 0
                }
            }
            switch held {
            case 2:
                // 12 bits carry one byte; the low 4 bits must be zero.
                if chunk & 0x0F != 0 { return nil }
                output.append(UInt8(truncatingIfNeeded: chunk >> 4))
            case 3:
                // 18 bits carry two bytes; the low 2 bits must be zero.
                if chunk & 0x03 != 0 { return nil }
                output.append(UInt8(truncatingIfNeeded: chunk >> 10))
                output.append(UInt8(truncatingIfNeeded: chunk >> 2))
            default:
                break
            }
            return output
        }
    }

    /// Whether a text uses only base64url characters (for values copied into thumbprint input).
    public static func isAlphabetOnly(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { decodeTable[Int($0)] != 0xFF }
    }
}
