public import Logging
import OTel
public import ServiceLifecycle
public import Tracing

/// The OpenTelemetry tracer of this node (swift-otel, OTLP over HTTP with protobuf), when
/// `observability.traces` is set. The tracer is the node's own, not the process-wide `InstrumentationSystem`: tests
/// run several nodes in one process, and nothing else in Portcullis reads a global tracer.
public enum TracingBackend {
    public static func make(_ settings: ServerConfiguration.Observability.Traces?, logger: Logger) throws
        -> (tracer: (any Tracer)?, service: (any Service)?)
    {
        guard let settings else { return (nil, nil) }
        var config = OTel.Configuration.default
        config.serviceName = settings.serviceName ?? "portcullis"
        config.diagnosticLogger = .custom(logger)
        config.propagators = [.traceContext]
        config.logs.enabled = false
        config.metrics.enabled = false
        config.traces.enabled = true
        config.traces.exporter = .otlp
        config.traces.otlpExporter.endpoint = settings.otlpEndpoint
        config.traces.otlpExporter.protocol = .httpProtobuf
        if let ratio = settings.sampleRatio, let sampler = OTel.Configuration.TracesConfiguration.SamplerConfiguration.parentBasedTraceIDRatio(ratio: ratio) {
            config.traces.sampler = sampler
        }
        if let delay = settings.exportDelayMs { config.traces.batchSpanProcessor.scheduleDelay = .milliseconds(delay) }
        let backend = try OTel.makeTracingBackend(configuration: config)
        return (backend.factory, backend.service)
    }
}
