public import Foundation
import PortcullisCore
public import PortcullisVault

extension DataDirectory {
    /// The vault's key file (mode 0600), unless the key comes from the environment or a command.
    public var vaultKeyPath: String { path + "/vault.key" }
    /// A new key written by a rotation in progress: promoted to ``vaultKeyPath`` once the database is re-keyed.
    var vaultNextKeyPath: String { path + "/vault.key.next" }

    /// Where the vault key comes from: `PORTCULLIS_VAULT_KEY` (base64), else `PORTCULLIS_VAULT_KEY_COMMAND` (a
    /// command and its arguments separated by spaces, run without a shell), else the key file in the data directory
    /// (created on first start).
    public func vaultKeySource(environment: [String: String] = ProcessInfo.processInfo.environment) -> VaultKeySource {
        if environment["PORTCULLIS_VAULT_KEY"] != nil { return .environment("PORTCULLIS_VAULT_KEY") }
        if let command = environment["PORTCULLIS_VAULT_KEY_COMMAND"], !command.isEmpty {
            return .command(command.split(separator: " ").map(String.init))
        }
        return .file(vaultKeyPath, create: true)
    }

    /// Opens the vault, finishing a key rotation that a crash interrupted (the new key file written but not yet
    /// promoted). A key that does not open the vault stops the start.
    func openVault(store: any VaultStore, environment: [String: String] = ProcessInfo.processInfo.environment)
        async throws -> Vault
    {
        let source = vaultKeySource(environment: environment)
        let key = try source.load(environment: environment)
        if case .file = source, FileManager.default.fileExists(atPath: vaultNextKeyPath) {
            let next = try VaultKeySource.file(vaultNextKeyPath, create: false).load(environment: environment)
            let vault = try await Vault.open(store: store, key: next, previous: key)
            try promoteNextVaultKey()
            return vault
        }
        // A key rotated at its source (environment or command): the old key opens the vault once and everything is
        // re-sealed under the new one.
        let previous = try environment["PORTCULLIS_VAULT_KEY_PREVIOUS"].map { value throws(VaultError) in try VaultKey(text: value) }
        return try await Vault.open(store: store, key: key, previous: previous)
    }

    /// Rotates the file-held key without downtime: the new key is made durable first, the database re-keyed in one
    /// transaction, then the new key file replaces the old one.
    func rotateVaultKey(_ vault: Vault) async throws -> String {
        guard case .file = vaultKeySource() else {
            throw PortcullisError(.configuration, "the vault key comes from the environment or a command: rotate it at its source and restart once with the old key in PORTCULLIS_VAULT_KEY_PREVIOUS")
        }
        let new = VaultKey.generate()
        try DurableFile.replace(vaultNextKeyPath, with: new.text + "\n", mode: 0o600)
        try await vault.rotateKey(to: new)
        try promoteNextVaultKey()
        return new.id
    }

    private func promoteNextVaultKey() throws {
        guard rename(vaultNextKeyPath, vaultKeyPath) == 0 else {
            throw PortcullisError(.storage, "cannot move the new vault key into place at \(vaultKeyPath)")
        }
        let fd = open(path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
