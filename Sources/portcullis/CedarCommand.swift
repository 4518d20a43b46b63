import ArgumentParser
import Cedar

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `portcullis cedar …`: the Cedar engine on its own.
struct CedarCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cedar",
        abstract: "Evaluate Cedar policies offline.",
        subcommands: [CedarAuthorize.self, CedarValidate.self]
    )
}

/// Decides a batch of requests and prints one JSON line per request.
struct CedarAuthorize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authorize",
        abstract: "Authorize requests against policies and entities.",
        discussion: """
        The requests file is a JSON array of {principal, action, resource, context} objects, \
        entity uids written as {"type": …, "id": …}. Prints, per request and in order, \
        {"decision":"allow"|"deny","reasons":[policy ids],"errors":[policy ids]}.
        """
    )

    @Option(help: "Cedar policy file.") var policies: String
    @Option(help: "Entities JSON file.") var entities: String
    @Option(help: "Schema file in the human-readable .cedarschema format.") var schema: String?
    @Option(help: "Requests JSON file.") var requests: String
    @Flag(name: .customLong("annotation-ids"), help: "Use @id annotations as policy ids where present.")
    var annotationIDs = false
    @Option(name: .customLong("policy-index"),
            help: "When to use the policy scope index: automatic, always or never (results are identical).")
    var policyIndex = Authorizer.IndexMode.automatic.rawValue

    func validate() throws {
        guard Authorizer.IndexMode(rawValue: policyIndex) != nil else {
            throw ValidationError("--policy-index must be one of: "
                + Authorizer.IndexMode.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    func run() throws {
        do {
            let schemaValue = try schema.map { path throws(CedarError) in try Schema(parsing: try readFile(path, "schema")) }
            let policySet = try PolicySet.parse(try readFile(policies, "policies"), idsFromAnnotations: annotationIDs)
            let store = try EntitiesJSON.parse(try readFile(entities, "entities"), schema: schemaValue)
            let reqs = try RequestJSON.requests(try readFile(requests, "requests"), schema: schemaValue)
            let authorizer = Authorizer(indexMode: Authorizer.IndexMode(rawValue: policyIndex) ?? .automatic)
            var out = ""
            for r in reqs {
                let response = authorizer.isAuthorized(r, entities: store, policies: policySet)
                out += ResponseJSON.line(response)
                out += "\n"
            }
            print(out, terminator: "")
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// Reads a whole file as UTF-8, with a clear error.
func readFile(_ path: String, _ what: String) throws(CedarError) -> String {
    guard let f = fopen(path, "rb") else {
        throw CedarError(.json, "cannot open \(what) file `\(path)`: \(String(cString: strerror(errno)))")
    }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n > 0 { bytes.append(contentsOf: buffer[0..<n]) }
        if n < buffer.count {
            if ferror(f) != 0 { throw CedarError(.json, "cannot read \(what) file `\(path)`") }
            break
        }
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw CedarError(.json, "\(what) file `\(path)` is not valid UTF-8")
    }
    return text
}

/// Renders responses as the CLI's JSON lines.
enum ResponseJSON {
    static func line(_ r: Response) -> String {
        JSONValue.object([
            ("decision", .string(r.decision.rawValue)),
            ("reasons", .array(r.reasons.map { .string($0) })),
            ("errors", .array(r.errors.map { .string($0.policyID) })),
        ]).serialized
    }
}

/// Validates policies against a schema (strict mode), on its own or in batches.
struct CedarValidate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate Cedar policies against a schema (strict mode).",
        discussion: """
        Prints {"passed":true|false,"errors":[{"policy","kind","message"}],"warnings":[…]}; exit status 1 when the \
        policies do not validate. With --batch, reads a file of JSON lines {"policies": text, "schema": text} and \
        prints one result line per input line (a line that does not parse gets {"error": message}).
        """
    )

    @Option(help: "Cedar policy file.") var policies: String?
    @Option(help: "Schema file in the human-readable .cedarschema format.") var schema: String?
    @Option(help: "JSON lines of {\"policies\": …, \"schema\": …}.") var batch: String?
    @Flag(name: .customLong("annotation-ids"), help: "Use @id annotations as policy ids where present.")
    var annotationIDs = false

    func validate() throws {
        guard (batch == nil) == (policies != nil && schema != nil) else {
            throw ValidationError("give --policies and --schema, or --batch")
        }
    }

    static func result(policies: String, schema: String, annotationIDs: Bool) -> (line: String, passed: Bool) {
        do {
            let s = try Schema(parsing: schema)
            let set = try PolicySet.parse(policies, idsFromAnnotations: annotationIDs)
            let r = s.validate(policies: set)
            func list(_ issues: [ValidationIssue]) -> JSONValue {
                .array(issues.map { .object([("policy", .string($0.policyID)), ("kind", .string($0.kind.rawValue)),
                                             ("message", .string($0.message))]) })
            }
            let line = JSONValue.object([("passed", .bool(r.passed)), ("errors", list(r.errors)), ("warnings", list(r.warnings))])
            return (line.serialized, r.passed)
        } catch {
            return (JSONValue.object([("error", .string(error.message))]).serialized, false)
        }
    }

    func run() throws {
        if let batch {
            let text = try readFile(batch, "batch")
            var out = ""
            for line in text.split(separator: "\n") where !line.isEmpty {
                guard let item = try? JSONValue.parse(String(line)), case .string(let p)? = item["policies"],
                      case .string(let s)? = item["schema"] else {
                    out += JSONValue.object([("error", .string("not a {policies, schema} line"))]).serialized + "\n"
                    continue
                }
                out += Self.result(policies: p, schema: s, annotationIDs: annotationIDs).line + "\n"
            }
            print(out, terminator: "")
            return
        }
        let (line, passed) = Self.result(policies: try readFile(policies!, "policies"), schema: try readFile(schema!, "schema"),
                                         annotationIDs: annotationIDs)
        print(line)
        if !passed { throw ExitCode(1) }
    }
}
