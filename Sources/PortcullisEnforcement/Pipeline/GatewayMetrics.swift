public import CoreMetrics
import Synchronization

/// The gateway's metrics, on an explicit swift-metrics factory (no process-wide bootstrap, so that every node, and
/// every test, has its own): Prometheus in the server (`/metrics`), nothing by default.
///
/// Names and labels are Prometheus's conventions; labels never carry agent or user ids (the audit log does), so that
/// their number stays bounded.
public final class GatewayMetrics: Sendable {
    public let factory: any MetricsFactory
    private let counters = Mutex<[Key: Counter]>([:])
    private let timers = Mutex<[Key: CoreMetrics.Timer]>([:])

    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.factory = factory
    }

    /// A metric and up to two labels, as separate strings: looking a handle up builds no array and no joined text
    /// (the first version did, and cost more per call than the Cedar decision).
    struct Key: Hashable {
        let label: String
        let k1: String, v1: String, k2: String, v2: String

        init(_ label: String, _ d1: (String, String)?, _ d2: (String, String)?) {
            self.label = label
            (k1, v1) = d1 ?? ("", "")
            (k2, v2) = d2 ?? ("", "")
        }

        var dimensions: [(String, String)] {
            [(k1, v1), (k2, v2)].filter { !$0.0.isEmpty }
        }
    }

    /// The counter `label` with these labels (created on first use, then looked up).
    public func counter(_ label: String, _ d1: (String, String)? = nil, _ d2: (String, String)? = nil) -> Counter {
        let key = Key(label, d1, d2)
        return counters.withLock { table in
            if let c = table[key] { return c }
            let c = Counter(label: label, dimensions: key.dimensions, factory: factory)
            table[key] = c
            return c
        }
    }

    /// The timer (a histogram in Prometheus) `label` with these labels: resolve it once where the labels are fixed.
    public func timer(_ label: String, _ d1: (String, String)? = nil, _ d2: (String, String)? = nil) -> CoreMetrics.Timer {
        let key = Key(label, d1, d2)
        return timers.withLock { table in
            if let t = table[key] { return t }
            let t = CoreMetrics.Timer(label: label, dimensions: key.dimensions, factory: factory)
            table[key] = t
            return t
        }
    }

    /// Adds `amount` to the counter `label` with these labels.
    public func count(_ label: String, _ d1: (String, String)? = nil, _ d2: (String, String)? = nil, by amount: Int64 = 1) {
        counter(label, d1, d2).increment(by: amount)
    }

    /// Records a duration into the timer `label` with these labels.
    public func time(_ label: String, _ d1: (String, String)? = nil, _ d2: (String, String)? = nil, _ duration: Duration) {
        Self.record(timer(label, d1, d2), duration)
    }

    /// Records a duration into a timer resolved with ``timer(_:_:_:)``.
    public static func record(_ timer: CoreMetrics.Timer, _ duration: Duration) {
        timer.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// The names this module records (docs/observability.md).
    public enum Name {
        public static let decisions = "portcullis_decisions_total"
        public static let stageDuration = "portcullis_stage_duration_seconds"
        public static let auditAppendDuration = "portcullis_audit_append_duration_seconds"
        public static let auditAppendFailures = "portcullis_audit_append_failures_total"
        public static let upstreamErrors = "portcullis_upstream_errors_total"
        public static let refusals = "portcullis_refusals_total"
        public static let alerts = "portcullis_alerts_total"
        public static let kills = "portcullis_kills_total"
        public static let tokens = "portcullis_tokens_issued_total"
        public static let shadowFlips = "portcullis_shadow_flips_total"
    }
}
