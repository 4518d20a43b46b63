import Cedar
import Foundation
import Testing

/// The official Cedar integration corpus: decision, reasons and errors must all match.
@Suite("Cedar integration corpus")
struct CorpusConformanceTests {
    static func corpusFiles() throws -> (base: URL, files: [URL]) {
        let base = try CedarCorpus.unpackedCorpus.get()
        let dir = base.appendingPathComponent("corpus-tests")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".entities.json") }
            .sorted()
            .map { dir.appendingPathComponent($0) }
        return (base, files)
    }

    @Test("generated corpus passes 100% with the scope index")
    func generatedCorpus() throws {
        let (base, files) = try Self.corpusFiles()
        #expect(files.count == 7809, "the corpus should hold 7,809 tests")
        let tally = CedarCorpus.run(files, base: base, useSchema: true, authorizer: Authorizer(indexMode: .always))
        print("cedar corpus: \(tally.files) tests, \(tally.requests) requests, \(tally.failures.count) mismatches")
        #expect(tally.requests == 62472)
        for f in tally.failures.prefix(25) { Issue.record("\(f)") }
        #expect(tally.failures.isEmpty)
    }

    @Test("generated corpus passes 100% evaluating every policy (no index)")
    func generatedCorpusUnindexed() throws {
        let (base, files) = try Self.corpusFiles()
        let tally = CedarCorpus.run(files, base: base, useSchema: false, authorizer: Authorizer(indexMode: .never))
        print("cedar corpus (unindexed, no schema): \(tally.files) tests, \(tally.requests) requests, \(tally.failures.count) mismatches")
        for f in tally.failures.prefix(10) { Issue.record("\(f)") }
        #expect(tally.failures.isEmpty)
    }

    @Test("hand-written integration tests pass 100%")
    func handWritten() throws {
        let base = CedarCorpus.cedarRoot
        let testsDir = base.appendingPathComponent("tests")
        var files: [URL] = []
        for sub in try FileManager.default.contentsOfDirectory(atPath: testsDir.path).sorted() {
            let dir = testsDir.appendingPathComponent(sub)
            for f in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where f.hasSuffix(".json") {
                files.append(dir.appendingPathComponent(f))
            }
        }
        #expect(!files.isEmpty)
        let tally = CedarCorpus.run(files, base: base, useSchema: true)
        print("cedar hand-written tests: \(tally.files) tests, \(tally.requests) requests, \(tally.failures.count) mismatches")
        for f in tally.failures { Issue.record("\(f)") }
        #expect(tally.failures.isEmpty)
    }
}
