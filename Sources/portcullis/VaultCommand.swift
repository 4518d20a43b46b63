import ArgumentParser
import Foundation

/// `portcullis vault …`: upstream credentials. Write-only: values are read from standard input (never from the
/// command line, which shell history and `ps` keep), and nothing ever prints one back.
struct VaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault", abstract: "Store, list, rotate and delete upstream credentials (values are never shown).",
        subcommands: [Put.self, List.self, Rotate.self, Delete.self, RotateKey.self])

    /// The secret fields from standard input: one `field=value` per line, or a bare value for a kind with one field.
    static func readSecret(fields: [String]) throws -> [String: String] {
        var text = ""
        while let line = readLine(strippingNewline: true) { text += (text.isEmpty ? "" : "\n") + line }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard !lines.isEmpty else { throw ValidationError("no secret on standard input") }
        if fields.count == 1, lines.count == 1, !lines[0].hasPrefix(fields[0] + "=") { return [fields[0]: lines[0]] }
        var out: [String: String] = [:]
        for line in lines {
            guard let eq = line.firstIndex(of: "=") else { throw ValidationError("each line of standard input is field=value") }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return out
    }

    static let fieldsByKind = ["header": ["value"], "bearer": ["token"], "basic": ["password"],
                               "oauth_client_credentials": ["client_secret"]]

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a secret; its value is read from standard input.",
            discussion: """
                Kinds and their parameters (--param key=value, not secret):
                  header                    header=<name> [prefix=<text>]   value on stdin
                  bearer                                                    token on stdin
                  basic                     username=<user>                 password on stdin
                  oauth_client_credentials  token_url=<url> client_id=<id> [scope=…] [audience=…]
                                            [auth_method=client_secret_post]  client_secret on stdin
                Example: printf %s "$STRIPE_KEY" | portcullis vault put stripe.read --kind header --param header=Authorization --param "prefix=Bearer "
                """)
        @Argument(help: "The secret's name, referenced in configuration as vault:<name>.") var name: String
        @Option(help: "header, bearer, basic or oauth_client_credentials.") var kind: String
        @Option(name: .customLong("param"), help: "A parameter, key=value (repeatable).") var params: [String] = []
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            guard let fields = VaultCommand.fieldsByKind[kind] else {
                throw ValidationError("--kind must be one of \(VaultCommand.fieldsByKind.keys.sorted().joined(separator: ", "))")
            }
            var metadata: [String: String] = [:]
            for p in params {
                guard let eq = p.firstIndex(of: "=") else { throw ValidationError("--param takes key=value") }
                metadata[String(p[..<eq])] = String(p[p.index(after: eq)...])
            }
            let secret = try VaultCommand.readSecret(fields: fields)
            try admin.show(try await admin.call("PUT", "/admin/vault/\(ToolsCommand.Approve.escape(name))",
                                                body: ["kind": kind, "metadata": metadata, "secret": secret]))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List secrets: name, kind, parameters, version; never values.")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let value = try await admin.call("GET", "/admin/vault")
            if admin.json { return try admin.show(value) }
            print(["NAME", "KIND", "VERSION", "UPDATED", "BY", "PARAMETERS"].joined(separator: "\t"))
            for s in (value as? [[String: Any]]) ?? [] {
                let params = (s["metadata"] as? [String: Any] ?? [:]).keys.sorted()
                    .map { "\($0)=\(AdminOptions.text((s["metadata"] as? [String: Any])?[$0] ?? ""))" }.joined(separator: " ")
                print([s["name"], s["kind"], s["version"], s["updated_at"], s["updated_by"], params]
                    .map { AdminOptions.text($0 ?? "-") }.joined(separator: "\t"))
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a secret's value (read from standard input), keeping its kind and parameters.")
        @Argument var name: String
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let listed = try await admin.call("GET", "/admin/vault")
            guard let kind = ((listed as? [[String: Any]]) ?? []).first(where: { $0["name"] as? String == name })?["kind"] as? String,
                  let fields = VaultCommand.fieldsByKind[kind] else {
                throw ValidationError("no vault secret named `\(name)`")
            }
            let secret = try VaultCommand.readSecret(fields: fields)
            try admin.show(try await admin.call("POST", "/admin/vault/\(ToolsCommand.Approve.escape(name))/rotate",
                                                body: ["secret": secret]))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a secret.")
        @Argument var name: String
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            _ = try await admin.call("DELETE", "/admin/vault/\(ToolsCommand.Approve.escape(name))")
            print("deleted \(name)")
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Re-seal every secret under a new vault key, while the server runs (key file only).")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            try admin.show(try await admin.call("POST", "/admin/vault/rotate-key"))
        }
    }
}
