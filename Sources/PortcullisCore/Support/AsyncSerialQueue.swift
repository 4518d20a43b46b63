/// Runs async operations one at a time, in arrival order.
///
/// The agent registry runs each change's read, audit record and write through one, so that two
/// changes of this process never interleave: the audit log then records a change only when it is
/// about to be applied, and the store's compare-and-set stays the guard against other writers.
public actor AsyncSerialQueue {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init() {}

    /// Runs `operation` once every operation that arrived before it has finished.
    public func run<T: Sendable>(_ operation: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
        defer {
            if waiting.isEmpty {
                busy = false
            } else {
                waiting.removeFirst().resume()
            }
        }
        return try await operation()
    }
}
