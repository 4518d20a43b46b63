@testable import Cedar
import Foundation
import Testing

@Suite("Cedar schemas")
struct SchemaTests {
    @Test("every corpus schema parses")
    func corpusSchemasParse() throws {
        let base = try CedarCorpus.unpackedCorpus.get().appendingPathComponent("corpus-tests")
        let files = try FileManager.default.contentsOfDirectory(atPath: base.path).filter { $0.hasSuffix(".cedarschema") }
        var failures: [String] = []
        for f in files {
            let text = try String(contentsOf: base.appendingPathComponent(f), encoding: .utf8)
            do { _ = try Schema(parsing: text) } catch { failures.append("\(f): \(error)") }
        }
        print("schemas: \(files.count), failures: \(failures.count)")
        for f in failures.prefix(20) { Issue.record("\(f)") }
        #expect(files.count == 7809)
        #expect(failures.isEmpty)
    }
}
