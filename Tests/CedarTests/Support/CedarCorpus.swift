import Cedar
import Foundation
import Testing

/// Locates and unpacks the official Cedar integration corpus in `../shared/cedar/`.
enum CedarCorpus {
    /// The repository root, found from this file's path.
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The directory holding `tests/`, `sample-data/` and `corpus-tests.tar.gz`.
    static var cedarRoot: URL {
        if let dir = ProcessInfo.processInfo.environment["CEDAR_INTEGRATION_DIR"] {
            return URL(fileURLWithPath: dir)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/cedar")
    }

    /// A directory that contains `corpus-tests/`, unpacked once per process into a temporary directory.
    static let unpackedCorpus: Result<URL, any Error> = {
        if let dir = ProcessInfo.processInfo.environment["CEDAR_CORPUS_DIR"] {
            return .success(URL(fileURLWithPath: dir))
        }
        let archive = cedarRoot.appendingPathComponent("corpus-tests.tar.gz")
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("cedar-corpus-\(getpid())")
        do {
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            let tar = Process()
            tar.executableURL = URL(fileURLWithPath: "/bin/tar")
            tar.arguments = ["-xzf", archive.path, "-C", target.path]
            try tar.run()
            tar.waitUntilExit()
            guard tar.terminationStatus == 0 else {
                return .failure(CorpusError("tar exited with \(tar.terminationStatus) for \(archive.path)"))
            }
            // Corpus JSON paths name `corpus-tests/...` relative to this directory.
            return .success(target)
        } catch {
            return .failure(error)
        }
    }()

    struct CorpusError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// One expected result of a test file.
    struct Expectation {
        let description: String
        let requestJSON: JSONValue
        let decision: String
        let reasons: Set<String>
        let errors: Set<String>
    }

    /// A test file: its inputs and expectations.
    struct TestFile {
        let name: String
        let policies: String
        let entities: String
        let schema: String?
        let requests: [Expectation]
    }

    static func read(_ url: URL) throws -> String {
        try String(contentsOf: url, encoding: .utf8)
    }

    /// Loads one integration test JSON file; paths in it are relative to `base`.
    static func load(_ file: URL, base: URL) throws -> TestFile {
        let json = try JSONValue.parse(read(file))
        guard case .string(let policies)? = json["policies"], case .string(let entities)? = json["entities"],
              case .array(let requests)? = json["requests"] else {
            throw CorpusError("\(file.lastPathComponent): not an integration test")
        }
        var schemaText: String?
        if case .string(let s)? = json["schema"] {
            schemaText = try read(base.appendingPathComponent(s))
        }
        let expectations = try requests.map { r -> Expectation in
            guard case .string(let decision)? = r["decision"], case .array(let reasons)? = r["reason"],
                  case .array(let errors)? = r["errors"] else {
                throw CorpusError("\(file.lastPathComponent): malformed request entry")
            }
            var desc = ""
            if case .string(let d)? = r["description"] { desc = d }
            return Expectation(
                description: desc, requestJSON: r, decision: decision.lowercased(),
                reasons: Set(reasons.compactMap { if case .string(let s) = $0 { s } else { nil } }),
                errors: Set(errors.compactMap { if case .string(let s) = $0 { s } else { nil } }))
        }
        return TestFile(name: file.lastPathComponent, policies: try read(base.appendingPathComponent(policies)),
                        entities: try read(base.appendingPathComponent(entities)), schema: schemaText,
                        requests: expectations)
    }

    /// The outcome of running test files.
    struct Tally {
        var files = 0
        var requests = 0
        var failures: [String] = []
    }

    /// Runs test files through the authorizer and compares every result.
    static func run(_ files: [URL], base: URL, useSchema: Bool, authorizer: Authorizer = Authorizer()) -> Tally {
        var tally = Tally()
        for url in files {
            do {
                let test = try load(url, base: base)
                let schema = try useSchema ? test.schema.map { try Schema(parsing: $0) } : nil
                let policies = try PolicySet(parsing: test.policies)
                let entities = try EntitiesJSON.parse(test.entities, schema: schema)
                tally.files += 1
                for expected in test.requests {
                    tally.requests += 1
                    let request: Request
                    do {
                        request = try RequestJSON.request(from: expected.requestJSON, schema: schema, validate: false)
                    } catch {
                        tally.failures.append("\(test.name) [\(expected.description)]: request rejected: \(error)")
                        continue
                    }
                    let r = authorizer.isAuthorized(request, entities: entities, policies: policies)
                    let errors = Set(r.errors.map(\.policyID))
                    if r.decision.rawValue != expected.decision || Set(r.reasons) != expected.reasons
                        || errors != expected.errors {
                        tally.failures.append(
                            "\(test.name) [\(expected.description)]: expected \(expected.decision) "
                                + "reasons \(expected.reasons.sorted()) errors \(expected.errors.sorted()), got "
                                + "\(r.decision.rawValue) reasons \(r.reasons) errors \(r.errors.map { "\($0.policyID): \($0.error)" })")
                    }
                }
            } catch {
                tally.failures.append("\(url.lastPathComponent): \(error)")
            }
        }
        return tally
    }
}
