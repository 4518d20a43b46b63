import Foundation
import Testing
@testable import PortcullisStore

/// The two ways to open a store; most tests run against both.
enum StoreKind: CaseIterable, CustomTestStringConvertible {
    case file
    case memory

    var testDescription: String {
        switch self {
        case .file: "SQLite file"
        case .memory: "in memory"
        }
    }

    /// Opens a fresh store of this kind, reading time from `clock`.
    func open(clock: TestClock = TestClock()) throws -> OpenedStore {
        switch self {
        case .file:
            let directory = try TemporaryDirectory()
            let store = try SQLiteStore(path: directory.path("portcullis.sqlite"), now: clock.now)
            return OpenedStore(store: store, directory: directory)
        case .memory:
            return OpenedStore(store: try SQLiteStore.inMemory(now: clock.now), directory: nil)
        }
    }
}

/// A store and the temporary directory that holds its file (removed when released).
struct OpenedStore: Sendable {
    let store: SQLiteStore
    let directory: TemporaryDirectory?
}
