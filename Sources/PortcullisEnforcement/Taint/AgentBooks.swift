public import Foundation
import Synchronization

/// State kept per agent and the user it acts for, that lapses `lifetime` after its last change: taint, the data
/// classes read, provenance, the session's history. Each keeps its book here, so that they share one meaning of
/// "the same agent for the same user" and of when it ends (a new MCP session, token or protocol generation keeps a
/// book; the same agent acting for another user has its own).
protocol LapsingBook: Sendable {
    /// When the book last changed.
    var last: Date { get }
}

final class AgentBooks<Book: LapsingBook>: Sendable {
    private let table = Mutex<[String: Book]>([:])
    let lifetime: TimeInterval

    init(lifetime: TimeInterval) {
        self.lifetime = lifetime
    }

    static func key(agentID: String, user: String?) -> String { agentID + "\u{0}" + (user ?? "") }

    /// The book in force, nil when there is none or it lapsed (a lapsed book is dropped).
    func book(agentID: String, user: String?, now: Date) -> Book? {
        table.withLock { t in
            let k = Self.key(agentID: agentID, user: user)
            guard let b = t[k] else { return nil }
            if now.timeIntervalSince(b.last) > lifetime {
                t.removeValue(forKey: k)
                return nil
            }
            return b
        }
    }

    /// Runs `body` on the book in force (nil when there is none or it lapsed), atomically; what `body` leaves is
    /// kept (nil drops the book).
    func modify<R>(agentID: String, user: String?, now: Date, _ body: (inout Book?) -> R) -> R {
        table.withLock { t in
            let k = Self.key(agentID: agentID, user: user)
            // Taken out of the table, so that `body` changes the only copy (a book left in place would be copied
            // whole on its first change).
            var b = t.removeValue(forKey: k).flatMap { now.timeIntervalSince($0.last) <= lifetime ? $0 : nil }
            let result = body(&b)
            t[k] = b
            return result
        }
    }

    /// The agent's books in force, one per user it acts for (nil: on its own behalf), by user.
    func books(agentID: String, now: Date) -> [(user: String?, book: Book)] {
        table.withLock { t in
            t.filter { $0.key.hasPrefix(agentID + "\u{0}") && now.timeIntervalSince($0.value.last) <= lifetime }
                .map { key, book in
                    let user = String(key.dropFirst(agentID.count + 1))
                    return (user.isEmpty ? nil : user, book)
                }
                .sorted { ($0.user ?? "") < ($1.user ?? "") }
        }
    }

    /// Drops every book of the agent; returns how many there were.
    @discardableResult
    func clear(agentID: String) -> Int {
        table.withLock { t in
            let keys = t.keys.filter { $0.hasPrefix(agentID + "\u{0}") }
            for k in keys { t.removeValue(forKey: k) }
            return keys.count
        }
    }
}
