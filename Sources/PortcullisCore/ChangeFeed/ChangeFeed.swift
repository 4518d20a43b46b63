import Synchronization

/// A change to state that caches hold, announced to every part of the deployment that caches it.
public enum StateChange: Sendable, Equatable {
    /// An agent's record or lifecycle changed (update, suspension, resumption, decommissioning, kill);
    /// its tokens' standing may have changed with it.
    case agent(String)
    /// One token was revoked.
    case token(String)
    /// The listed agents were killed.
    case killed([String])
    /// The policy set in force changed.
    case policies
    /// A tool's pin, classification or status changed.
    case tool(String)
    /// An approval was decided.
    case approval(String)
    /// Anything may have changed: a replica that lost its feed has reconnected, and drops every cached value.
    case all
    /// An agent's taint changed (it read untrusted input or labelled data, or a person cleared it).
    case taint(TaintChange)
    /// An agent's risk state (score, automatic response) changed in the store.
    case risk(String)
}

/// A change to an agent's taint, carried to the other replicas so that taint follows the agent.
public struct TaintChange: Sendable, Equatable, Codable {
    public enum Kind: Sendable, Equatable, Codable {
        /// Tainted by a result of `source` (a tool or upstream); `injected` when the scanner found instructions.
        case source(String, injected: Bool)
        /// Read data labelled `dataClass`.
        case read(String)
        /// A person cleared the agent's taint (for every user).
        case cleared
    }

    public var agentID: String
    public var user: String?
    public var kind: Kind

    public init(agentID: String, user: String?, kind: Kind) {
        self.agentID = agentID
        self.user = user
        self.kind = kind
    }
}

/// Where changes are published and caches learn of them.
///
/// The contract callers rely on: when ``publish(_:)`` returns, every subscriber of this process has
/// applied the change, so an admin call that publishes before it answers is in force on the hot
/// path when its answer arrives. A multi-node implementation (PostgreSQL `LISTEN/NOTIFY`, issue
/// #14) adds delivery to the other nodes, and refuses what it cannot vouch for while disconnected.
public protocol ChangeFeed: Sendable {
    /// Publishes a change; returns once this process's subscribers have applied it.
    func publish(_ change: StateChange) async
    /// Calls `handler` for every change published from now on. Handlers must be quick and must not block.
    func subscribe(_ handler: @escaping @Sendable (StateChange) -> Void)
    /// Throws when this process cannot vouch that its caches hold every change published so far (a replica cut
    /// off from the feed); whoever serves from a cache calls it first and refuses on a throw.
    func vouch() throws
}

/// Thrown by ``ChangeFeed/vouch()``: this replica may hold stale state, so it serves nothing until it has
/// resynchronised. Safe to show to a caller (it names no data, only the replica's condition).
public struct StaleReplica: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

extension ChangeFeed {
    /// A single process sees every change it publishes: always fresh.
    public func vouch() throws {}
}

/// The single-node feed: subscribers are called in process, synchronously, before `publish` returns.
public final class LocalChangeFeed: ChangeFeed {
    private let handlers = Mutex<[@Sendable (StateChange) -> Void]>([])
    private let published = Mutex(0)

    public init() {}

    public func publish(_ change: StateChange) async {
        published.withLock { $0 += 1 }
        for handler in handlers.withLock({ $0 }) { handler(change) }
    }

    public func subscribe(_ handler: @escaping @Sendable (StateChange) -> Void) {
        handlers.withLock { $0.append(handler) }
    }

    /// How many changes were published (for tests and metrics).
    public var count: Int { published.withLock { $0 } }
}
