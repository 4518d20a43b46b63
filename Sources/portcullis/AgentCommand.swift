import ArgumentParser
import Foundation
import PortcullisIdentity

/// `portcullis agent …`: the agent registry, through the admin API.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Register agents and manage their lifecycle.",
        subcommands: [Register.self, List.self, Show.self, Update.self, Suspend.self, Resume.self, Decommission.self,
                      ClearResponse.self, ClearTaint.self, Risk.self, Token.self, Connect.self])

    static func readKey(_ path: String) throws -> Any {
        guard let data = FileManager.default.contents(atPath: path),
              let jwk = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ValidationError("`\(path)` is not a readable JWK (JSON object) file")
        }
        return jwk
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an agent and print its record (client_id).")
        @Option var name: String
        @Option var owner: String
        @Option var purpose: String
        @Option var modelProvider: String
        @Option var model: String
        @Option var modelVersion: String
        @Option(help: "The agent's public key as a JWK file (repeat for several keys).") var publicKey: [String] = []
        @Option(help: "Pinned SHA-256 of the canonical agent configuration.") var configDigest: String?
        @Option(help: "A scope the agent may be granted (repeatable).") var scope: [String] = []
        @Option(help: "A resource (audience) the agent may get tokens for (repeatable).") var audience: [String] = []
        @Option var reviewCadenceDays: Int?
        @Option var maxSessionSeconds: Int?
        @Option var maxConcurrentSessions: Int?
        @Option var trustLevel: Int?
        @Flag(help: "Require DPoP-bound (sender-constrained) tokens.") var requireDpop = false
        @Option(help: "A team the agent belongs to (repeatable; policies see Team parents).") var team: [String] = []
        @Option(help: "Generate the agent's key: write its private key (JWK, mode 0600) to this new file and register the public key.")
        var generateKey: String?
        @Flag(help: "Let the agent use this server's MCP gateway: adds scope `mcp` and audience <issuer>/mcp.") var mcp = false
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            var keys = try publicKey.map(AgentCommand.readKey)
            var scopes = scope
            var audiences = audience
            if mcp {
                let (issuer, _) = try await AgentCredentials.metadata(server: admin.server)
                if !scopes.contains("mcp") { scopes.append("mcp") }
                if !audiences.contains(issuer + "/mcp") { audiences.append(issuer + "/mcp") }
            }
            // The key file is written (exclusively) before the registration, and removed if the registration fails:
            // an agent is never registered with a key nobody holds.
            if let generateKey {
                let key = SigningKey.generate(.es256)
                try AgentCredentials.writeSecretFile(generateKey, key.privateJWK)
                keys.append(try JSONSerialization.jsonObject(with: JSONEncoder().encode(key.publicJWK)))
            }
            var body: [String: Any] = [
                "name": name, "owner": owner, "purpose": purpose, "model_provider": modelProvider, "model": model,
                "model_version": modelVersion, "public_keys": keys,
                "scopes": scopes, "audiences": audiences, "require_dpop": requireDpop, "teams": team,
            ]
            body["config_digest"] = configDigest
            body["review_cadence_days"] = reviewCadenceDays
            body["max_session_seconds"] = maxSessionSeconds
            body["max_concurrent_sessions"] = maxConcurrentSessions
            body["trust_level"] = trustLevel
            let record: Any
            do {
                record = try await admin.call("POST", "/admin/agents", body: body)
            } catch {
                if let generateKey { try? FileManager.default.removeItem(atPath: generateKey) }
                throw error
            }
            try admin.show(record)
            if let generateKey, !admin.json, let id = (record as? [String: Any])?["id"] as? String {
                print("private key: \(generateKey) (0600); a token: portcullis agent token \(id) --key \(generateKey)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agents.")
        @Option(help: "Only agents in this status (active, suspended, quarantined, decommissioned).") var status: String?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let path = "/admin/agents" + (status.map { "?status=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? $0)" } ?? "")
            let value = try await admin.call("GET", path)
            if admin.json {
                try admin.show(value)
                return
            }
            let rows = (value as? [[String: Any]]) ?? []
            print(["ID", "NAME", "OWNER", "STATUS", "MODEL", "NEXT REVIEW"].joined(separator: "\t"))
            for r in rows {
                print([r["id"], r["name"], r["owner"], r["status"], r["model"], r["next_review_at"]]
                    .map { AdminOptions.text($0 ?? "-") }.joined(separator: "\t"))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an agent and its lifecycle history.")
        @Argument var id: String
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let agent = try await admin.call("GET", "/admin/agents/\(id)")
            let events = try await admin.call("GET", "/admin/agents/\(id)/events")
            if admin.json {
                var object = agent as? [String: Any] ?? [:]
                object["events"] = events
                try admin.show(object)
            } else {
                try admin.show(agent)
                print("events:")
                for e in (events as? [[String: Any]]) ?? [] {
                    print("  \(AdminOptions.text(e["at"] ?? "-"))  \(AdminOptions.text(e["kind"] ?? "-"))  by \(AdminOptions.text(e["actor"] ?? "-")): \(AdminOptions.text(e["reason"] ?? "-"))")
                }
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an agent's record.")
        @Argument var id: String
        @Option var name: String?
        @Option var owner: String?
        @Option var purpose: String?
        @Option var modelProvider: String?
        @Option var model: String?
        @Option var modelVersion: String?
        @Option(help: "Replace the public keys with these JWK files.") var publicKey: [String] = []
        @Option var configDigest: String?
        @Option(help: "Replace the allowed scopes.") var scope: [String] = []
        @Option(help: "Replace the allowed audiences.") var audience: [String] = []
        @Option var reviewCadenceDays: Int?
        @Flag(help: "Record a review now: the next review moves one cadence ahead.") var reviewed = false
        @Option var maxSessionSeconds: Int?
        @Option var maxConcurrentSessions: Int?
        @Option var trustLevel: Int?
        @Option(help: "true or false") var requireDpop: Bool?
        @Option(help: "Replace the teams (repeatable).") var team: [String] = []
        @Flag(help: "Remove the agent from every team.") var clearTeams = false
        @Option(help: "Why; recorded in the agent's history.") var reason: String?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            var body: [String: Any] = [:]
            body["name"] = name
            body["owner"] = owner
            body["purpose"] = purpose
            body["model_provider"] = modelProvider
            body["model"] = model
            body["model_version"] = modelVersion
            if !publicKey.isEmpty { body["public_keys"] = try publicKey.map(AgentCommand.readKey) }
            body["config_digest"] = configDigest
            if !scope.isEmpty { body["scopes"] = scope }
            if !audience.isEmpty { body["audiences"] = audience }
            body["review_cadence_days"] = reviewCadenceDays
            if reviewed { body["reviewed"] = true }
            body["max_session_seconds"] = maxSessionSeconds
            body["max_concurrent_sessions"] = maxConcurrentSessions
            body["trust_level"] = trustLevel
            body["require_dpop"] = requireDpop
            if !team.isEmpty { body["teams"] = team }
            if clearTeams { body["teams"] = [String]() }
            body["reason"] = reason
            guard body.keys.contains(where: { $0 != "reason" }) else { throw ValidationError("nothing to update") }
            try admin.show(try await admin.call("PATCH", "/admin/agents/\(id)", body: body))
        }
    }

    /// The shape shared by the lifecycle commands.
    struct Transition: ParsableArguments {
        @Argument var id: String
        @Option(help: "Why; required and recorded in the agent's history.") var reason: String
        @OptionGroup var admin: AdminOptions

        func run(_ verb: String) async throws {
            try admin.show(try await admin.call("POST", "/admin/agents/\(id)/\(verb)", body: ["reason": reason]))
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suspend an agent: its tokens are revoked.")
        @OptionGroup var transition: Transition
        func run() async throws { try await transition.run("suspend") }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a suspended, quarantined or killed agent (also clears its automatic response and risk score).")
        @OptionGroup var transition: Transition
        func run() async throws { try await transition.run("resume") }
    }

    struct Decommission: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Decommission an agent for good.")
        @OptionGroup var transition: Transition
        func run() async throws { try await transition.run("decommission") }
    }

    struct ClearResponse: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "clear-response",
            abstract: "Reverse an automatic response (approve_writes, read_only) and reset the risk score.")
        @OptionGroup var transition: Transition
        func run() async throws { try await transition.run("clear-response") }
    }

    struct ClearTaint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "clear-taint",
            abstract: "End an agent's taint (for every user it acts for) after a person has reviewed its untrusted input.")
        @OptionGroup var transition: Transition
        func run() async throws { try await transition.run("clear-taint") }
    }

    struct Risk: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an agent's risk score, automatic response and baseline.")
        @Argument var id: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try admin.show(try await admin.call("GET", "/admin/agents/\(id)/risk")) }
    }
}
