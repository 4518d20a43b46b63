public import PortcullisEnforcement
import Crypto
public import Foundation
import PortcullisCore
import Synchronization

/// One agent's MCP session at the gateway.
public struct GatewaySession: Sendable {
    /// Random, unguessable; bound to the agent that created it and the path it was created on.
    public let id: String
    public let agentID: String
    /// The upstream of `/mcp/<upstream>`, nil for `/mcp`.
    public let scope: String?
    public let protocolVersion: String
    public let createdAt: Date
    /// Whether it came from an `initialize` handshake (counted against the agent's concurrency limit)
    /// or stands for one access token of the stateless revision.
    public let explicit: Bool
    public var lastSeen: Date
    public var tainted = false
    public var taintSources: [String] = []
    public var calls = 0

    public func snapshot(now: Date) -> SessionSnapshot {
        SessionSnapshot(tainted: tainted, taintSources: taintSources, calls: calls,
                        ageSeconds: max(0, Int(now.timeIntervalSince(createdAt))))
    }
}

/// The gateway's live sessions, in memory (a restart ends them; clients re-initialize).
public final class SessionTable: Sendable {
    /// Why a session could not be created.
    public enum CreateError: Error, Sendable {
        case tooManySessions(limit: Int)
    }

    private let sessions = Mutex<[String: GatewaySession]>([:])
    /// Sessions idle this long are dropped.
    let idleTimeout: TimeInterval

    public init(idleTimeout: TimeInterval = 3600) {
        self.idleTimeout = idleTimeout
    }

    /// Creates a session for `agentID`, refusing beyond `limit` live explicit sessions of that agent.
    public func create(agentID: String, scope: String?, protocolVersion: String, limit: Int, maxAge: TimeInterval,
                       now: Date) throws(CreateError) -> GatewaySession {
        let session = GatewaySession(id: Self.randomID(), agentID: agentID, scope: scope, protocolVersion: protocolVersion,
                                     createdAt: now, explicit: true, lastSeen: now)
        let result: Result<GatewaySession, CreateError> = sessions.withLock { table in
            Self.purge(&table, now: now, idle: idleTimeout)
            let live = table.values.filter {
                $0.explicit && $0.agentID == agentID && now.timeIntervalSince($0.createdAt) < maxAge
            }.count
            guard live < limit else { return .failure(.tooManySessions(limit: limit)) }
            table[session.id] = session
            return .success(session)
        }
        return try result.get()
    }

    /// The implicit session of a stateless (2026-07-28) caller: one per access token.
    public func implicitSession(tokenID: String, agentID: String, scope: String?, now: Date) -> GatewaySession {
        let key = "token:" + tokenID + ":" + (scope ?? "")
        return sessions.withLock { table in
            if var s = table[key] {
                s.lastSeen = now
                table[key] = s
                return s
            }
            let s = GatewaySession(id: key, agentID: agentID, scope: scope, protocolVersion: MCPVersion.modern[0],
                                   createdAt: now, explicit: false, lastSeen: now)
            table[key] = s
            return s
        }
    }

    /// The session if it exists and belongs to `agentID` on `scope`; nil otherwise (the caller
    /// cannot tell a foreign session from a missing one).
    public func lookup(_ id: String, agentID: String, scope: String?, now: Date) -> GatewaySession? {
        sessions.withLock { table in
            guard var s = table[id], s.explicit, s.agentID == agentID, s.scope == scope else { return nil }
            s.lastSeen = now
            table[id] = s
            return s
        }
    }

    /// Applies `change` to a session if it still exists.
    public func update(_ id: String, _ change: (inout GatewaySession) -> Void) {
        sessions.withLock { table in
            if var s = table[id] {
                change(&s)
                table[id] = s
            }
        }
    }

    @discardableResult
    public func remove(_ id: String) -> Bool {
        sessions.withLock { $0.removeValue(forKey: id) != nil }
    }

    /// Ends every session of `agentID` (kill switch).
    @discardableResult
    public func removeAll(agentID: String) -> Int {
        sessions.withLock { table in
            let ids = table.values.filter { $0.agentID == agentID }.map(\.id)
            for id in ids { table.removeValue(forKey: id) }
            return ids.count
        }
    }

    public var count: Int { sessions.withLock { $0.count } }

    private static func purge(_ table: inout [String: GatewaySession], now: Date, idle: TimeInterval) {
        let stale = table.values.filter { now.timeIntervalSince($0.lastSeen) > idle }.map(\.id)
        for id in stale { table.removeValue(forKey: id) }
    }

    static func randomID() -> String {
        Hex.random(32)
    }
}
