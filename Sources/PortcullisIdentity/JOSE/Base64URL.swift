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
        let input = Array(text.utf8)
        if input.count % 4 == 1 { return nil }
        var values = [UInt8]()
        values.reserveCapacity(input.count)
        for byte in input {
            let value = decodeTable[Int(byte)]
            if value == 0xFF { return nil }
            values.append(value)
        }
        var output = Data()
        output.reserveCapacity(input.count * 3 / 4)
        var index = 0
        while index + 4 <= values.count {
            let chunk =
                UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12
                | UInt32(values[index + 2]) << 6 | UInt32(values[index + 3])
            output.append(UInt8(chunk >> 16 & 0xFF))
            output.append(UInt8(chunk >> 8 & 0xFF))
            output.append(UInt8(chunk & 0xFF))
            index += 4
        }
        switch values.count - index {
        case 2:
            // 12 bits carry one byte; the low 4 bits must be zero.
            if values[index + 1] & 0x0F != 0 { return nil }
            output.append(values[index] << 2 | values[index + 1] >> 4)
        case 3:
            // 18 bits carry two bytes; the low 2 bits must be zero.
            if values[index + 2] & 0x03 != 0 { return nil }
            output.append(values[index] << 2 | values[index + 1] >> 4)
            output.append((values[index + 1] & 0x0F) << 4 | values[index + 2] >> 2)
        default:
            break
        }
        return output
    }

    /// Whether a text uses only base64url characters (for values copied into thumbprint input).
    static func isAlphabetOnly(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { decodeTable[Int($0)] != 0xFF }
    }
}
