/// Finds prompt-injection markers in text an agent will read: tool results and tool descriptions.
///
/// Looks for characters a human reviewer cannot see (zero-width, bidirectional controls, Unicode
/// tag characters), HTML comments, and instruction patterns ("ignore previous instructions",
/// "do not tell the user", `<IMPORTANT>` blocks). A finding is a short label, e.g.
/// `hidden-unicode:zero-width`, `instruction:ignore-previous`.
public enum InjectionScanner {
    /// Phrases that address the model rather than the user, lowercased; label → phrases.
    static let instructionPhrases: [(String, [String])] = [
        ("instruction:ignore-previous", ["ignore previous instructions", "ignore all previous instructions",
                                         "ignore the previous instructions", "ignore prior instructions",
                                         "ignore all prior instructions", "ignore the above", "ignore your instructions",
                                         "disregard previous instructions", "disregard all previous", "disregard the above",
                                         "disregard your instructions", "forget your instructions",
                                         "forget all previous instructions"]),
        ("instruction:role-override", ["you are now", "new instructions:", "system prompt:", "[system]", "<system>",
                                       "### system", "developer mode"]),
        ("instruction:concealment", ["do not tell the user", "don't tell the user", "do not mention this",
                                     "don't mention this", "without telling the user", "do not inform the user",
                                     "hide this from the user", "the user must not know"]),
        ("instruction:important-block", ["<important>", "</important>"]),
        ("instruction:exfiltration", ["send the contents of", "upload the contents of", "~/.ssh", "id_rsa",
                                      ".aws/credentials", "exfiltrate"]),
        ("instruction:tool-hijack", ["before using this tool", "before calling any other tool",
                                     "instead of the requested", "when this tool is available"]),
    ]

    /// The phrases as bytes, with the set of their first bytes, for a single pass per string.
    static let compiled: [(label: String, phrases: [[UInt8]])] = instructionPhrases.map { ($0.0, $0.1.map { Array($0.utf8) }) }
    /// Every phrase with its label's index, by first byte: one table lookup per byte of text.
    static let byFirstByte: [[(label: Int, phrase: [UInt8])]] = {
        var table = [[(label: Int, phrase: [UInt8])]](repeating: [], count: 256)
        for (index, entry) in compiled.enumerated() {
            for p in entry.phrases where !p.isEmpty { table[Int(p[0])].append((index, p)) }
        }
        return table
    }()

    /// The findings in `text`, each label once, in a stable order.
    public static func findings(in text: String) -> [String] {
        var found: [String] = []
        var zeroWidth = false, bidi = false, tags = false, nonASCII = false
        for b in text.utf8 where b >= 0x80 {
            nonASCII = true
            break
        }
        if nonASCII {
            for scalar in text.unicodeScalars {
                switch scalar.value {
                case 0x200B...0x200F, 0x2060...0x2064, 0xFEFF, 0x180E: zeroWidth = true
                case 0x202A...0x202E, 0x2066...0x2069, 0x061C: bidi = true
                case 0xE0000...0xE007F: tags = true
                default: break
                }
            }
        }
        if zeroWidth { found.append("hidden-unicode:zero-width") }
        if bidi { found.append("hidden-unicode:bidi") }
        if tags { found.append("hidden-unicode:tag") }
        // Phrases are matched on the text as a model reads it (confusables, entities, invisible characters undone).
        let lower = folded(TextNormalizer.normalize(text))
        if DLPScanner.find(Array("<!--".utf8), in: lower, from: 0) != nil { found.append("html-comment") }
        // Which phrase starts are present at all: most text contains none, and is done here.
        var hits = [Bool](repeating: false, count: compiled.count)
        let table = byFirstByte
        lower.withUnsafeBufferPointer { buffer in
            for i in 0..<buffer.count {
                for (label, p) in table[Int(buffer[i])] where !hits[label] && i + p.count <= buffer.count {
                    var k = 1
                    while k < p.count && buffer[i + k] == p[k] { k += 1 }
                    if k == p.count { hits[label] = true }
                }
            }
        }
        for (index, entry) in compiled.enumerated() where hits[index] { found.append(entry.label) }
        found += addressed(lower)
        return found
    }

    // MARK: - Instructions addressed to the agent

    /// Words that address an AI reader rather than a person (vocatives and names, not "my assistant").
    static let addressing: [String] = [
        "ai assistant", "dear assistant", "hey assistant", "hi assistant", "hello assistant", "attention assistant",
        "note to the assistant", "note for the assistant", "message for the assistant", "to the assistant",
        "assistant:", "assistant must", "assistant should", "assistant reading", "dear agent", "hey agent",
        "attention agent", "note to the agent", "message for the agent", "[to the agent]", "agent:", "ai agent:",
        "ai agent,", "dear ai agent", "ai agent reading",
        "ai model", "language model", "llm", "dear ai", "hey ai", "hi ai", "hello ai", "to the ai", "any ai",
        "ai reading", "agent reading", "bot reading", "if you are an ai", "as an ai", "automated agent",
        "autonomous agent", "ai system", "claude", "chatgpt", "gpt-4", "gpt-5", "gemini", "copilot",
        "instructions for the ai", "instructions for the assistant", "instructions for the agent",
    ]
    /// Claims to speak for the user, or with authority over the agent.
    static let authority: [String] = [
        "this is the user", "message from the user", "from the user:", "the user asked you", "the user wants you",
        "the user has asked you", "the user has authorized", "the user has approved", "the user would like you",
        "i am the user", "i'm the user", "on behalf of the user", "the user's instructions", "your principal",
        "your owner", "admin here", "administrator here", "system notice", "system message", "system override",
        "updated instructions", "new instructions", "additional instructions", "task update",
    ]
    /// Asking for something to happen before, instead of, or on top of the task.
    static let ordering: [String] = [
        "before you", "before completing", "before doing", "before finishing", "before continuing", "before proceeding",
        "before answering", "before responding", "before summarizing", "before summarising", "before replying",
        "before you do", "first,", "first you must", "first, you", "as a first step", "prior to", "instead,",
        "instead of", "immediately", "right away", "right now", "urgent", "do this now", "without asking",
        "without confirmation", "no need to confirm", "don't ask", "do not ask", "also make sure", "make sure to",
        "you must", "you need to", "you should", "please make sure", "it is essential", "it is critical",
    ]
    /// Actions an injection wants done.
    static let actions: [String] = [
        "send ", "forward", "transfer", "wire ", "pay ", "payment to", "email ", "e-mail ", "share ", "invite ",
        "visit ", "open the link", "open this link", "click", "navigate to", "go to http", "download", "upload",
        "post ", "delete ", "remove ", "grant ", "add the user", "change the password", "reset the password",
        "export", "copy the", "reply to", "schedule", "create a ", "summarize all", "fetch ", "browse to",
        "change the", "update the", "use account", "use iban", "use the account", "use the new", "cc ",
    ]

    /// Phrases grouped by their first byte, so a text is read once per group whatever the number of phrases.
    struct PhraseSet: Sendable {
        let byFirst: [[[UInt8]]]

        init(_ phrases: [String]) {
            var table = [[[UInt8]]](repeating: [], count: 256)
            for p in phrases.map({ Array($0.utf8) }) where !p.isEmpty { table[Int(p[0])].append(p) }
            byFirst = table
        }

        func occurs(in text: [UInt8]) -> Bool {
            let table = byFirst
            return text.withUnsafeBufferPointer { buffer in
                for i in 0..<buffer.count {
                    for p in table[Int(buffer[i])] where i + p.count <= buffer.count {
                        var k = 1
                        while k < p.count && buffer[i + k] == p[k] { k += 1 }
                        if k == p.count { return true }
                    }
                }
                return false
            }
        }
    }

    static let speakingToAgent = PhraseSet(addressing + authority)
    static let asking = PhraseSet(actions + ordering)

    /// A text that addresses an AI reader (or claims to speak for the user) and asks for an action, or for something
    /// to happen first or instead: `instruction:addressed-to-agent`. Ordinary mail asks people for things too, so
    /// neither half alone is a finding.
    static func addressed(_ lower: [UInt8]) -> [String] {
        guard speakingToAgent.occurs(in: lower) else { return [] }
        return asking.occurs(in: lower) ? ["instruction:addressed-to-agent"] : []
    }

    /// Findings in every string of a JSON value (keys included).
    public static func findings(inStringsOf strings: [String]) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for s in strings {
            for f in findings(in: s) where seen.insert(f).inserted { out.append(f) }
        }
        // A phrase split across items (two text contents, a key and its value) is read joined.
        if strings.count > 1 {
            for f in findings(in: JSONStrings.joinedForScan(strings)) where seen.insert(f).inserted { out.append(f) }
        }
        return out
    }

    /// ASCII-lowercased UTF-8 bytes, with whitespace runs folded to one space so that spacing
    /// tricks do not hide a phrase.
    static func folded(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        var lastSpace = false
        for b in text.utf8 {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                if !lastSpace { out.append(0x20) }
                lastSpace = true
                continue
            }
            lastSpace = false
            out.append(b >= 0x41 && b <= 0x5A ? b + 32 : b)
        }
        return out
    }
}
