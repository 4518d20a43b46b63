import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PortcullisCore
import PortcullisIdentity
#if canImport(Glibc)
import Glibc
#endif

/// The agent's side of the newcomer path: a key written for it, a token obtained with it, and the MCP client
/// configuration that uses it, so nobody needs to write code to try Portcullis.
enum AgentCredentials {
    /// Writes `text` to a new file readable only by its owner (0600). An existing file is never overwritten: it may
    /// be another agent's key.
    static func writeSecretFile(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = errno == EEXIST ? "it already exists (a key is never overwritten)" : String(cString: strerror(errno))
            throw ValidationError("cannot write the private key to `\(path)`: \(reason)")
        }
        defer { close(fd) }
        let bytes = Array((text + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw ValidationError("cannot write the private key to `\(path)`: \(String(cString: strerror(errno)))") }
            written += n
        }
        guard fsync(fd) == 0 else { throw ValidationError("cannot write the private key to `\(path)`: fsync failed") }
    }

    /// Reads an agent's private key (a private JWK file).
    static func readKey(_ path: String) throws -> SigningKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the private key `\(path)`")
        }
        do {
            return try SigningKey(privateJWK: String(decoding: data, as: UTF8.self))
        } catch {
            throw ValidationError("`\(path)` is not a private key JWK (EC P-256 or Ed25519 with `d`): \(error)")
        }
    }

    /// The server's authorization server metadata (RFC 8414): its issuer and token endpoint.
    static func metadata(server: String) async throws -> (issuer: String, tokenEndpoint: String) {
        let url = server.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/.well-known/oauth-authorization-server"
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        } catch {
            throw ValidationError("cannot reach Portcullis at \(server): \(error)")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
              let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let issuer = object["issuer"] as? String, let endpoint = object["token_endpoint"] as? String else {
            throw ValidationError("\(url) did not answer with authorization server metadata (\(response.status.code))")
        }
        return (issuer, endpoint)
    }
}

extension AgentCommand {
    /// `portcullis agent token`: a token for an agent, obtained with its own key (private_key_jwt, RFC 7523).
    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Obtain an access token for an agent with its private key (private_key_jwt, optionally DPoP-bound).",
            discussion: """
                No admin token is involved: the agent authenticates itself. The resource defaults to this server's \
                MCP gateway (<issuer>/mcp, scope mcp).
                """)
        enum Output: String, ExpressibleByArgument, CaseIterable {
            /// The access token alone (for `$(…)`).
            case token
            /// The whole token response.
            case json
            /// `{"Authorization": "Bearer …"}`, for clients that run a command to get their headers.
            case headers
        }

        @Argument(help: "The agent's id (its client_id).") var agent: String
        @Option(help: "The agent's private key (JWK file, as `agent register --generate-key` wrote it).") var key: String
        @Option(help: "The resource (audience) to ask for (default <issuer>/mcp).") var resource: String?
        @Option(help: "The scope to ask for (default mcp).") var scope = "mcp"
        @Option(help: "The agent's configuration digest, when one is pinned.") var configDigest: String?
        @Flag(help: "Bind the token to the key with DPoP (RFC 9449); every request then needs a proof.") var dpop = false
        @Option(help: "token (default), json or headers") var output: Output = .token
        @Option(help: "Portcullis server URL.") var server = "http://127.0.0.1:8640"

        func run() async throws {
            let key = try AgentCredentials.readKey(self.key)
            let (issuer, endpoint) = try await AgentCredentials.metadata(server: server)
            let form = try ClientCredentialsRequest.form(clientID: agent, key: key, tokenEndpoint: endpoint,
                                                         resource: resource ?? issuer + "/mcp", scope: scope,
                                                         configDigest: configDigest)
            var request = HTTPClientRequest(url: endpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            if dpop { request.headers.add(name: "DPoP", value: try DPoPProofSigner(key: key).proof(method: "POST", url: endpoint)) }
            request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
            let response: HTTPClientResponse
            do {
                response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            } catch {
                throw ValidationError("cannot reach the token endpoint \(endpoint): \(error)")
            }
            let data = Data((try await response.body.collect(upTo: 1 << 20)).readableBytesView)
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            guard response.status == .ok, let token = object["access_token"] as? String else {
                let reason = [object["error"], object["error_description"]].compactMap { $0 as? String }.joined(separator: ": ")
                throw ValidationError("\(response.status.code): \(reason.isEmpty ? String(decoding: data, as: UTF8.self) : reason)")
            }
            switch output {
            case .token:
                print(token)
            case .json:
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            case .headers:
                let type = (object["token_type"] as? String) ?? "Bearer"
                print(String(decoding: try JSONSerialization.data(withJSONObject: ["Authorization": "\(type) \(token)"], options: [.sortedKeys]), as: UTF8.self))
            }
        }
    }

    /// `portcullis agent connect`: the MCP client configuration for an agent.
    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the MCP client configuration (Claude Code, Claude Desktop, Cursor, VS Code) for an agent.")
        enum Client: String, ExpressibleByArgument, CaseIterable {
            case all
            case claudeCode = "claude-code"
            case claudeDesktop = "claude-desktop"
            case cursor
            case vscode
        }

        @Argument(help: "The agent's id (its client_id).") var agent: String
        @Option(help: "The agent's private key file (used in the printed token command).") var key: String
        @Option(help: "all (default), claude-code, claude-desktop, cursor or vscode") var client: Client = .all
        @Option(help: "Portcullis server URL.") var server = "http://127.0.0.1:8640"

        func run() async throws {
            _ = try AgentCredentials.readKey(key)
            let (issuer, _) = try await AgentCredentials.metadata(server: server)
            let url = issuer + "/mcp"
            let keyPath = URL(fileURLWithPath: key).standardizedFileURL.path
            let tokenCommand = "portcullis agent token \(agent) --key \(Self.quoted(keyPath)) --server \(server)"
            func json(_ value: Any) throws -> String {
                String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
            }
            var sections: [(Client, String, String)] = []
            sections.append((.claudeCode, "Claude Code (run it again when the token expires)",
                             "claude mcp add --transport http portcullis \(url) --header \"Authorization: Bearer $(\(tokenCommand))\""))
            sections.append((.claudeDesktop, "Claude Desktop (claude_desktop_config.json, through mcp-remote; put a token from `\(tokenCommand)` in AUTH_HEADER)",
                             try json(["mcpServers": ["portcullis": [
                                 "command": "npx", "args": ["mcp-remote", url, "--header", "Authorization:${AUTH_HEADER}"],
                                 "env": ["AUTH_HEADER": "Bearer <token>"]]]])))
            sections.append((.cursor, "Cursor (~/.cursor/mcp.json; start Cursor with PORTCULLIS_TOKEN=$(\(tokenCommand)))",
                             try json(["mcpServers": ["portcullis": ["url": url, "headers": ["Authorization": "Bearer ${env:PORTCULLIS_TOKEN}"]]]])))
            sections.append((.vscode, "VS Code (.vscode/mcp.json; it asks for the token, from `\(tokenCommand)`)",
                             try json(["inputs": [["type": "promptString", "id": "portcullis-token", "password": true,
                                                   "description": "Portcullis access token (\(tokenCommand))"]],
                                       "servers": ["portcullis": ["type": "http", "url": url,
                                                                  "headers": ["Authorization": "Bearer ${input:portcullis-token}"]]]])))
            for (kind, title, text) in sections where client == .all || client == kind {
                if client == .all { print("# \(title)") }
                print(text)
                if client == .all { print() }
            }
            if client == .all {
                print("# Tokens are short-lived (accessTokenTTL, 15 minutes by default): obtain a new one with `\(tokenCommand)`.")
            }
        }

        static func quoted(_ path: String) -> String {
            path.allSatisfy { $0.isLetter || $0.isNumber || "/._-".contains($0) } ? path : "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
    }
}
