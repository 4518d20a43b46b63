import Foundation
import PortcullisCore
public import Tracing

/// The spans of one call (docs/observability.md, "Traces"): the call's span, a child of the agent's trace when it
/// sent one, and under it one span per pipeline stage, the upstream round trip and each audit record. Stage spans
/// are made from the instants the stage loop reads anyway, after the stage ran, so a stage carries no tracing code.
/// Only exists when a tracer is configured: the untraced path pays one nil check.
final class CallTrace: Sendable {
    let tracer: any Tracer
    let span: any Span

    init(tracer: any Tracer, call: GatewayCall) {
        self.tracer = tracer
        var context = ServiceContext.topLevel
        if let parent = call.caller.traceParent {
            tracer.extract(["traceparent": parent.header], into: &context, using: DictionaryExtractor())
        }
        let name = call.tool.map { "\(call.action.rawValue) \($0.qualifiedName)" } ?? "\(call.action.rawValue) \(call.resourceName)"
        span = tracer.startSpan(name, context: context, ofKind: .server, at: DefaultTracerClock.now,
                                function: #function, file: #fileID, line: #line)
        span.updateAttributes { a in
            a["portcullis.agent"] = call.caller.agent.id
            a["portcullis.action"] = call.action.rawValue
            a["portcullis.upstream"] = call.upstream
            if let user = call.caller.onBehalfOf { a["portcullis.on_behalf_of"] = user }
        }
    }

    /// A finished child span with the given instants.
    func child(_ name: String, from start: DefaultTracerClock.Instant, to end: DefaultTracerClock.Instant,
               kind: SpanKind = .internal, failed: String? = nil) {
        let child = tracer.startSpan(name, context: span.context, ofKind: kind, at: start,
                                     function: #function, file: #fileID, line: #line)
        if let failed {
            child.setStatus(SpanStatus(code: .error, message: failed))
        }
        child.end(at: end)
    }

    /// A started child span (the upstream round trip) and its `traceparent`, for the upstream.
    func start(_ name: String, kind: SpanKind) -> (span: any Span, traceparent: String?) {
        let child = tracer.startSpan(name, context: span.context, ofKind: kind, at: DefaultTracerClock.now,
                                     function: #function, file: #fileID, line: #line)
        var carrier: [String: String] = [:]
        tracer.inject(child.context, into: &carrier, using: DictionaryInjector())
        return (child, carrier["traceparent"])
    }

    /// Ends the call's span: an error status names the refusal.
    func finish(refusal: Refusal?) {
        if let refusal {
            span.updateAttributes { $0["portcullis.refusal"] = refusal.code.rawValue }
            span.setStatus(SpanStatus(code: .error, message: refusal.code.rawValue))
        } else {
            span.updateAttributes { $0["portcullis.decision"] = "allow" }
        }
        span.end(at: DefaultTracerClock.now)
    }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
