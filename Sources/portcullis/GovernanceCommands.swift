import ArgumentParser
import Foundation

/// A yes/no answer on the command line.
enum Answer: String, ExpressibleByArgument, CaseIterable {
    case yes, no
    var bool: Bool { self == .yes }
}

/// `portcullis review`: record an access review (docs/governance.md).
struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Record an access review of an agent, or of every agent an owner has.",
        discussion: """
            Answers two questions: is the agent still needed (no: it is decommissioned), and are its scopes still \
            right (no: name the scopes to remove with --remove-scope; its tokens are revoked). The next review moves \
            one cadence ahead; an agent suspended only because its review was overdue is resumed.
            """)
    @Argument(help: "The agent's id (or use --owner).") var agent: String?
    @Option(help: "Review every agent this owner has.") var owner: String?
    @Option(help: "Is the agent still needed? (yes or no)") var stillNeeded: Answer
    @Option(help: "Are its scopes still right? (yes or no)") var scopesRight: Answer
    @Option(help: "A scope the agent no longer needs (repeatable).") var removeScope: [String] = []
    @Option(help: "What the reviewer noted.") var notes: String?
    @OptionGroup var admin: AdminOptions

    func validate() throws {
        guard (agent == nil) != (owner == nil) else { throw ValidationError("name an agent or --owner, not both") }
    }

    func run() async throws {
        var body: [String: Any] = ["still_needed": stillNeeded.bool, "scopes_right": scopesRight.bool]
        if !removeScope.isEmpty { body["remove_scopes"] = removeScope }
        body["notes"] = notes
        let path = agent.map { "/admin/agents/\(AdminOptions.path($0))/review" }
            ?? "/admin/owners/\(AdminOptions.path(owner!))/review"
        let result = try await admin.call("POST", path, body: body)
        if admin.json { return try admin.show(result) }
        for r in (result as? [[String: Any]]) ?? [result as? [String: Any] ?? [:]] {
            var line = "\(AdminOptions.text(r["agent"] ?? "-")): \(AdminOptions.text(r["outcome"] ?? "-"))"
            if let removed = r["removed_scopes"] as? [String], !removed.isEmpty { line += " (removed \(removed.joined(separator: " ")))" }
            if r["resumed"] as? Bool == true { line += ", resumed" }
            if let next = r["next_review_at"] as? String { line += ", next review \(next)" }
            print(line)
        }
    }
}

/// `portcullis owners …`: what happens to the agents of a person who leaves.
struct OwnersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "owners", abstract: "Offboard an owner: suspend or transfer every agent they own.",
        subcommands: [Offboard.self])

    struct Offboard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Suspend (or transfer) every agent an owner has and revoke their tokens, in one audited step.")
        @Argument var owner: String
        @Option(help: "Why; required and recorded.") var reason: String
        @Option(help: "Give the agents to this owner instead of suspending them (due for their review within the grace period).")
        var transferTo: String?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            var body: [String: Any] = ["reason": reason]
            body["transfer_to"] = transferTo
            let result = try await admin.call("POST", "/admin/owners/\(AdminOptions.path(owner))/offboard", body: body)
            if admin.json { return try admin.show(result) }
            for item in ((result as? [String: Any])?["agents"] as? [[String: Any]]) ?? [] {
                print("\(AdminOptions.text(item["agent"] ?? "-")): \(AdminOptions.text(item["action"] ?? "-")), "
                      + "\(AdminOptions.text(item["tokens_revoked"] ?? 0)) tokens revoked, \(AdminOptions.text(item["sessions_closed"] ?? 0)) sessions closed")
            }
        }
    }
}

/// `portcullis report …`: the governance reports as a table, JSON or CSV.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Print a governance report: inventory, risk, reviews, figures or maturity.")
    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

    @Argument(help: "inventory, risk, reviews, figures or maturity") var name: String
    @Option(help: "table (default), json or csv") var format: Format = .table
    @Option(help: "Window of the audit-based figures, in days.") var days: Int = 30
    @Option(help: "Write the report to this file instead of standard output.") var output: String?
    @OptionGroup var admin: AdminOptions

    func run() async throws {
        let wire = format == .csv ? "csv" : "json"
        let data = try await admin.raw("GET", "/admin/reports/\(AdminOptions.path(name))?format=\(wire)&days=\(days)")
        var text: String
        switch format {
        case .csv, .json:
            text = String(decoding: data, as: UTF8.self)
        case .table:
            guard let document = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let columns = document["columns"] as? [String], let rows = document["rows"] as? [[String: Any]] else {
                throw ValidationError("the server's report is not the expected JSON")
            }
            text = columns.map { $0.uppercased() }.joined(separator: "\t") + "\n"
            for row in rows { text += columns.map { AdminOptions.text(row[$0] ?? NSNull()) }.joined(separator: "\t") + "\n" }
        }
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
                throw ValidationError("cannot write `\(output)`")
            }
        } else {
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
        }
    }
}
