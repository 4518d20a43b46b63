public import CoreMetrics
import Synchronization

/// The gateway's metrics, on an explicit swift-metrics factory (no process-wide bootstrap, so that every node, and
/// every test, has its own): Prometheus in the server (`/metrics`), nothing by default.
///
/// Names and labels are Prometheus's conventions; labels never carry agent or user ids (the audit log does), so that
/// their number stays bounded.
public final class GatewayMetrics: Sendable {
    public let factory: any MetricsFactory
    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[String: CoreMetrics.Timer]>([:])

    public init(factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.factory = factory
    }

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        label + dimensions.map { "\u{0}\($0.0)=\($0.1)" }.joined()
    }

    /// Adds `amount` to the counter `label` with these labels.
    public func count(_ label: String, _ dimensions: [(String, String)] = [], by amount: Int64 = 1) {
        let counter = counters.withLock { table in
            let k = Self.key(label, dimensions)
            if let c = table[k] { return c }
            let c = Counter(label: label, dimensions: dimensions, factory: factory)
            table[k] = c
            return c
        }
        counter.increment(by: amount)
    }

    /// Records a duration into the timer (a histogram in Prometheus) `label` with these labels.
    public func time(_ label: String, _ dimensions: [(String, String)] = [], _ duration: Duration) {
        let timer = timers.withLock { table in
            let k = Self.key(label, dimensions)
            if let t = table[k] { return t }
            let t = CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory)
            table[k] = t
            return t
        }
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
