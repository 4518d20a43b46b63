import Synchronization

/// Shares one durable write among concurrent callers: the first caller to find nothing in flight writes every item
/// queued meanwhile in one transaction (one fsync), then hands the next batch to a waiting caller, so no background
/// task is needed and a caller returns only once its own item is committed.
///
/// The audit log does the same inside its actor; this is the lock-based form for stores, whose writes are short
/// (a one-time identifier per DPoP-bound call: one fsync each made the proof's replay check cost more than the
/// rest of the call).
public final class GroupCommit<Item: Sendable, Result: Sendable>: Sendable {
    public typealias Flush = @Sendable ([Item]) async throws -> [Result]

    private enum Ticket: Sendable {
        case done(Result)
        case lead
    }

    private struct Waiting: Sendable {
        var item: Item
        var continuation: CheckedContinuation<Ticket, any Error>?
    }

    private struct State: Sendable {
        var pending: [Waiting] = []
        var flushing = false
    }

    private let state = Mutex(State())
    private let flush: Flush
    private let maxBatch: Int

    /// - Parameters:
    ///   - maxBatch: The most items written in one transaction.
    ///   - flush: Writes the items in one transaction and returns one result per item, in order; a thrown error
    ///     fails every item of the batch.
    public init(maxBatch: Int = 1024, flush: @escaping Flush) {
        self.maxBatch = maxBatch
        self.flush = flush
    }

    /// Writes `item` (with whatever else is waiting) and returns its result once the batch is committed.
    public func submit(_ item: Item) async throws -> Result {
        let lead = state.withLock { s -> Bool in
            if s.flushing { return false }
            s.flushing = true
            s.pending.append(Waiting(item: item, continuation: nil))
            return true
        }
        if !lead {
            let ticket = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Ticket, any Error>) in
                let leadNow = state.withLock { s -> Bool in
                    // The leader may have finished between the first check and now.
                    if s.flushing {
                        s.pending.append(Waiting(item: item, continuation: c))
                        return false
                    }
                    s.flushing = true
                    s.pending.append(Waiting(item: item, continuation: nil))
                    return true
                }
                if leadNow { c.resume(returning: .lead) }
            }
            if case .done(let result) = ticket { return result }
        }
        return try await runBatch()
    }

    /// Writes the batch at the head of the queue (whose first item is the leader's own) and hands over.
    private func runBatch() async throws -> Result {
        let batch = state.withLock { s -> [Waiting] in
            let take = min(s.pending.count, maxBatch)
            let batch = Array(s.pending.prefix(take))
            s.pending.removeFirst(take)
            return batch
        }
        let outcome: Swift.Result<[Result], any Error>
        do {
            let results = try await flush(batch.map(\.item))
            outcome = results.count == batch.count
                ? .success(results)
                : .failure(GroupCommitError.resultCount(expected: batch.count, got: results.count))
        } catch {
            outcome = .failure(error)
        }
        let next = state.withLock { s -> CheckedContinuation<Ticket, any Error>? in
            guard !s.pending.isEmpty else {
                s.flushing = false
                return nil
            }
            let c = s.pending[0].continuation
            s.pending[0].continuation = nil
            return c
        }
        switch outcome {
        case .success(let results):
            for (waiting, result) in zip(batch, results).dropFirst() { waiting.continuation?.resume(returning: .done(result)) }
            next?.resume(returning: .lead)
            return results[0]
        case .failure(let error):
            for waiting in batch.dropFirst() { waiting.continuation?.resume(throwing: error) }
            next?.resume(returning: .lead)
            throw error
        }
    }
}

/// A flush that broke its contract (not one result per item): every item of the batch fails.
public enum GroupCommitError: Error, CustomStringConvertible {
    case resultCount(expected: Int, got: Int)

    public var description: String {
        switch self {
        case .resultCount(let expected, let got): "a group commit returned \(got) results for \(expected) items"
        }
    }
}
