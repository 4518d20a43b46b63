public import Foundation
public import Logging
public import PortcullisCore
import PostgresNIO
import Synchronization

/// The change feed across replicas: PostgreSQL `LISTEN/NOTIFY` (docs/scale-out.md).
///
/// A change is applied to this process's subscribers before ``publish(_:)`` returns (as the local feed does), and
/// sent with `pg_notify` to every other replica, whose listener applies it as it arrives.
///
/// **Freshness.** PostgreSQL delivers notifications to a listener in commit order. Every `heartbeat` the feed
/// notifies itself; when its own heartbeat sent at time T comes back, every change committed before T has been
/// delivered, so the caches are fresh as of T. ``vouch()`` throws when the last such round trip is older than
/// `staleAfter`, or the listener is down: a replica cut off from the feed (or from PostgreSQL) refuses calls
/// instead of serving a killed agent from memory. When the listener connects again it first runs the
/// resynchronisation hook (every cache dropped, kills re-read from the tables) and only then vouches again.
public final class PostgresChangeFeed: ChangeFeed {
    /// The notification channel.
    public static let channel = "portcullis_changes"
    /// This replica's name on the feed (its own notifications are not applied twice).
    public let node: String
    let store: PostgresStore
    let heartbeat: Duration
    let staleAfter: Duration
    let logger: Logger
    private let handlers = Mutex<[@Sendable (StateChange) -> Void]>([])
    private let resynchronizers = Mutex<[@Sendable () async throws -> Void]>([])
    private let state = Mutex(FeedState())
    private let listener = Mutex<Task<Void, Never>?>(nil)

    struct FeedState {
        var connected = false
        /// When the heartbeat that last came back was sent.
        var freshAsOf: ContinuousClock.Instant?
        /// Heartbeats in flight, by sequence number.
        var sent: [UInt64: ContinuousClock.Instant] = [:]
        var sequence: UInt64 = 0
        var since = ContinuousClock.now
        var reason = "the change feed has not connected yet"
    }

    /// - Parameters:
    ///   - heartbeat: How often the feed checks its own delivery (default 200 ms).
    ///   - staleAfter: How old the last confirmed delivery may be before this replica refuses calls (default 1 s).
    public init(store: PostgresStore, node: String = "node-" + UUID().uuidString.prefix(8).lowercased(),
                heartbeat: Duration = .milliseconds(200), staleAfter: Duration = .seconds(1),
                logger: Logger = Logger(label: "portcullis.feed")) {
        self.store = store
        self.node = node
        self.heartbeat = heartbeat
        self.staleAfter = staleAfter
        self.logger = logger
    }

    /// Starts listening (and reconnecting until ``stop()``).
    public func start() {
        listener.withLock { task in
            guard task == nil else { return }
            task = Task { [self] in await self.listen() }
        }
    }

    public func stop() {
        listener.withLock { $0?.cancel(); $0 = nil }
    }

    /// Runs `work` after every (re)connection, before the feed vouches again; a throw drops the connection and
    /// the feed tries again.
    public func onResynchronize(_ work: @escaping @Sendable () async throws -> Void) {
        resynchronizers.withLock { $0.append(work) }
    }

    public func subscribe(_ handler: @escaping @Sendable (StateChange) -> Void) {
        handlers.withLock { $0.append(handler) }
    }

    public func vouch() throws {
        let (fresh, reason, since) = state.withLock { s -> (Bool, String, ContinuousClock.Instant) in
            guard s.connected, let asOf = s.freshAsOf else { return (false, s.reason, s.since) }
            return (ContinuousClock.now - asOf < staleAfter, "no heartbeat came back through the change feed", asOf)
        }
        guard !fresh else { return }
        let ms = Int((ContinuousClock.now - since) / .milliseconds(1))
        throw StaleReplica("this replica cannot vouch for its state (\(reason), for \(ms) ms): "
                           + "calls are refused until it has resynchronised from PostgreSQL")
    }

    public func publish(_ change: StateChange) async {
        apply(change)
        for payload in Self.encode(change, node: node) {
            // Delivery is retried briefly; a replica that misses it anyway goes stale (its heartbeats stop
            // coming back while PostgreSQL is unreachable) and resynchronises from the tables.
            for attempt in 0..<5 {
                do {
                    _ = try await store.client.query("SELECT pg_notify(\(Self.channel), \(payload))", logger: logger)
                        .collect()
                    break
                } catch {
                    logger.error("cannot notify the other replicas", metadata: ["error": "\(String(reflecting: error))",
                                                                               "attempt": "\(attempt)"])
                    try? await Task.sleep(for: .milliseconds(50 << attempt))
                }
            }
        }
    }

    private func apply(_ change: StateChange) {
        for handler in handlers.withLock({ $0 }) { handler(change) }
    }

    // MARK: - Listening

    private func listen() async {
        var backoff = Duration.milliseconds(50)
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { connection in
                    _ = try await connection.query("SELECT set_config('application_name', \("portcullis-feed-" + node), false)",
                                                   logger: logger).collect()
                    try await connection.listen(on: Self.channel) { notifications in
                        try await self.connected(notifications)
                    }
                }
            } catch {
                if !Task.isCancelled {
                    logger.warning("change feed lost; this replica refuses calls until it resynchronises",
                                   metadata: ["error": "\(String(reflecting: error))"])
                }
            }
            disconnected("the change feed's connection to PostgreSQL was lost")
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(1))
        }
    }

    /// Listening: resynchronise, then vouch through heartbeats while applying the other replicas' changes.
    private func connected(_ notifications: PostgresNotificationSequence) async throws {
        // Everything committed from here on is delivered; what was committed before is read from the tables.
        apply(.all)
        for work in resynchronizers.withLock({ $0 }) { try await work() }
        state.withLock { $0.connected = true; $0.reason = "the change feed has not confirmed delivery yet" }
        logger.notice("change feed connected", metadata: ["node": "\(node)"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    let seq = state.withLock { s -> UInt64 in
                        s.sequence += 1
                        s.sent[s.sequence] = .now
                        // Heartbeats that never came back are forgotten after a while.
                        if s.sent.count > 64 { s.sent = s.sent.filter { $0.key + 64 > s.sequence } }
                        return s.sequence
                    }
                    _ = try await store.client.query(
                        "SELECT pg_notify(\(Self.channel), \("h|\(node)|\(seq)"))", logger: logger).collect()
                    try await Task.sleep(for: heartbeat)
                }
            }
            group.addTask { [self] in
                for try await notification in notifications { receive(notification.payload) }
                throw PortcullisError(.storage, "the change feed's notifications ended")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    private func receive(_ payload: String) {
        if payload.hasPrefix("h|") {
            let parts = payload.split(separator: "|")
            guard parts.count == 3, parts[1] == node, let seq = UInt64(parts[2]) else { return }
            state.withLock { s in
                if let sent = s.sent.removeValue(forKey: seq), s.freshAsOf.map({ sent > $0 }) ?? true {
                    s.freshAsOf = sent
                }
            }
            return
        }
        guard let (from, change) = Self.decode(payload) else {
            // Not ours to understand (a newer release?): drop every cache rather than ignore it.
            logger.error("unreadable change notification; dropping every cache")
            apply(.all)
            return
        }
        guard from != node else { return }
        apply(change)
    }

    private func disconnected(_ reason: String) {
        state.withLock { s in
            if s.connected { s.since = .now }
            s.connected = false
            s.freshAsOf = nil
            s.sent.removeAll()
            s.reason = reason
        }
    }

    // MARK: - Payloads

    /// `c|<node>|<kind>|<argument>`; a kill of many agents is split to stay under PostgreSQL's 8000-byte payload.
    static func encode(_ change: StateChange, node: String) -> [String] {
        func one(_ kind: String, _ argument: String) -> String { "c|\(node)|\(kind)|\(argument)" }
        switch change {
        case .agent(let id): return [one("agent", id)]
        case .token(let jti): return [one("token", jti)]
        case .policies: return [one("policies", "")]
        case .tool(let name): return [one("tool", name)]
        case .approval(let id): return [one("approval", id)]
        case .all: return [one("all", "")]
        case .risk(let id): return [one("risk", id)]
        case .taint(let change):
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            guard let data = try? encoder.encode(change) else { return [one("all", "")] }
            return [one("taint", String(decoding: data, as: UTF8.self))]
        case .killed(let ids):
            var out: [String] = []
            var chunk: [String] = []
            var size = 0
            for id in ids {
                if size + id.utf8.count + 1 > 7000, !chunk.isEmpty {
                    out.append(one("killed", chunk.joined(separator: ",")))
                    chunk = []
                    size = 0
                }
                chunk.append(id)
                size += id.utf8.count + 1
            }
            if !chunk.isEmpty || out.isEmpty { out.append(one("killed", chunk.joined(separator: ","))) }
            return out
        }
    }

    static func decode(_ payload: String) -> (node: String, change: StateChange)? {
        let parts = payload.split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == "c" else { return nil }
        let argument = parts[3]
        let change: StateChange
        switch parts[2] {
        case "agent": change = .agent(argument)
        case "token": change = .token(argument)
        case "policies": change = .policies
        case "tool": change = .tool(argument)
        case "approval": change = .approval(argument)
        case "all": change = .all
        case "risk": change = .risk(argument)
        case "taint":
            guard let taint = try? JSONDecoder().decode(TaintChange.self, from: Data(argument.utf8)) else { return nil }
            change = .taint(taint)
        case "killed": change = .killed(argument.isEmpty ? [] : argument.split(separator: ",").map(String.init))
        default: return nil
        }
        return (parts[1], change)
    }
}
