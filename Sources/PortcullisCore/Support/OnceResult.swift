import Synchronization

/// A continuation resumed once, by whichever of several racing parties (a result, a deadline, a wake-up, a
/// cancellation) finishes it first; a finish that comes before the continuation is set is kept for it.
///
/// Written by hand because the structured way to race (a task group) waits for every child after the first
/// finishes, and some work does not end when cancelled (a connection pool's lease).
public final class OnceResult<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var done = false
        var onFinish: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    /// The continuation to resume (resumed at once when the result came first).
    public func set(_ c: CheckedContinuation<T, any Error>) {
        let early = state.withLock { s -> Result<T, any Error>? in
            if let e = s.early { s.early = nil; return e }
            s.continuation = c
            return nil
        }
        if let early { c.resume(with: early) }
    }

    /// Runs `f` once finished (at once if it is already).
    public func onFinish(_ f: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.done { return true }
            s.onFinish = f
            return false
        }
        if now { f() }
    }

    /// True when this call finished it (false: something else did first).
    @discardableResult
    public func finish(_ result: Result<T, any Error>) -> Bool {
        let (c, f, first) = state.withLock { s -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?, Bool) in
            guard !s.done else { return (nil, nil, false) }
            s.done = true
            let c = s.continuation
            s.continuation = nil
            if c == nil { s.early = result }
            let f = s.onFinish
            s.onFinish = nil
            return (c, f, true)
        }
        c?.resume(with: result)
        f?()
        return first
    }
}
