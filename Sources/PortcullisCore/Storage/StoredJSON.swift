public import Foundation

/// The JSON form records take in a store's body columns (SQLite and PostgreSQL alike): sorted keys, dates as
/// unix seconds (so a date reads back to the same `Double` a date column would hold).
public enum StoredJSON {
    /// The body text of `value`.
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The value a body text holds.
    ///
    /// - Parameter what: What the body is (for the error message), e.g. "approval apr_1".
    /// - Throws: ``PortcullisError`` `.storage` when the text does not decode: a store never guesses.
    public static func decode<T: Decodable>(_ type: T.Type, _ text: String, _ what: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        do {
            return try decoder.decode(T.self, from: Data(text.utf8))
        } catch {
            throw PortcullisError(.storage, "\(what) is not readable: \(error)")
        }
    }
}
