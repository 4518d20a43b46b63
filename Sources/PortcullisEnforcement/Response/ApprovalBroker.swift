public import Foundation
import ServiceLifecycle
public import PortcullisCore
import Synchronization

/// Creates, waits for, decides and consumes approvals of exact tool calls (docs/response.md).
///
/// State lives in the ``ApprovalStore`` and every change is a compare-and-set on the approval's
/// status, so two calls cannot both consume one approval and a decision cannot race an expiry.
/// A waiting call reads the approval again when the change feed announces a decision (``wake(_:)``, on
/// this node or, through PostgreSQL, on another replica), and at least every 250 ms regardless (an expiry, or a
/// feed that missed it).
public final class ApprovalBroker: Sendable {
    let store: any ApprovalStore
    let audit: any AuditSink
    let settings: ApprovalSettings
    /// The clock that decides expiry (the testing clock when one is configured).
    let clock: @Sendable () -> Date
    let wakeups = Wakeups()

    public init(store: any ApprovalStore, audit: any AuditSink, settings: ApprovalSettings,
                clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.audit = audit
        self.settings = settings
        self.clock = clock
    }

    /// What became of a call that needs an approval.
    public enum Resolution: Sendable {
        /// An approval was consumed: the call may proceed.
        case proceed(Approval)
        /// The approval was denied or expired: the call fails.
        case refused(Approval)
        /// Nobody decided within the wait: the call fails with this id; the agent may retry later.
        case pending(Approval)
    }

    /// The call the gateway wants approved.
    public struct Request: Sendable {
        public var binding: Approval.Binding
        public var agent: Agent
        public var tool: ToolRecord
        public var reasons: [String]
        /// The arguments after DLP redaction, shown to the approver.
        public var arguments: JSONAny?

        public init(binding: Approval.Binding, agent: Agent, tool: ToolRecord, reasons: [String], arguments: JSONAny? = nil) {
            self.arguments = arguments
            self.binding = binding
            self.agent = agent
            self.tool = tool
            self.reasons = reasons
        }
    }

    /// Consumes an approval for this exact call, or reports a refusal, or opens (or joins) a request
    /// and waits up to `wait` seconds for a person. Throws on storage or audit failure (the caller denies)
    /// and on cancellation (the agent was killed).
    public func resolve(_ request: Request, wait: Double? = nil,
                        waiting: (@Sendable (Approval, Duration) async -> Void)? = nil) async throws -> Resolution {
        let existing = try await store.approvals(binding: request.binding)
        var open: Approval?
        for var a in existing {
            if let expired = try await expireIfDue(a) { a = expired }
            switch a.status {
            case .approved:
                if let used = try await consume(a) { return .proceed(used) }
            case .denied, .expired:
                if !a.reported, let told = try await markReported(a) { return .refused(told) }
            case .pending:
                if open == nil { open = a }
            case .used:
                continue
            }
        }
        let approval: Approval
        if let open {
            approval = open
        } else {
            approval = try await create(request)
        }
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int((wait ?? settings.effectiveWaitSeconds) * 1000))
        var current = approval
        // Whoever waits is told at once, then every few seconds (an MCP client's progress notifications).
        var nextNotice = started
        while true {
            switch current.status {
            case .approved:
                if let used = try await consume(current) { return .proceed(used) }
            case .denied, .expired:
                return .refused(try await markReported(current) ?? current)
            case .used:
                // Consumed by a concurrent identical call: this one needs its own approval.
                return .refused(current)
            case .pending:
                break
            }
            // A node shutting down answers "pending" at once: the agent retries the same call later (on this node
            // once it is back, or on another), and no wait holds the shutdown.
            if ContinuousClock.now >= deadline || Task.isShuttingDownGracefully { return .pending(current) }
            if let waiting, ContinuousClock.now >= nextNotice {
                await waiting(current, ContinuousClock.now - started)
                nextNotice = ContinuousClock.now + .seconds(5)
            }
            await wakeups.wait(current.id, upTo: .milliseconds(250))
            try Task.checkCancellation()
            guard let fresh = try await store.approval(id: current.id) else {
                throw PortcullisError(.storage, "approval \(current.id) disappeared")
            }
            current = try await expireIfDue(fresh) ?? fresh
        }
    }

    /// A decision on `id` was announced: calls waiting for it read it now.
    public func wake(_ id: String) { wakeups.wake(id) }

    /// A person's decision. Authorization (who may decide) is the caller's job.
    public func decide(id: String, approve: Bool, approver: String, reason: String) async throws -> Approval {
        try PortcullisError.requireReason(reason)
        guard var a = try await store.approval(id: id) else { throw PortcullisError(.notFound, "no approval `\(id)`") }
        if let expired = try await expireIfDue(a) { a = expired }
        guard a.status == .pending else {
            throw PortcullisError(.conflict, "approval `\(id)` is \(a.status.rawValue), not pending")
        }
        var decided = a
        decided.status = approve ? .approved : .denied
        decided.decidedBy = approver
        decided.decidedAt = clock()
        decided.decisionReason = reason
        // Recorded before it takes effect: no decision without a record.
        try await record(approve ? "approval.approve" : "approval.deny", decided, actor: "approver:\(approver)", reason: reason)
        guard try await store.updateApproval(decided, expecting: .pending) else {
            throw PortcullisError(.conflict, "approval `\(id)` was decided or expired meanwhile")
        }
        return decided
    }

    public func approval(id: String) async throws -> Approval? {
        guard let a = try await store.approval(id: id) else { return nil }
        return try await expireIfDue(a) ?? a
    }

    public func list(status: Approval.Status?, agentID: String?, limit: Int) async throws -> [Approval] {
        var out: [Approval] = []
        for a in try await store.approvals(status: status == .expired ? nil : status, agentID: agentID, limit: limit) {
            let current = try await expireIfDue(a) ?? a
            if status == nil || current.status == status { out.append(current) }
        }
        return out
    }

    // MARK: - Steps

    private func create(_ r: Request) async throws -> Approval {
        let now = clock()
        let a = Approval(id: "apr_" + Hex.random(12), agentID: r.agent.id, agentOwner: r.agent.owner, tool: r.tool.qualifiedName,
                         effect: r.tool.effect.rawValue, risk: r.tool.risk, argumentsDigest: r.binding.argumentsDigest,
                         session: r.binding.session, reasons: r.reasons, createdAt: now,
                         expiresAt: now.addingTimeInterval(settings.effectiveExpirySeconds), arguments: r.arguments)
        try await record("approval.request", a, actor: "gateway", reason: r.reasons.joined(separator: "; "))
        try await store.saveApproval(a)
        return a
    }

    /// Approved → used, once; nil when another call consumed it first.
    private func consume(_ a: Approval) async throws -> Approval? {
        var used = a
        used.status = .used
        used.usedAt = clock()
        guard try await store.updateApproval(used, expecting: .approved) else { return nil }
        // Consumed first, recorded second: if the record fails the call is refused and the approval is spent.
        try await record("approval.use", used, actor: "gateway", reason: "approved by \(a.decidedBy ?? "?"): \(a.decisionReason ?? "")")
        return used
    }

    private func markReported(_ a: Approval) async throws -> Approval? {
        var told = a
        told.reported = true
        return try await store.updateApproval(told, expecting: a.status) ? told : nil
    }

    /// Pending or approved past its expiry → expired (recorded); nil when nothing changed.
    private func expireIfDue(_ a: Approval) async throws -> Approval? {
        guard a.status == .pending || a.status == .approved, a.expiresAt <= clock() else { return nil }
        var expired = a
        expired.status = .expired
        guard try await store.updateApproval(expired, expecting: a.status) else {
            return try await store.approval(id: a.id)
        }
        try await record("approval.expire", expired, actor: "gateway", reason: "not \(a.status == .pending ? "decided" : "used") in time")
        return expired
    }

    private func record(_ action: String, _ a: Approval, actor: String, reason: String) async throws {
        let event = AuditEvent(timeNanos: AuditEvent.nowNanos(), id: AuditEvent.newID(), kind: .admin,
                               agent: AuditEvent.AgentRef(id: a.agentID), actor: actor, action: action, resource: a.id,
                               argumentsDigest: a.argumentsDigest, decision: action == "approval.deny" ? .deny : .allow,
                               reason: "\(a.tool): \(reason)", sessionID: a.session)
        try await audit.record(event)
    }
}

/// Waiters by key, woken by ``wake(_:)`` or after a time limit, whichever comes first.
final class Wakeups: Sendable {
    private struct State {
        var waiters: [String: [UInt64: OnceResult<Void>]] = [:]
        var next: UInt64 = 0
    }

    private let state = Mutex(State())

    func wait(_ key: String, upTo limit: Duration) async {
        let once = OnceResult<Void>()
        let token = state.withLock { s -> UInt64 in
            s.next += 1
            s.waiters[key, default: [:]][s.next] = once
            return s.next
        }
        let timer = Task {
            try? await Task.sleep(for: limit)
            once.finish(.success(()))
        }
        await withTaskCancellationHandler {
            _ = try? await withCheckedThrowingContinuation { once.set($0) }
        } onCancel: {
            once.finish(.success(()))
        }
        timer.cancel()
        state.withLock { s in
            s.waiters[key]?[token] = nil
            if s.waiters[key]?.isEmpty == true { s.waiters[key] = nil }
        }
    }

    func wake(_ key: String) {
        let woken = state.withLock { $0.waiters.removeValue(forKey: key) } ?? [:]
        for once in woken.values { once.finish(.success(())) }
    }
}
