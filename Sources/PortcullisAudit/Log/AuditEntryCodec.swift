public import Foundation
public import PortcullisCore

/// The canonical bytes of log entries, and their decoding.
///
/// A log entry is the canonical JSON object `{"event":{…},"index":N}`: the event with
/// snake_case keys (absent optionals omitted, lists always present) and its 0-based
/// position in the log. The position is inside the hashed bytes, so an entry moved to
/// another row no longer matches its leaf hash or its position. The leaf hash is
/// `SHA-256(0x00 || entry bytes)`.
public enum AuditEntryCodec {
    /// The canonical JSON of an event (the `event` member of an entry).
    ///
    /// - Throws: ``AuditError`` `.malformed` when the redacted arguments hold a non-finite number.
    public static func eventJSON(_ e: AuditEvent) throws -> [UInt8] {
        var j = CanonicalJSON()
        var first = true
        func key(_ k: StaticString) {
            if first { j.bytes.append(0x7B) } else { j.bytes.append(0x2C) }
            first = false
            j.bytes.append(0x22)
            j.raw(k)
            j.bytes.append(0x22)
            j.bytes.append(0x3A)
        }
        key("action"); j.string(e.action)
        if let v = e.actor { key("actor"); j.string(v) }
        if let a = e.agent {
            key("agent")
            j.bytes.append(0x7B)
            if let v = a.configDigest { j.raw("\"config_digest\":"); j.string(v); j.bytes.append(0x2C) }
            j.raw("\"id\":"); j.string(a.id)
            if let v = a.model { j.raw(",\"model\":"); j.string(v) }
            if let v = a.version { j.raw(",\"version\":"); j.string(v) }
            j.bytes.append(0x7D)
        }
        if let v = e.argumentsDigest { key("arguments_digest"); j.string(v) }
        if let v = e.decision { key("decision"); j.string(v.rawValue) }
        if let v = e.decisionInput { key("decision_input"); try j.value(v) }
        key("delegation_chain"); j.strings(e.delegationChain)
        key("determining_policies"); j.strings(e.determiningPolicies)
        key("erroring_policies"); j.strings(e.erroringPolicies)
        key("id"); j.string(e.id)
        key("kind"); j.string(e.kind.rawValue)
        if let v = e.latencyNanos { key("latency_ns"); j.integer(v) }
        key("obligations"); j.strings(e.obligations)
        if let v = e.onBehalfOf { key("on_behalf_of"); j.string(v) }
        if let o = e.outcome {
            key("outcome")
            j.bytes.append(0x7B)
            if let b = o.bytes { j.raw("\"bytes\":"); j.integer(b); j.bytes.append(0x2C) }
            j.raw("\"status\":"); j.string(o.status)
            j.bytes.append(0x7D)
        }
        if let v = e.reason { key("reason"); j.string(v) }
        if let v = e.reasoning { key("reasoning"); j.string(v) }
        if let v = e.redactedArguments { key("redacted_arguments"); try j.value(v) }
        if let v = e.resource { key("resource"); j.string(v) }
        if let v = e.sessionID { key("session_id"); j.string(v) }
        if let v = e.shadow {
            key("shadow")
            j.raw("{\"decision\":"); j.string(v.decision.rawValue)
            j.raw(",\"determining_policies\":"); j.strings(v.determiningPolicies)
            j.raw(",\"erroring_policies\":"); j.strings(v.erroringPolicies)
            j.raw(",\"flipped\":"); j.raw(v.flipped ? "true" : "false")
            j.bytes.append(0x7D)
        }
        if let v = e.sourceAddress { key("source_address"); j.string(v) }
        key("time_ns"); j.integer(e.timeNanos)
        if let v = e.traceID { key("trace_id"); j.string(v) }
        j.bytes.append(0x7D)
        return j.bytes
    }

    /// The canonical entry bytes for an event's JSON at `index`.
    public static func entry(eventJSON: [UInt8], index: UInt64) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(eventJSON.count + 32)
        out.append(contentsOf: #"{"event":"#.utf8)
        out.append(contentsOf: eventJSON)
        out.append(contentsOf: #","index":"#.utf8)
        var tail = CanonicalJSON(capacity: 24)
        tail.integer(index)
        out.append(contentsOf: tail.bytes)
        out.append(0x7D)
        return out
    }

    /// Decodes entry bytes into the position they claim and the event.
    ///
    /// - Throws: ``AuditError`` `.malformed` when the bytes are not an entry.
    public static func decode(_ bytes: some DataProtocol) throws -> (index: UInt64, event: AuditEvent) {
        do {
            let stored = try JSONDecoder().decode(StoredEntry.self, from: Data(bytes))
            return (stored.index, stored.event.event)
        } catch {
            throw AuditError(.malformed, "not an audit log entry: \(error)")
        }
    }

    private struct StoredEntry: Decodable {
        var event: StoredEvent
        var index: UInt64
    }

    private struct StoredEvent: Decodable {
        struct Agent: Decodable {
            var id: String
            var model: String?
            var version: String?
            var config_digest: String?
        }

        struct Outcome: Decodable {
            var status: String
            var bytes: Int?
        }

        struct Shadow: Decodable {
            var decision: AuditEvent.Decision
            var determining_policies: [String]
            var erroring_policies: [String]
            var flipped: Bool
        }

        var time_ns: Int64
        var id: String
        var trace_id: String?
        var kind: AuditEvent.Kind
        var agent: Agent?
        var on_behalf_of: String?
        var delegation_chain: [String]
        var actor: String?
        var action: String
        var resource: String?
        var arguments_digest: String?
        var redacted_arguments: JSONAny?
        var decision: AuditEvent.Decision?
        var determining_policies: [String]
        var erroring_policies: [String]
        var obligations: [String]
        var reasoning: String?
        var reason: String?
        var outcome: Outcome?
        var latency_ns: Int64?
        var session_id: String?
        var source_address: String?
        var shadow: Shadow?
        var decision_input: JSONAny?

        var event: AuditEvent {
            var e = AuditEvent(
                timeNanos: time_ns, id: id, traceID: trace_id, kind: kind,
                agent: agent.map { .init(id: $0.id, model: $0.model, version: $0.version, configDigest: $0.config_digest) },
                onBehalfOf: on_behalf_of, delegationChain: delegation_chain, actor: actor, action: action,
                resource: resource, argumentsDigest: arguments_digest, redactedArguments: redacted_arguments,
                decision: decision, determiningPolicies: determining_policies, erroringPolicies: erroring_policies,
                obligations: obligations, reasoning: reasoning, reason: reason,
                outcome: outcome.map { .init(status: $0.status, bytes: $0.bytes) }, latencyNanos: latency_ns,
                sessionID: session_id, sourceAddress: source_address)
            e.shadow = shadow.map {
                .init(decision: $0.decision, determiningPolicies: $0.determining_policies, erroringPolicies: $0.erroring_policies,
                      flipped: $0.flipped)
            }
            e.decisionInput = decision_input
            return e
        }
    }
}
