import ArgumentParser
import Foundation

/// `portcullis approvals …`: calls waiting for a person (docs/response.md).
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals", abstract: "List, approve and deny tool calls waiting for a person.",
        subcommands: [List.self, Show.self, Approve.self, Deny.self])

    /// The approver's own token: approvals are never decided with the admin token.
    struct ApproverOptions: ParsableArguments {
        @Option(help: "Approver token file (default: $PORTCULLIS_APPROVER_TOKEN).") var approverTokenFile: String?

        func token() throws -> String? {
            if let file = approverTokenFile {
                guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
                return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let env = ProcessInfo.processInfo.environment["PORTCULLIS_APPROVER_TOKEN"], !env.isEmpty { return env }
            return nil
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List approvals (newest first).")
        @Option(help: "pending, approved, denied, expired or used.") var status: String?
        @Option(help: "Only this agent's.") var agent: String?
        @OptionGroup var approver: ApproverOptions
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            var query: [String] = []
            if let status { query.append("status=\(status)") }
            if let agent { query.append("agent=\(agent)") }
            let path = "/admin/approvals" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            let value = try await admin.call("GET", path, bearer: try approver.token())
            if admin.json { return try admin.show(value) }
            print(["ID", "STATUS", "AGENT", "TOOL", "ARGS", "EXPIRES", "REASONS"].joined(separator: "\t"))
            for a in (value as? [[String: Any]]) ?? [] {
                let digest = (a["arguments_digest"] as? String).map { String($0.prefix(12)) } ?? "-"
                print([a["id"], a["status"], a["agent"], a["tool"], digest, a["expires_at"], a["reasons"]]
                    .map { AdminOptions.text($0 ?? "-") }.joined(separator: "\t"))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one approval.")
        @Argument var id: String
        @OptionGroup var approver: ApproverOptions
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            try admin.show(try await admin.call("GET", "/admin/approvals/\(id)", bearer: try approver.token()))
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve one exact call (it may then run once).")
        @Argument var id: String
        @Option(help: "Why; required and recorded.") var reason: String
        @OptionGroup var approver: ApproverOptions
        @OptionGroup var admin: AdminOptions

        func run() async throws { try await decide(id, "approve", reason, approver, admin) }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny a call waiting for approval.")
        @Argument var id: String
        @Option(help: "Why; required and recorded.") var reason: String
        @OptionGroup var approver: ApproverOptions
        @OptionGroup var admin: AdminOptions

        func run() async throws { try await decide(id, "deny", reason, approver, admin) }
    }

    static func decide(_ id: String, _ verb: String, _ reason: String, _ approver: ApproverOptions, _ admin: AdminOptions) async throws {
        guard let token = try approver.token() else {
            throw ValidationError("an approver token is required: set PORTCULLIS_APPROVER_TOKEN or pass --approver-token-file")
        }
        try admin.show(try await admin.call("POST", "/admin/approvals/\(id)/\(verb)", body: ["reason": reason], bearer: token))
    }
}

/// `portcullis approvers …`: the named people who decide approvals.
struct ApproversCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvers", abstract: "Add, list and remove approvers (each gets their own token).",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a named person (an approver, or an administrator) and print their token (shown once).",
            discussion: "The token is theirs: for the admin API and the console. A one-time console sign-in link (15 minutes) is printed on standard error.")
        @Argument var name: String
        @Option(help: "approver (default): reads and decides approvals; administrator: everything, under their own name.")
        var role: String = "approver"
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let value = try await admin.call("POST", "/admin/approvers", body: ["name": name, "role": role])
            if admin.json { return try admin.show(value) }
            print(AdminOptions.text((value as? [String: Any])?["token"] ?? "-"))
            if let link = (value as? [String: Any])?["signin_link"] as? String {
                FileHandle.standardError.write(Data("console sign-in link (one use, 15 minutes): \(link)\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List approvers.")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let value = try await admin.call("GET", "/admin/approvers")
            if admin.json { return try admin.show(value) }
            for a in (value as? [[String: Any]]) ?? [] {
                print([a["name"], a["created_at"], a["created_by"]].map { AdminOptions.text($0 ?? "-") }.joined(separator: "\t"))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an approver (their token stops working).")
        @Argument var name: String
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let escaped = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? name
            try admin.show(try await admin.call("DELETE", "/admin/approvers/\(escaped)"))
        }
    }
}

/// `portcullis kill`: the kill switch.
struct KillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Stop agents now: tokens refused, sessions closed, calls in flight cancelled.",
        discussion: "Only `portcullis agent resume ID --reason R` brings a killed agent back.")
    @Option(help: "One agent.") var agent: String?
    @Option(help: "Every agent of this owner.") var owner: String?
    @Flag(help: "Every agent.") var all = false
    @Option(help: "Why; required and recorded.") var reason: String
    @OptionGroup var admin: AdminOptions

    func validate() throws {
        guard [agent != nil, owner != nil, all].filter({ $0 }).count == 1 else {
            throw ValidationError("name exactly one of --agent, --owner or --all")
        }
    }

    func run() async throws {
        var body: [String: Any] = ["reason": reason]
        if let agent { body["agent"] = agent }
        if let owner { body["owner"] = owner }
        if all { body["all"] = true }
        let value = try await admin.call("POST", "/admin/kill", body: body)
        if admin.json { return try admin.show(value) }
        let o = value as? [String: Any] ?? [:]
        let killed = o["killed"] as? [Any] ?? []
        print("killed \(killed.count) agent(s): \(AdminOptions.text(killed))")
        print("sessions closed: \(AdminOptions.text(o["sessions_closed"] ?? 0)), calls cancelled: \(AdminOptions.text(o["calls_cancelled"] ?? 0)), took \(AdminOptions.text(o["took_ms"] ?? 0)) ms")
    }
}

/// `portcullis alerts …`: what the behavioural monitor raised.
struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Behavioural alerts.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List alerts, newest first.")
        @Option(help: "Only this agent's.") var agent: String?
        @Option(help: "At most this many (default 100).") var limit: Int?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            var query: [String] = []
            if let agent { query.append("agent=\(agent)") }
            if let limit { query.append("limit=\(limit)") }
            let value = try await admin.call("GET", "/admin/alerts" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
            if admin.json { return try admin.show(value) }
            print(["AT", "AGENT", "DETECTOR", "SCORE", "RISK", "RESPONSE", "DETAIL"].joined(separator: "\t"))
            for a in (value as? [[String: Any]]) ?? [] {
                print([a["at"], a["agent"], a["detector"], a["score"], a["risk_score"], a["response"], a["detail"]]
                    .map { AdminOptions.text($0 ?? "-") }.joined(separator: "\t"))
            }
        }
    }
}
