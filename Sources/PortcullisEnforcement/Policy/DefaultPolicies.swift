/// The policy pack Portcullis ships with, used when no policy directory is configured.
///
/// Read-only by default: every agent may connect and list, and call tools whose effect is
/// `read`; an `unclassified` tool is permitted to nobody (its effect is unknown until an
/// administrator classifies it); `write` tools need trust level 3 or more; `destructive` tools need trust level 3 and
/// a person's approval; a write or outbound call using values from untrusted content needs an approval, and so does
/// one with values that are not the user's or trusted after the injection scanner found instructions;
/// secrets in arguments are refused. A permit with `@obligation("approval")` makes the call wait
/// for an approval (docs/response.md). Approvers may decide approvals, except an agent's owner
/// approving that agent's calls.
public enum DefaultPolicies {
    public static let text = #"""
// Portcullis default policy pack.
//
// Entities: principal Agent::"agt_…" {owner, purpose, trustLevel, model, modelProvider,
// modelVersion, status} in Team::"…"; resource Tool::"upstream.tool" {upstream, name, effect,
// risk, dataClass, tags} in Upstream::"…", or Upstream::"…" for connect and list_tools, or
// Endpoint::"upstream:METHOD /path" {upstream, method, path, operationId, effect, risk, dataClass,
// tags} in Upstream::"…" for http_request (the HTTP gateway).
// Context: see docs/gateway.md and docs/http-gateway.md.

@id("connect-and-list")
@reason("agents may open sessions and list tools")
permit (
  principal,
  action in [Action::"connect", Action::"list_tools"],
  resource
);

@id("read-tools")
@reason("read-only tools are allowed")
permit (principal, action in [Action::"call_tool", Action::"http_request"], resource)
when { resource.effect == "read" };

@id("write-tools-for-trusted-agents")
@reason("agents with trust level 3 or more may call write tools")
permit (principal, action in [Action::"call_tool", Action::"http_request"], resource)
when { resource.effect == "write" && principal.trustLevel >= 3 };

// Provenance (docs/provenance.md): every argument value is labelled intent, trusted, new or
// untrusted. A write, or an outbound call (a tool or endpoint tagged "outbound": fetch a URL,
// send, share), that uses a value from third-party content needs a person; one whose values all
// come from the user's intent or trusted sources goes through, even after untrusted input.

@id("untrusted-values-need-approval")
@reason("a write or outbound call using values from untrusted content needs approval")
@obligation("approval")
permit (principal, action in [Action::"call_tool", Action::"http_request"], resource)
when {
  (resource.effect != "read" || resource.tags.contains("outbound")) &&
  context has provenance && context.provenance.anyUntrusted &&
  (resource.effect == "read" || principal.trustLevel >= 3)
};

// After the injection scanner found instructions addressed to the agent, an identifier nobody
// gave (an address, URL, IBAN, handle or id the agent produced itself, for example by decoding
// "evil at example dot com") needs a person too. Free text the agent writes does not.
@id("new-identifiers-after-injected-instructions")
@reason("after instructions were found in what the agent read, identifiers not from the user or any source need approval")
@obligation("approval")
permit (principal, action in [Action::"call_tool", Action::"http_request"], resource)
when {
  (resource.effect != "read" || resource.tags.contains("outbound")) &&
  context.session.injected && context has provenance && context.provenance.anyNewIdentifier &&
  (resource.effect == "read" || principal.trustLevel >= 3)
};

@id("destructive-tools-need-approval")
@reason("destructive tools need approval")
@obligation("approval")
permit (principal, action in [Action::"call_tool", Action::"http_request"], resource)
when { resource.effect == "destructive" && principal.trustLevel >= 3 };

@id("no-secrets-in-arguments")
@reason("the arguments contain a secret")
forbid (principal, action in [Action::"call_tool", Action::"http_request"], resource)
when { context.dlp.secrets };

@id("confidential-data-stays-off-public-upstreams")
@reason("data read from a confidential or restricted upstream may not be sent to a public one")
forbid (principal, action == Action::"http_request", resource)
when {
  resource.dataClass == "public" && resource.effect != "read" &&
  (context.session.dataClasses.contains("confidential") || context.session.dataClasses.contains("restricted"))
};

// Approvals (docs/response.md): named approvers decide; nobody approves their own agent's actions.

@id("approvers-decide-approvals")
@reason("named approvers decide approvals")
permit (principal is Approver, action == Action::"approve", resource is Approval);

@id("owners-do-not-approve-their-own-agents")
@reason("an agent's owner cannot approve that agent's actions")
forbid (principal is Approver, action == Action::"approve", resource is Approval)
when { context.decision == "approve" && resource.agentOwner == principal.name };
"""#
}
