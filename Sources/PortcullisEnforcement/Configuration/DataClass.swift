/// The data classes an upstream can carry, least to most sensitive.
public enum DataClass: String, Sendable, CaseIterable, Codable, Comparable {
    case `public`
    case `internal`
    case confidential
    case restricted

    public static func < (a: DataClass, b: DataClass) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
