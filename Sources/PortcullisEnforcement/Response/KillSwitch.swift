public import Foundation
import Synchronization

/// The gateway's side of the kill switch: which agents are killed, and the upstream calls in flight
/// for each agent, so that a kill ends them at once.
///
/// The store's agent status is the durable truth (every request checks it while authenticating);
/// this set covers the requests already past authentication when the kill lands. Registering a
/// call and killing take the same lock, so a call either is registered before the kill (and is
/// cancelled by it) or sees the agent killed (and is refused).
public final class KillSwitch: Sendable {
    struct State {
        var killed: Set<String> = []
        /// When each agent was killed here (to tell a later resume from a stale read on another replica).
        var killedAt: [String: Date] = [:]
        var calls: [String: [UInt64: @Sendable () -> Void]] = [:]
        var next: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func isKilled(_ agentID: String) -> Bool { state.withLock { $0.killed.contains(agentID) } }

    /// Marks the agents killed and cancels their calls in flight; returns how many calls were cancelled.
    @discardableResult
    public func kill(_ agentIDs: [String]) -> Int { cancel(agentIDs, markKilled: true) }

    /// Cancels the agents' calls in flight without marking them killed (a suspension: the store's status
    /// refuses their later requests); returns how many calls were cancelled.
    @discardableResult
    public func cancelCalls(_ agentIDs: [String]) -> Int { cancel(agentIDs, markKilled: false) }

    private func cancel(_ agentIDs: [String], markKilled: Bool) -> Int {
        let cancels: [@Sendable () -> Void] = state.withLock { s in
            var out: [@Sendable () -> Void] = []
            for id in agentIDs {
                if markKilled, s.killed.insert(id).inserted { s.killedAt[id] = Date() }
                if let calls = s.calls.removeValue(forKey: id) { out.append(contentsOf: calls.values) }
            }
            return out
        }
        for cancel in cancels { cancel() }
        return cancels.count
    }

    /// How many calls of `agentID` are in flight.
    func inFlight(_ agentID: String) -> Int { state.withLock { $0.calls[agentID]?.count ?? 0 } }

    /// An explicit resume: the agent may call again.
    public func revive(_ agentID: String) {
        state.withLock { s in
            s.killed.remove(agentID)
            s.killedAt[agentID] = nil
        }
    }

    /// A resume seen on another replica: the agent is revived only if its record changed after the kill landed
    /// here, so a read that started before the kill reached the store never undoes it.
    public func revive(_ agentID: String, ifChangedAfterKill changedAt: Date) {
        state.withLock { s in
            guard let at = s.killedAt[agentID], changedAt > at else { return }
            s.killed.remove(agentID)
            s.killedAt[agentID] = nil
        }
    }

    /// Runs `body` as a cancellable call of `agentID`: nil when the agent is (or becomes) killed
    /// before it finishes; the body's task is then cancelled and its result dropped.
    func run<T: Sendable>(agentID: String, _ body: @escaping @Sendable () async -> T) async -> T? {
        let box = TaskBox()
        return await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let once = Once(continuation)
            // Registered before the body starts, under the kill's lock: a kill either finds the call
            // (and cancels it) or came first (and the call is refused).
            let token: UInt64? = state.withLock { s in
                guard !s.killed.contains(agentID) else { return nil }
                s.next += 1
                s.calls[agentID, default: [:]][s.next] = { box.cancel(); once.resume(nil) }
                return s.next
            }
            guard let token else {
                once.resume(nil)
                return
            }
            // One task per call: it runs the body, delivers its result (unless a kill delivered nil
            // first) and unregisters the call.
            box.set(Task {
                let value = await body()
                once.resume(value)
                self.state.withLock { s in _ = s.calls[agentID]?.removeValue(forKey: token) }
            })
        }
    }

    /// The task of a call, cancellable before it is even set (a kill racing the start).
    final class TaskBox: Sendable {
        private let slot = Mutex<(task: Task<Void, Never>?, cancelled: Bool)>((nil, false))

        func set(_ task: Task<Void, Never>) {
            let cancelled = slot.withLock { s -> Bool in
                s.task = task
                return s.cancelled
            }
            if cancelled { task.cancel() }
        }

        func cancel() {
            let task = slot.withLock { s -> Task<Void, Never>? in
                s.cancelled = true
                return s.task
            }
            task?.cancel()
        }
    }

    /// A continuation resumed at most once.
    final class Once<T: Sendable>: Sendable {
        private let continuation: Mutex<CheckedContinuation<T, Never>?>

        init(_ c: CheckedContinuation<T, Never>) {
            continuation = Mutex(c)
        }

        func resume(_ value: T) {
            let c = continuation.withLock { slot -> CheckedContinuation<T, Never>? in
                let c = slot
                slot = nil
                return c
            }
            c?.resume(returning: value)
        }
    }
}
