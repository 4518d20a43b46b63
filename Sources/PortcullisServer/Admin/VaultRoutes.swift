import Foundation
import Hummingbird
import PortcullisCore
import PortcullisVault

/// Admin API for the vault. Write-only: no route answers with a secret's value, only its metadata.
/// Every change is recorded before it is made (`vault.put`, `vault.rotate`, `vault.delete`, `vault.rotate_key`).
extension AdminRoutes {
    func registerVault(on admin: RouterGroup<PortcullisRequestContext>) {
        let vault = services.vault
        admin.get("/vault") { _, context in
            _ = try context.administrator()
            return try Self.vaultJSON(try await vault.list())
        }
        admin.put("/vault/:name") { request, context in
            let name = try context.parameters.require("name")
            var request = request
            let actor = try context.administrator()
            struct Body: Decodable {
                var kind: String
                var metadata: [String: String]?
                var secret: [String: String]
            }
            let parsed = try HTTP.jsonDecoder.decode(Body.self, from: try await body(&request))
            guard let kind = VaultSecretKind(rawValue: parsed.kind) else {
                throw PortcullisError(.invalidInput, "`kind` must be one of \(VaultSecretKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            do {
                try Vault.validate(name: name)
            } catch let e as VaultError {
                throw PortcullisError(.invalidInput, e.message)
            }
            try await services.recordAdmin(actor: actor, action: "vault.put", resource: "vault:\(name)",
                                           reason: "kind \(kind.rawValue), parameters \(Self.describe(parsed.metadata ?? [:]))")
            let entry = try await Self.vaultCall {
                try await vault.put(name: name, kind: kind, metadata: parsed.metadata ?? [:], secret: SecretValue(parsed.secret), by: actor)
            }
            return try Self.vaultJSON(entry)
        }
        admin.post("/vault/:name/rotate") { request, context in
            let name = try context.parameters.require("name")
            var request = request
            let actor = try context.administrator()
            struct Body: Decodable { var secret: [String: String] }
            let parsed = try HTTP.jsonDecoder.decode(Body.self, from: try await body(&request))
            guard try await vault.entry(name: name) != nil else { throw PortcullisError(.notFound, "no vault secret named `\(name)`") }
            try await services.recordAdmin(actor: actor, action: "vault.rotate", resource: "vault:\(name)", reason: "new value")
            return try Self.vaultJSON(try await Self.vaultCall { try await vault.rotate(name: name, secret: SecretValue(parsed.secret), by: actor) })
        }
        admin.delete("/vault/:name") { _, context in
            let name = try context.parameters.require("name")
            let actor = try context.administrator()
            guard try await vault.entry(name: name) != nil else { throw PortcullisError(.notFound, "no vault secret named `\(name)`") }
            try await services.recordAdmin(actor: actor, action: "vault.delete", resource: "vault:\(name)", reason: "deleted")
            try await Self.vaultCall { try await vault.delete(name: name) }
            return Response(status: .noContent)
        }
        admin.get("/vault/grants") { request, context in
            _ = try context.administrator()
            let secret = request.uri.queryParameters["secret"].map(String.init)
            return try Self.vaultJSON(try await vault.grants(secret: secret))
        }
        admin.delete("/vault/grants/:secret/:user") { _, context in
            let actor = try context.administrator()
            let secret = try context.parameters.require("secret")
            let raw = try context.parameters.require("user")
            let user = raw.removingPercentEncoding ?? raw
            guard try await !vault.grants(secret: secret, user: user).isEmpty else {
                throw PortcullisError(.notFound, "user `\(user)` has no connection to `\(secret)`")
            }
            try await services.recordAdmin(actor: actor, action: "vault.disconnect", resource: "vault:\(secret)",
                                           reason: "user \(user)'s connection ended by an administrator")
            try await Self.vaultCall { try await vault.deleteGrant(secret: secret, user: user) }
            services.injector.forgetTokens(secret: secret, user: user)
            return Response(status: .noContent)
        }
        admin.post("/vault/rotate-key") { _, context in
            let actor = try context.administrator()
            try await services.recordAdmin(actor: actor, action: "vault.rotate_key", resource: "vault",
                                           reason: "re-seal every secret under a new key (was \(vault.keyID))")
            let id = try await Self.vaultCall { try await services.dataDirectory.rotateVaultKey(vault) }
            return HTTP.json(object: ["key_id": id, "secrets": try await vault.list().count])
        }
    }

    static func describe(_ metadata: [String: String]) -> String {
        metadata.isEmpty ? "none" : metadata.keys.sorted().map { "\($0)=\(metadata[$0]!)" }.joined(separator: " ")
    }

    static func vaultJSON<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return HTTP.json(try encoder.encode(value))
    }

    /// Vault errors as API errors: bad input 400, unknown secret 404, anything else a storage failure.
    static func vaultCall<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as VaultError {
            switch e.code {
            case .invalidInput: throw PortcullisError(.invalidInput, e.message)
            case .notFound: throw PortcullisError(.notFound, e.message)
            default: throw PortcullisError(.storage, e.message)
            }
        }
    }
}
