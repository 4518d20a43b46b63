import ArgumentParser
import Foundation

/// `portcullis vault …`: upstream credentials. Write-only: values are read from standard input (never from the
/// command line, which shell history and `ps` keep), and nothing ever prints one back.
struct VaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault", abstract: "Store, list, rotate and delete upstream credentials (values are never shown).",
        subcommands: [Put.self, List.self, Rotate.self, Delete.self, RotateKey.self, Grants.self, Disconnect.self])

    /// The secret fields from standard input: one `field=value` per line, or a bare value for a kind with one field.
    static func readSecret(fields: [String], optional: Bool = false) throws -> [String: String] {
        var text = ""
        while let line = readLine(strippingNewline: true) { text += (text.isEmpty ? "" : "\n") + line }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        if lines.isEmpty && optional { return [:] }
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
                               "oauth_client_credentials": ["client_secret"], "oauth_token_exchange": ["client_secret"],
                               "oauth_user": ["client_secret"]]

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
                  oauth_token_exchange      token_url=<url> client_id=<id> [audience=…] [resource=…] [scope=…]
                                            [auth_method=…] [requested_token_type=…]  client_secret on stdin
                  oauth_user                authorize_url=<url> token_url=<url> client_id=<id> [scope=…]
                                            [resource=…] [issuer=…] [auth_method=none|client_secret_post]
                                            client_secret on stdin (nothing for auth_method=none); each user
                                            connects at <issuer>/connect/<upstream>
                Example: printf %s "$STRIPE_KEY" | portcullis vault put stripe.read --kind header --param header=Authorization --param "prefix=Bearer "
                """)
        @Argument(help: "The secret's name, referenced in configuration as vault:<name>.") var name: String
        @Option(help: "header, bearer, basic, oauth_client_credentials, oauth_token_exchange or oauth_user.") var kind: String
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
            // A public client (oauth_user with auth_method=none) has no secret: nothing on standard input.
            let secret = try VaultCommand.readSecret(fields: fields, optional: kind == "oauth_user")
            try admin.show(try await admin.call("PUT", "/admin/vault/\(AdminOptions.path(name))",
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
            try admin.show(try await admin.call("POST", "/admin/vault/\(AdminOptions.path(name))/rotate",
                                                body: ["secret": secret]))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a secret.")
        @Argument var name: String
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            _ = try await admin.call("DELETE", "/admin/vault/\(AdminOptions.path(name))")
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

    struct Grants: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List users' connections to per-user credentials: secret, user, scope, dates; never a token.")
        @Option(help: "Only this secret's connections.") var secret: String?
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let value = try await admin.call("GET", "/admin/vault/grants" + (secret.map { "?secret=\(AdminOptions.path($0))" } ?? ""))
            if admin.json { return try admin.show(value) }
            print(["SECRET", "USER", "SCOPE", "CONNECTED", "UPDATED"].joined(separator: "\t"))
            for g in (value as? [[String: Any]]) ?? [] {
                print([g["secret"], g["user"], g["scope"], g["created_at"], g["updated_at"]]
                    .map { AdminOptions.text($0 ?? "-") }.joined(separator: "\t"))
            }
        }
    }

    struct Disconnect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a user's connection to a per-user credential (their agents get no credential until they connect again).")
        @Argument var secret: String
        @Argument var user: String
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            _ = try await admin.call("DELETE", "/admin/vault/grants/\(AdminOptions.path(secret))/\(AdminOptions.path(user))")
            print("disconnected \(user) from \(secret)")
        }
    }
}
