import Synchronization

/// Admits database calls until the store closes, and lets closing wait for the calls in flight.
///
/// SQLite connections must not be used once closed (on Linux that is a crash,
/// not an error), so ``SQLiteStore`` passes every call through this gate and
/// closes its connections only after the gate has drained.
final class AccessGate: Sendable {
    private struct State {
        var isClosed = false
        var inFlight = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Admits one call; false once closing has begun.
    func enter() -> Bool {
        state.withLock { state in
            guard !state.isClosed else { return false }
            state.inFlight += 1
            return true
        }
    }

    /// Ends a call that ``enter()`` admitted.
    func leave() {
        let waiters = state.withLock { state in
            state.inFlight -= 1
            guard state.isClosed, state.inFlight == 0 else { return [CheckedContinuation<Void, Never>]() }
            defer { state.drainWaiters = [] }
            return state.drainWaiters
        }
        for waiter in waiters {
            waiter.resume()
        }
    }

    /// Refuses new calls, then waits until the calls in flight have left.
    ///
    /// - Returns: true for the call that closed the gate, false when it was already closed.
    func close() async -> Bool {
        let closedNow = state.withLock { state in
            defer { state.isClosed = true }
            return !state.isClosed
        }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let drained = state.withLock { state in
                if state.inFlight == 0 { return true }
                state.drainWaiters.append(waiter)
                return false
            }
            if drained {
                waiter.resume()
            }
        }
        return closedNow
    }
}
