public import Foundation

/// A transparency-log checkpoint (C2SP tlog-checkpoint): origin, tree size and root hash.
///
/// Its text form is the body of a signed note:
///
/// ```
/// <origin>
/// <tree size, decimal>
/// <root hash, standard base64>
/// ```
public struct Checkpoint: Sendable, Equatable {
    /// The log's unique name.
    public var origin: String
    /// The number of entries the checkpoint covers.
    public var size: UInt64
    /// The RFC 6962 root hash of the first `size` entries.
    public var rootHash: RFC6962.Hash

    public init(origin: String, size: UInt64, rootHash: RFC6962.Hash) {
        self.origin = origin
        self.size = size
        self.rootHash = rootHash
    }

    /// The note text that is signed.
    public var text: String {
        "\(origin)\n\(size)\n\(Data(rootHash).base64EncodedString())\n"
    }

    /// Parses a checkpoint body; extension lines after the third are allowed and ignored.
    ///
    /// - Throws: ``AuditError`` with code `.malformed`.
    public init(text: String) throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard text.hasSuffix("\n"), lines.count >= 4, !lines[0].isEmpty,
              let size = UInt64(lines[1]), String(size) == lines[1],
              let root = Data(base64Encoded: String(lines[2])), root.count == 32 else {
            throw AuditError(.malformed, "not a checkpoint (origin, decimal size, base64 SHA-256 root)")
        }
        self.init(origin: String(lines[0]), size: size, rootHash: [UInt8](root))
    }
}

/// A checkpoint with its signed note.
public struct SignedCheckpoint: Sendable, Equatable {
    public var checkpoint: Checkpoint
    public var note: SignedNote

    public init(checkpoint: Checkpoint, note: SignedNote) {
        self.checkpoint = checkpoint
        self.note = note
    }

    /// Parses a signed checkpoint note (signatures are not verified here).
    public init(parsing text: String) throws {
        let note = try SignedNote(parsing: text)
        self.init(checkpoint: try Checkpoint(text: note.text), note: note)
    }

    public var size: UInt64 { checkpoint.size }
    public var rootHash: RFC6962.Hash { checkpoint.rootHash }
}
