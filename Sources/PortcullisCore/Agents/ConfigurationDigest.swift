public import Foundation
import Crypto

/// The attested configuration of an agent; its digest is pinned at registration.
///
/// The digest is SHA-256 over the canonical JSON (sorted keys, no whitespace) of
/// the five fields, so any client can recompute it byte for byte.
public struct AgentConfiguration: Sendable, Codable, Equatable {
    public var model: String
    public var modelVersion: String
    public var systemPromptDigest: String
    public var toolDefinitionsDigest: String
    public var runtimeImageDigest: String

    public init(model: String, modelVersion: String, systemPromptDigest: String, toolDefinitionsDigest: String,
                runtimeImageDigest: String) {
        self.model = model
        self.modelVersion = modelVersion
        self.systemPromptDigest = systemPromptDigest
        self.toolDefinitionsDigest = toolDefinitionsDigest
        self.runtimeImageDigest = runtimeImageDigest
    }

    enum CodingKeys: String, CodingKey {
        case model
        case modelVersion = "model_version"
        case systemPromptDigest = "system_prompt_digest"
        case toolDefinitionsDigest = "tool_definitions_digest"
        case runtimeImageDigest = "runtime_image_digest"
    }

    /// The canonical JSON bytes that are hashed.
    public var canonicalJSON: Data {
        // Encoding with sorted keys and no whitespace cannot fail for plain strings.
        (try? JSONEncoder.canonical.encode(self)) ?? Data()
    }

    /// Lowercase hex SHA-256 of ``canonicalJSON``.
    public var digest: String {
        Hex.encode(SHA256.hash(data: canonicalJSON))
    }
}

extension JSONEncoder {
    /// Sorted keys, no whitespace, no escaped slashes: one byte sequence per value.
    public static var canonical: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
