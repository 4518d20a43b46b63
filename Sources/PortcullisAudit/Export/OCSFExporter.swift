public import PortcullisCore

/// Renders audit entries as OCSF 1.7.0 events (JSON), one per entry.
///
/// | audit event | OCSF class |
/// |---|---|
/// | `decision` (gateway calls) | API Activity (6003) |
/// | `token` (issue, exchange, revoke, refusals) | Authentication (3002) |
/// | `admin` on an agent (`agent.*`) | Account Change (3001) |
/// | other `admin` actions (policy, tools, approvals, kill) | Entity Management (3004) |
/// | `alert` | Detection Finding (2004) |
///
/// Fields OCSF has no place for (reasoning, determining policies, obligations, the
/// delegation chain, the log position and leaf hash) go under `unmapped.portcullis`.
/// docs/audit.md documents the mapping field by field.
public enum OCSFExporter {
    /// The OCSF schema version the events follow.
    public static let schemaVersion = "1.7.0"

    /// The OCSF event for one entry.
    public static func event(_ entry: AuditLogEntry) -> JSONAny {
        let e = entry.event
        var out: [String: JSONAny] = [:]
        let (classUID, className, categoryUID, categoryName) = classOf(e)
        let (activityID, activityName) = activity(e, classUID: classUID)
        out["class_uid"] = .int(classUID)
        out["class_name"] = .string(className)
        out["category_uid"] = .int(categoryUID)
        out["category_name"] = .string(categoryName)
        out["activity_id"] = .int(activityID)
        out["activity_name"] = .string(activityName)
        out["type_uid"] = .int(classUID * 100 + activityID)
        out["type_name"] = .string("\(className): \(activityName)")
        out["time"] = .int(e.timeNanos / 1_000_000)
        out["severity_id"] = .int(severity(e))
        out["severity"] = .string(["1": "Informational", "2": "Low", "3": "Medium", "4": "High"]["\(severity(e))"]!)
        let (statusID, status) = statusOf(e)
        out["status_id"] = .int(statusID)
        out["status"] = .string(status)
        if let reason = e.reason { out["status_detail"] = .string(reason) }
        if let latency = e.latencyNanos { out["duration"] = .int(latency / 1_000_000) }
        out["message"] = .string(message(e))
        var metadata: [String: JSONAny] = [
            "version": .string(schemaVersion),
            "product": .object(["name": .string("Portcullis"), "vendor_name": .string("Portcullis")]),
            "uid": .string(e.id),
            "log_name": .string("audit"),
            "sequence": .int(Int64(entry.index)),
        ]
        if let trace = e.traceID { metadata["correlation_uid"] = .string(trace) }
        out["metadata"] = .object(metadata)

        let agentUser: JSONAny? = e.agent.map {
            .object(["uid": .string($0.id), "name": .string($0.id), "type_id": .int(99), "type": .string("Agent")])
        }
        let adminUser: JSONAny? = e.actor.map {
            .object(["name": .string($0), "uid": .string($0), "type_id": .int(2), "type": .string("Admin")])
        }
        switch classUID {
        case 6003:
            var actor: [String: JSONAny] = [:]
            if let agentUser { actor["user"] = agentUser }
            if let session = e.sessionID { actor["session"] = .object(["uid": .string(session)]) }
            if let decision = e.decision {
                let policies = e.determiningPolicies.isEmpty ? [JSONAny.object([:])]
                    : e.determiningPolicies.map { JSONAny.object(["policy": .object(["uid": .string($0), "name": .string($0)])]) }
                actor["authorizations"] = .array(policies.map {
                    guard case .object(var o) = $0 else { return $0 }
                    o["decision"] = .string(decision.rawValue)
                    return .object(o)
                })
            }
            out["actor"] = .object(actor)
            var api: [String: JSONAny] = ["operation": .string(e.action), "request": .object(["uid": .string(e.id)])]
            if let resource = e.resource, let server = resource.split(separator: ".").first, resource.contains(".") {
                api["service"] = .object(["name": .string(String(server))])
            }
            if let outcome = e.outcome {
                var response: [String: JSONAny] = ["message": .string(outcome.status)]
                if let code = Int64(outcome.status) { response["code"] = .int(code) }
                api["response"] = .object(response)
            }
            out["api"] = .object(api)
            out["src_endpoint"] = endpoint(e)
            if let resource = e.resource {
                out["resources"] = .array([.object(["name": .string(resource), "uid": .string(resource), "type": .string("tool")])])
            }
        case 3002:
            out["user"] = agentUser ?? adminUser ?? .object(["name": .string("unknown")])
            if let resource = e.resource { out["service"] = .object(["name": .string(resource), "uid": .string(resource)]) }
            if let actor = adminUser { out["actor"] = .object(["user": actor]) }
            out["src_endpoint"] = endpoint(e)
        case 3001:
            out["user"] = .object(["uid": .string(e.resource ?? e.agent?.id ?? "unknown"), "type_id": .int(99), "type": .string("Agent")])
            if let adminUser { out["actor"] = .object(["user": adminUser]) }
        case 3004:
            out["entity"] = .object(["name": .string(e.resource ?? e.action), "type": .string(String(e.action.split(separator: ".").first ?? "entity"))])
            if let adminUser { out["actor"] = .object(["user": adminUser]) }
        default:
            out["finding_info"] = .object(["uid": .string(e.id), "title": .string(e.reason ?? e.action)])
        }
        var portcullis: [String: JSONAny] = [
            "kind": .string(e.kind.rawValue),
            "action": .string(e.action),
            "log_index": .int(Int64(entry.index)),
            "leaf_hash": .string(entry.leafHash.map { hexDigit($0) }.joined()),
            "delegation_chain": .array(e.delegationChain.map(JSONAny.string)),
            "determining_policies": .array(e.determiningPolicies.map(JSONAny.string)),
            "erroring_policies": .array(e.erroringPolicies.map(JSONAny.string)),
            "obligations": .array(e.obligations.map(JSONAny.string)),
        ]
        if let v = e.decision { portcullis["decision"] = .string(v.rawValue) }
        if let v = e.reasoning { portcullis["reasoning"] = .string(v) }
        if let v = e.onBehalfOf { portcullis["on_behalf_of"] = .string(v) }
        if let v = e.argumentsDigest { portcullis["arguments_digest"] = .string(v) }
        if let v = e.redactedArguments { portcullis["redacted_arguments"] = v }
        if let v = e.resource { portcullis["resource"] = .string(v) }
        if let o = e.outcome {
            var outcome: [String: JSONAny] = ["status": .string(o.status)]
            if let b = o.bytes { outcome["bytes"] = .int(Int64(b)) }
            portcullis["outcome"] = .object(outcome)
        }
        if let a = e.agent {
            var agent: [String: JSONAny] = ["id": .string(a.id)]
            if let v = a.model { agent["model"] = .string(v) }
            if let v = a.version { agent["version"] = .string(v) }
            if let v = a.configDigest { agent["config_digest"] = .string(v) }
            portcullis["agent"] = .object(agent)
        }
        out["unmapped"] = .object(["portcullis": .object(portcullis)])
        return .object(out)
    }

    /// One OCSF event as a line of JSON (no trailing newline).
    public static func line(_ entry: AuditLogEntry) throws -> String {
        var json = CanonicalJSON()
        try json.value(event(entry))
        return String(decoding: json.bytes, as: UTF8.self)
    }

    private static func hexDigit(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(b >> 4)], digits[Int(b & 0xF)]])
    }

    static func classOf(_ e: AuditEvent) -> (Int64, String, Int64, String) {
        switch e.kind {
        case .decision: (6003, "API Activity", 6, "Application Activity")
        case .token: (3002, "Authentication", 3, "Identity & Access Management")
        case .admin where e.action.hasPrefix("agent."): (3001, "Account Change", 3, "Identity & Access Management")
        case .admin: (3004, "Entity Management", 3, "Identity & Access Management")
        case .alert: (2004, "Detection Finding", 2, "Findings")
        }
    }

    static func activity(_ e: AuditEvent, classUID: Int64) -> (Int64, String) {
        let verb = e.action.split(separator: ".").last.map(String.init) ?? e.action
        switch classUID {
        case 3001:
            switch verb {
            case "register": return (1, "Create")
            case "resume": return (2, "Enable")
            case "suspend": return (5, "Disable")
            case "quarantine": return (9, "Lock")
            case "decommission": return (6, "Delete")
            default: return (99, verb)
            }
        case 3002:
            return e.action == "token.revoke" ? (2, "Logoff") : (4, "Service Ticket Request")
        case 3004:
            switch verb {
            case "create", "approve": return (1, "Create")
            case "reload", "update": return (3, "Update")
            case "delete", "deny": return (4, "Delete")
            case "kill", "suspend": return (12, "Suspend")
            case "resume": return (13, "Resume")
            default: return (99, verb)
            }
        case 2004:
            return (1, "Create")
        default:
            return (99, e.action)
        }
    }

    static func severity(_ e: AuditEvent) -> Int64 {
        if e.kind == .alert { return 4 }
        return e.decision == .deny ? 3 : 1
    }

    static func statusOf(_ e: AuditEvent) -> (Int64, String) {
        // A finding's status is its triage state, not an outcome.
        if e.kind == .alert { return (1, "New") }
        switch e.decision {
        case .deny: return (2, "Failure")
        case .pending: return (99, "Pending approval")
        case .allow, nil:
            if let status = e.outcome?.status, status.hasPrefix("error") || (Int(status).map { $0 >= 400 } ?? false) {
                return (2, "Failure")
            }
            return (1, "Success")
        }
    }

    static func endpoint(_ e: AuditEvent) -> JSONAny {
        if let ip = e.sourceAddress { return .object(["ip": .string(ip)]) }
        return .object(["name": .string(e.agent?.id ?? e.actor ?? "unknown")])
    }

    static func message(_ e: AuditEvent) -> String {
        var parts = [e.agent?.id ?? e.actor ?? "someone", e.action]
        if let r = e.resource { parts.append(r) }
        if let d = e.decision { parts.append("→ \(d.rawValue)") }
        return parts.joined(separator: " ")
    }
}
