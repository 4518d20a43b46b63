import Foundation
import PortcullisCore

/// Encoding and decoding of the JSON text columns (string arrays).
enum JSONColumn {
    /// The JSON array text for `strings`.
    static func encode(_ strings: [String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: try encoder.encode(strings), as: UTF8.self)
    }

    /// The strings of a JSON array text.
    ///
    /// - Parameter column: The `table.column` name, for the error message.
    /// - Throws: ``PortcullisError`` with code `.storage` when the text is not a JSON array of strings.
    static func decode(_ text: String, column: String) throws -> [String] {
        do {
            return try JSONDecoder().decode([String].self, from: Data(text.utf8))
        } catch {
            throw PortcullisError(.storage, "\(column) does not hold a JSON array of strings")
        }
    }
}
