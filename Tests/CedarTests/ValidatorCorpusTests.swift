import Cedar
import Foundation
import Testing

/// Strict validation against the official corpus: each test says whether its policy validates against its schema
/// (`shouldValidate`, from the reference validator).
@Suite("Cedar validation: the corpus's shouldValidate")
struct ValidatorCorpusTests {
    @Test("the validator agrees with shouldValidate on every corpus test")
    func corpusAgreement() throws {
        let (base, files) = try CorpusConformanceTests.corpusFiles()
        var agree = 0, checked = 0, passing = 0
        var mismatches: [String] = []
        for url in files {
            let json = try JSONValue.parse(CedarCorpus.read(url))
            guard case .bool(let expected)? = json["shouldValidate"], case .string(let schemaPath)? = json["schema"],
                  case .string(let policyPath)? = json["policies"] else { continue }
            let schema = try Schema(parsing: CedarCorpus.read(base.appendingPathComponent(schemaPath)))
            let policies = try PolicySet(parsing: CedarCorpus.read(base.appendingPathComponent(policyPath)))
            let result = schema.validate(policies: policies)
            checked += 1
            if result.passed { passing += 1 }
            if result.passed == expected {
                agree += 1
            } else {
                mismatches.append("\(url.lastPathComponent): expected \(expected ? "valid" : "invalid"), got "
                    + (result.passed ? "valid" : result.errors.map(\.description).joined(separator: "; ")))
            }
        }
        print("cedar validation corpus: \(checked) tests, \(agree) agree, \(passing) valid, \(mismatches.count) mismatches")
        #expect(checked == 7809)
        for m in mismatches.prefix(30) { Issue.record("\(m)") }
        #expect(mismatches.isEmpty)
    }
}
