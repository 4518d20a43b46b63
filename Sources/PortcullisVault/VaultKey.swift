import Crypto
public import Foundation
import PortcullisCore

/// The key-encryption key of the vault: 32 random bytes kept outside the database.
///
/// Where it comes from, in order of preference for production: an external command (a KMS or secret manager's
/// CLI) that prints it, an environment variable, or a file in the data directory created with mode 0600 (the
/// default, so that `portcullis serve` works on a fresh machine). The text form is base64 of the 32 bytes.
public struct VaultKey: Sendable {
    let key: SymmetricKey
    /// A fingerprint of the key (never the key): stored with every secret sealed under it.
    public let id: String

    public init(bytes: [UInt8]) throws(VaultError) {
        guard bytes.count == 32 else {
            throw VaultError(.badKey, "a vault key is 32 bytes (base64: 44 characters); this one is \(bytes.count)")
        }
        key = SymmetricKey(data: bytes)
        var hasher = SHA256()
        hasher.update(data: Array("portcullis vault key id\n".utf8))
        hasher.update(data: bytes)
        id = "vk-" + Hex.encode(hasher.finalize().prefix(8))
    }

    /// A new random key.
    public static func generate() -> VaultKey {
        var g = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: g.next() as UInt64) { bytes.append(contentsOf: $0) } }
        return try! VaultKey(bytes: bytes)  // 32 bytes by construction
    }

    /// The key from its text form (base64, surrounding whitespace ignored).
    public init(text: String) throws(VaultError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = Data(base64Encoded: trimmed) else {
            throw VaultError(.badKey, "the vault key is not base64")
        }
        try self.init(bytes: [UInt8](data))
    }

    /// The text form, for the key file.
    public var text: String {
        key.withUnsafeBytes { Data($0).base64EncodedString() }
    }
}

/// Where the vault key comes from.
public enum VaultKeySource: Sendable, Equatable, CustomStringConvertible {
    /// A file holding the base64 key; created (mode 0600) when missing if `create` is true.
    case file(String, create: Bool)
    /// An environment variable holding the base64 key.
    case environment(String)
    /// A command (no shell) whose standard output is the base64 key.
    case command([String])

    public var description: String {
        switch self {
        case .file(let path, _): "the file \(path)"
        case .environment(let name): "the environment variable \(name)"
        case .command(let argv): "the command `\(argv.first ?? "")`"
        }
    }

    /// Reads the key. A file key must not be readable by group or others (as ssh refuses such a private key).
    public func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws(VaultError) -> VaultKey {
        switch self {
        case .file(let path, let create):
            let fm = FileManager.default
            if !fm.fileExists(atPath: path) {
                guard create else { throw VaultError(.badKey, "no vault key at \(path)") }
                let key = VaultKey.generate()
                do {
                    try DurableFile.replace(path, with: key.text + "\n", mode: 0o600)
                } catch {
                    throw VaultError(.badKey, "cannot create the vault key at \(path): \(error)")
                }
                return key
            }
            guard let attributes = try? fm.attributesOfItem(atPath: path),
                  let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value else {
                throw VaultError(.badKey, "cannot read the permissions of the vault key at \(path)")
            }
            guard mode & 0o077 == 0 else {
                throw VaultError(.badKey, "the vault key at \(path) is readable by others (mode \(String(mode, radix: 8))); run `chmod 600 \(path)`")
            }
            guard let data = fm.contents(atPath: path) else { throw VaultError(.badKey, "cannot read the vault key at \(path)") }
            return try VaultKey(text: String(decoding: data, as: UTF8.self))
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw VaultError(.badKey, "the environment variable \(name) holds no vault key")
            }
            return try VaultKey(text: value)
        case .command(let argv):
            guard let executable = argv.first, !executable.isEmpty else { throw VaultError(.badKey, "the vault key command is empty") }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = Array(argv.dropFirst())
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                throw VaultError(.badKey, "cannot run the vault key command `\(executable)`: \(error)")
            }
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw VaultError(.badKey, "the vault key command `\(executable)` exited with status \(process.terminationStatus)")
            }
            return try VaultKey(text: String(decoding: data, as: UTF8.self))
        }
    }
}
