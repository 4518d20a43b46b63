import Foundation

/// Reads text the way a model would, before DLP and the injection scan look at it.
///
/// Tricks that hide a secret or an instruction from a byte-level scanner but not from a model:
/// compatibility forms (fullwidth letters, ligatures), confusable letters from other scripts (a
/// Cyrillic `о` in "ignоre"), invisible and formatting characters (a zero-width space inside a card
/// number), HTML entities and percent-encoding, digits of other scripts. Normalizing undoes them:
/// one decoding round of percent-encoding and HTML entities, NFKC, formatting characters removed,
/// confusables folded to Latin, decimal digits of any script read as ASCII digits.
///
/// Written by hand because no Swift library folds confusables; the table covers the Cyrillic and
/// Greek letters that look like Latin ones (Unicode's confusables for those scripts).
public enum TextNormalizer {
    /// Whether `text` could change under normalization (plain ASCII without `&` or `%` cannot).
    public static func mayChange(_ text: String) -> Bool {
        text.utf8.contains { $0 >= 0x80 || $0 == 0x26 || $0 == 0x25 }
    }

    /// The normalized text; `text` itself when nothing can change.
    public static func normalize(_ text: String) -> String {
        guard mayChange(text) else { return text }
        let decoded = htmlDecoded(percentDecoded(text)).precomposedStringWithCompatibilityMapping
        var out = String.UnicodeScalarView()
        for u in decoded.unicodeScalars {
            let p = u.properties
            if p.generalCategory == .format || p.isDefaultIgnorableCodePoint || p.generalCategory == .control && u.value > 0x7F {
                continue
            }
            if let latin = confusables[u.value] {
                out.append(latin)
            } else if p.generalCategory == .decimalNumber, let v = p.numericValue, v >= 0, v <= 9, u.value > 0x7F {
                out.append(Unicode.Scalar(UInt8(0x30 + Int(v))))
            } else if p.generalCategory == .spaceSeparator, u.value != 0x20 {
                out.append(" ")
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    /// `%XX` sequences decoded when the result is UTF-8; the text unchanged otherwise.
    static func percentDecoded(_ text: String) -> String {
        guard text.utf8.contains(0x25) else { return text }
        return text.removingPercentEncoding ?? text
    }

    /// Numeric (`&#65;`, `&#x41;`) and the common named HTML entities.
    static func htmlDecoded(_ text: String) -> String {
        guard text.utf8.contains(0x26) else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            guard let semi = after.prefix(12).firstIndex(of: ";") else {
                out.append("&")
                rest = after
                continue
            }
            let name = after[..<semi]
            var replacement: String?
            if name.hasPrefix("#x") || name.hasPrefix("#X") {
                replacement = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
            } else if name.hasPrefix("#") {
                replacement = UInt32(name.dropFirst()).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
            } else {
                replacement = named[String(name)]
            }
            if let replacement {
                out += replacement
                rest = after[after.index(after: semi)...]
            } else {
                out.append("&")
                rest = after
            }
        }
        out += rest
        return out
    }

    static let named: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "zwsp": "", "shy": "",
    ]

    /// Cyrillic and Greek letters that look like Latin ones.
    static let confusables: [UInt32: Unicode.Scalar] = {
        let pairs: [(UInt32, Character)] = [
            (0x0430, "a"), (0x0435, "e"), (0x043E, "o"), (0x0440, "p"), (0x0441, "c"), (0x0443, "y"), (0x0445, "x"),
            (0x0456, "i"), (0x0458, "j"), (0x0455, "s"), (0x0501, "d"), (0x04BB, "h"), (0x051B, "q"), (0x051D, "w"),
            (0x0261, "g"), (0x043A, "k"), (0x0442, "t"), (0x043D, "h"), (0x0432, "b"), (0x043C, "m"), (0x0457, "i"),
            (0x0410, "A"), (0x0412, "B"), (0x0415, "E"), (0x041A, "K"), (0x041C, "M"), (0x041D, "H"), (0x041E, "O"),
            (0x0420, "P"), (0x0421, "C"), (0x0422, "T"), (0x0425, "X"), (0x0406, "I"), (0x0408, "J"), (0x0405, "S"),
            (0x03B1, "a"), (0x03BF, "o"), (0x03BD, "v"), (0x03C1, "p"), (0x03B9, "i"), (0x03BA, "k"), (0x03C5, "u"),
            (0x0391, "A"), (0x0392, "B"), (0x0395, "E"), (0x0396, "Z"), (0x0397, "H"), (0x0399, "I"), (0x039A, "K"),
            (0x039C, "M"), (0x039D, "N"), (0x039F, "O"), (0x03A1, "P"), (0x03A4, "T"), (0x03A5, "Y"), (0x03A7, "X"),
        ]
        return Dictionary(pairs.map { ($0.0, $0.1.unicodeScalars.first!) }, uniquingKeysWith: { a, _ in a })
    }()
}
