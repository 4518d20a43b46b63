#!/usr/bin/env python3
"""Generate Cedar benchmark workloads modelled on agent authorization.

How to run (standard library only; cedarpy is used for an optional check):

    python3 scripts/bench/gen_workload.py --out /tmp/portcullis-bench
    python3 scripts/bench/gen_workload.py --out DIR --sizes 10,100 --requests 500 --seed 7
    python3 scripts/bench/gen_workload.py --out DIR --check   # also parse + validate with cedarpy

For each N (policy count, default 10, 100, 1000, 10000) it writes DIR/nN/:

    policies.cedar       N policies (ids are positional: policy0, policy1, ...)
    entities.json        Cedar entities JSON; the store scales with N
    requests.json        ~1000 requests, the format of `portcullis cedar authorize --requests`
    schema.cedarschema   a Cedar schema that the policies, entities and requests conform to

and DIR/manifest.json with the counts. Output is deterministic for a seed.

The model: Users and Agents belong to (nested) Teams; every Agent has an owner
(User), purpose, trustLevel, model and status. Tools (server, name, effect
read/write/destructive, risk, dataClass, tags) belong to a ToolGroup per server
and to effect groups. Actions: call_tool, read_resource, list_tools (all in
the `mcp` action group), approve and kill. The request context carries the
delegation (user, chain, depth), session (tainted, calls, ageSeconds), call
arguments, time (datetime), network source IP (ipaddr), risk score and
approval. Policies are mostly scoped permits per agent/team and tool/tool
group, some scoped forbids, and a handful of global guard rails (tainted
sessions, suspended agents, high risk, off-hours destructive calls,
confidential data from outside the corporate network, deep delegation).
Most requests are aimed at one scoped permit so that a few policies apply to
each, and decisions are a mix of allow and deny.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections import defaultdict
from typing import Any

DEFAULT_SEED = 424242
DEFAULT_SIZES = [10, 100, 1000, 10000]

PURPOSES = ["customer-support", "code-review", "billing", "research", "ops-automation", "sales-outreach",
            "data-analysis", "security-triage"]
MODELS = ["claude-sonnet-4.5", "claude-opus-4.1", "gpt-5", "gpt-4.1-mini", "gemini-2.5-pro", "llama-4-70b"]
SERVERS = ["github", "slack", "filesystem", "postgres", "email", "jira", "stripe", "s3", "kubernetes", "gdrive",
           "salesforce", "pagerduty"]
TOOL_VERBS = {
    "read": ["get", "list", "search", "read", "describe", "query"],
    "write": ["create", "update", "post", "comment", "upload", "send"],
    "destructive": ["delete", "drop", "force_push", "terminate", "refund", "purge"],
}
TOOL_NOUNS = ["issue", "file", "message", "table", "invoice", "bucket", "pod", "ticket", "doc", "branch", "user",
              "record"]
DATA_CLASSES = ["public", "internal", "confidential", "pii"]
TAGS = ["pii", "finance", "prod", "external", "experimental", "audited", "customer-data", "secrets"]
DEPARTMENTS = ["eng", "support", "finance", "sales", "security", "ops"]

SCHEMA = """\
// Agent authorization model used by the Portcullis Cedar benchmarks.
entity Team in [Team] = { name: String };
entity User in [Team] = { email: String, department: String };
entity Agent in [Team] = {
  owner: User,
  purpose: String,
  trustLevel: Long,
  model: String,
  status: String,
};
entity ToolGroup = { server: String };
entity Tool in [ToolGroup] = {
  server: String,
  name: String,
  effect: String,
  risk: Long,
  dataClass: String,
  tags: Set<String>,
};

type RequestContext = {
  delegation: { user: User, chain: Set<Agent>, depth: Long },
  session: { tainted: Bool, calls: Long, ageSeconds: Long },
  args: { path?: String, recipient?: String, amount?: Long, query?: String },
  time: datetime,
  network: { sourceIp: ipaddr },
  risk: { score: Long },
  approval: { granted: Bool },
  purpose: String,
};

action mcp;
action call_tool in [mcp] appliesTo { principal: [Agent], resource: [Tool], context: RequestContext };
action read_resource in [mcp] appliesTo { principal: [Agent], resource: [Tool], context: RequestContext };
action list_tools in [mcp] appliesTo { principal: [Agent], resource: [ToolGroup], context: RequestContext };
action approve appliesTo { principal: [User], resource: [Tool], context: RequestContext };
action kill appliesTo { principal: [User], resource: [Agent], context: RequestContext };
"""

ACTION_PARENTS = {"call_tool": ["mcp"], "read_resource": ["mcp"], "list_tools": ["mcp"], "mcp": [],
                  "approve": [], "kill": []}


def uid(t: str, i: str) -> dict[str, str]:
    return {"type": t, "id": i}


def ref(t: str, i: str) -> dict[str, Any]:
    return {"__entity": uid(t, i)}


def lit(t: str, i: str) -> str:
    return f'{t}::"{i}"'


class Workload:
    def __init__(self, n: int, seed: int, n_requests: int):
        self.n = n
        self.r = random.Random(f"{seed}:{n}")
        self.n_requests = n_requests
        self.build_store()

    # -- store -------------------------------------------------------------
    def build_store(self) -> None:
        r, n = self.r, self.n
        n_teams = max(3, n // 20)
        n_users = max(4, n // 10)
        n_agents = max(4, n // 2)
        n_tools = max(6, n // 2)
        n_servers = max(3, min(n // 25, 400))

        # Teams: a forest, depth up to 4 (org -> division -> team -> squad).
        self.teams = [f"team-{i}" for i in range(n_teams)]
        self.team_parent: dict[str, list[str]] = {}
        for i, t in enumerate(self.teams):
            if i == 0:
                self.team_parent[t] = []
            else:
                lo = max(0, (i - 1) // 4)
                self.team_parent[t] = [self.teams[r.randint(lo, i - 1) if r.random() < 0.3 else lo]]
        self.users = [f"user-{i}" for i in range(n_users)]
        self.user_teams = {u: r.sample(self.teams, min(len(self.teams), r.choice([1, 1, 2]))) for u in self.users}
        self.agents = [f"agent-{i}" for i in range(n_agents)]
        self.agent_attrs: dict[str, dict[str, Any]] = {}
        self.agent_teams: dict[str, list[str]] = {}
        for a in self.agents:
            self.agent_teams[a] = r.sample(self.teams, min(len(self.teams), r.choice([1, 1, 1, 2])))
            self.agent_attrs[a] = {
                "owner": r.choice(self.users),
                "purpose": r.choice(PURPOSES),
                "trustLevel": r.choices([1, 2, 3, 4, 5], weights=[1, 2, 4, 3, 1])[0],
                "model": r.choice(MODELS),
                "status": "active" if r.random() < 0.95 else r.choice(["suspended", "quarantined"]),
            }
        servers = SERVERS[:n_servers] + [f"server-{i}" for i in range(max(0, n_servers - len(SERVERS)))]
        self.groups = [f"srv:{s}" for s in servers]
        self.effect_groups = ["effect:read", "effect:write", "effect:destructive"]
        self.tools: list[str] = []
        self.tool_attrs: dict[str, dict[str, Any]] = {}
        self.tool_groups: dict[str, list[str]] = {}
        for i in range(n_tools):
            server = r.choice(servers)
            effect = r.choices(["read", "write", "destructive"], weights=[6, 3, 1])[0]
            name = f"{r.choice(TOOL_VERBS[effect])}_{r.choice(TOOL_NOUNS)}"
            tid = f"{server}/{name}#{i}"
            self.tools.append(tid)
            risk = {"read": r.randint(0, 3), "write": r.randint(2, 6), "destructive": r.randint(6, 10)}[effect]
            self.tool_attrs[tid] = {
                "server": server, "name": name, "effect": effect, "risk": risk,
                "dataClass": r.choices(DATA_CLASSES, weights=[3, 4, 2, 1])[0],
                "tags": sorted(set(r.sample(TAGS, r.choice([0, 1, 1, 2, 3])))),
            }
            self.tool_groups[tid] = [f"srv:{server}", f"effect:{effect}"]
        # Reverse indexes for aiming requests at a scope.
        self.team_members: dict[str, list[str]] = defaultdict(list)  # team -> agents (transitively)
        self.team_users: dict[str, list[str]] = defaultdict(list)
        for a in self.agents:
            for t in self.team_ancestors(self.agent_teams[a]):
                self.team_members[t].append(a)
        for u in self.users:
            for t in self.team_ancestors(self.user_teams[u]):
                self.team_users[t].append(u)
        self.group_tools: dict[str, list[str]] = defaultdict(list)
        for t in self.tools:
            for g in self.tool_groups[t]:
                self.group_tools[g].append(t)

    def team_ancestors(self, teams: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(teams)
        while todo:
            t = todo.pop()
            if t not in seen:
                seen.add(t)
                todo.extend(self.team_parent[t])
        return seen

    def entities(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for t in self.teams:
            out.append({"uid": uid("Team", t), "attrs": {"name": t.replace("-", " ").title()},
                        "parents": [uid("Team", p) for p in self.team_parent[t]]})
        for u in self.users:
            out.append({"uid": uid("User", u),
                        "attrs": {"email": f"{u}@example.com", "department": self.r.choice(DEPARTMENTS)},
                        "parents": [uid("Team", t) for t in self.user_teams[u]]})
        for a in self.agents:
            attrs = dict(self.agent_attrs[a])
            attrs["owner"] = ref("User", attrs["owner"])
            out.append({"uid": uid("Agent", a), "attrs": attrs,
                        "parents": [uid("Team", t) for t in self.agent_teams[a]]})
        for g in self.groups + self.effect_groups:
            out.append({"uid": uid("ToolGroup", g), "attrs": {"server": g.split(":", 1)[1]}, "parents": []})
        for t in self.tools:
            out.append({"uid": uid("Tool", t), "attrs": self.tool_attrs[t],
                        "parents": [uid("ToolGroup", g) for g in self.tool_groups[t]]})
        for a, ps in ACTION_PARENTS.items():
            out.append({"uid": uid("Action", a), "attrs": {}, "parents": [uid("Action", p) for p in ps]})
        return out

    # -- policies ----------------------------------------------------------
    GLOBAL_POLICIES = [
        ('taint-needs-approval', 'forbid (principal is Agent, action == Action::"call_tool", resource is Tool)\n'
         '  when { context.session.tainted && resource.effect != "read" && !context.approval.granted };'),
        ('inactive-agents', 'forbid (principal is Agent, action, resource)\n'
         '  unless { principal.status == "active" };'),
        ('list-tools-active', 'permit (principal is Agent, action == Action::"list_tools", resource is ToolGroup)\n'
         '  when { principal.status == "active" && context.risk.score < 90 };'),
        ('high-risk', 'forbid (principal, action in Action::"mcp", resource)\n'
         '  when { context.risk.score > 80 };'),
        ('off-hours-destructive', 'forbid (principal, action == Action::"call_tool", resource is Tool)\n'
         '  when { resource.effect == "destructive" &&\n'
         '         (context.time.toTime() < duration("8h") || context.time.toTime() >= duration("18h")) };'),
        ('confidential-off-network', 'forbid (principal, action in [Action::"call_tool", Action::"read_resource"], '
         'resource is Tool)\n'
         '  when { (resource.dataClass == "confidential" || resource.dataClass == "pii") &&\n'
         '         !(context.network.sourceIp.isInRange(ip("10.0.0.0/8")) ||\n'
         '           context.network.sourceIp.isInRange(ip("192.168.0.0/16"))) };'),
        ('deep-delegation', 'forbid (principal is Agent, action, resource)\n'
         '  when { context.delegation.depth > 3 || context.delegation.chain.contains(principal) };'),
        ('stale-session', 'forbid (principal is Agent, action == Action::"call_tool", resource is Tool)\n'
         '  when { context.session.ageSeconds > 28800 && resource.risk >= 5 };'),
    ]

    def policies(self) -> tuple[list[str], list[dict[str, Any]]]:
        """Policy texts and, for each, what it is about (for aiming requests)."""
        r, n = self.r, self.n
        n_global = min(len(self.GLOBAL_POLICIES), max(2, n // 10 + 2)) if n >= 10 else 2
        chosen = self.GLOBAL_POLICIES[:n_global]
        texts: list[str] = []
        meta: list[dict[str, Any]] = []
        n_scoped = n - len(chosen)
        n_forbid = int(n_scoped * 0.18)
        n_approve = max(1, n_scoped // 40)
        kinds = (["forbid"] * n_forbid + ["approve"] * n_approve
                 + ["permit"] * (n_scoped - n_forbid - n_approve))
        r.shuffle(kinds)
        # Global policies spread through the set, not all first.
        positions = sorted(r.sample(range(n), len(chosen)))
        gi = 0
        ki = 0
        for pos in range(n):
            if gi < len(chosen) and positions[gi] == pos:
                name, body = chosen[gi]
                texts.append(f'@id("{name}")\n{body}')
                meta.append({"kind": "global"})
                gi += 1
                continue
            kind = kinds[ki]
            ki += 1
            text, m = getattr(self, f"scoped_{kind}")(pos)
            texts.append(text)
            meta.append(m)
        return texts, meta

    def principal_scope(self) -> tuple[str, dict[str, Any]]:
        if self.r.random() < 0.6:
            a = self.r.choice(self.agents)
            return f'principal == {lit("Agent", a)}', {"agent": a}
        t = self.r.choice(self.teams)
        return f'principal in {lit("Team", t)}', {"team": t}

    def resource_scope(self) -> tuple[str, dict[str, Any]]:
        x = self.r.random()
        if x < 0.55:
            t = self.r.choice(self.tools)
            return f'resource == {lit("Tool", t)}', {"tool": t}
        if x < 0.9:
            g = self.r.choice(self.groups)
            return f'resource in {lit("ToolGroup", g)}', {"group": g}
        g = self.r.choice(self.effect_groups[:2])
        return f'resource in {lit("ToolGroup", g)}', {"group": g}

    PERMIT_CONDITIONS = [
        'context.delegation.depth <= 2',
        'resource.risk <= principal.trustLevel + 2',
        'resource.effect == "read" || principal.trustLevel >= 3',
        'context.delegation.user == principal.owner',
        'context.session.calls < 200',
        '!(resource.tags.contains("pii")) || principal.trustLevel >= 4',
        'context.args has amount && context.args.amount <= 5000',
        'context.args has path && context.args.path like "/workspace/*"',
        'context.purpose == principal.purpose',
        'context.time >= datetime("2026-01-01") && context.time < datetime("2027-01-01")',
        'resource.dataClass != "pii"',
        'context.network.sourceIp.isInRange(ip("10.0.0.0/8"))',
        'principal.model like "claude-*" || principal.model like "gpt-5*"',
        'context.risk.score < 50',
        '[ "public", "internal" ].contains(resource.dataClass) || context.approval.granted',
    ]
    FORBID_CONDITIONS = [
        'resource.effect == "destructive" && context.session.calls > 50',
        'context.args has recipient && !(context.args.recipient like "*@example.com")',
        'resource.tags.contains("prod") && principal.trustLevel < 3',
        'context.session.tainted && context.args has query',
        'context.delegation.depth >= 2 && resource.effect != "read"',
        'context.risk.score > 40 && resource.risk >= 5',
        'resource.tags.containsAny(["secrets", "finance"]) && !context.approval.granted',
        'context.time.toTime() > duration("20h")',
    ]

    def conditions(self, pool: list[str], lo: int, hi: int) -> str:
        k = self.r.randint(lo, hi)
        if k == 0:
            return ""
        conds = self.r.sample(pool, k)
        return "\n  when { " + " && ".join(f"({c})" for c in conds) + " }"

    def scoped_permit(self, pos: int) -> tuple[str, dict[str, Any]]:
        ps, pm = self.principal_scope()
        rs, rm = self.resource_scope()
        action = self.r.choices(['action == Action::"call_tool"',
                                 'action in [Action::"call_tool", Action::"read_resource"]',
                                 'action == Action::"read_resource"'], weights=[6, 3, 1])[0]
        unless = ""
        if self.r.random() < 0.15:
            unless = '\n  unless { context.session.tainted }'
        text = (f'@id("permit-{pos}")\npermit ({ps}, {action}, {rs})'
                f'{self.conditions(self.PERMIT_CONDITIONS, 1 if self.r.random() < 0.8 else 0, 2)}{unless};')
        return text, {"kind": "permit", **pm, **rm, "action": "read_resource" if "== Action::\"read_resource" in action
                      else "call_tool"}

    def scoped_forbid(self, pos: int) -> tuple[str, dict[str, Any]]:
        ps, pm = self.principal_scope()
        rs, rm = self.resource_scope()
        text = (f'@id("forbid-{pos}")\nforbid ({ps}, action == Action::"call_tool", {rs})'
                f'{self.conditions(self.FORBID_CONDITIONS, 1, 1)};')
        return text, {"kind": "forbid", **pm, **rm, "action": "call_tool"}

    def scoped_approve(self, pos: int) -> tuple[str, dict[str, Any]]:
        t = self.r.choice(self.teams)
        g = self.r.choice(self.groups)
        text = (f'@id("approvers-{pos}")\npermit (principal in {lit("Team", t)}, action == Action::"approve", '
                f'resource in {lit("ToolGroup", g)})\n  unless {{ context.session.tainted }};')
        return text, {"kind": "approve", "team": t, "group": g}

    # -- requests ----------------------------------------------------------
    def context(self, agent: str | None) -> dict[str, Any]:
        r = self.r
        owner = self.agent_attrs[agent]["owner"] if agent else r.choice(self.users)
        depth = r.choices([0, 1, 2, 3, 4], weights=[5, 5, 3, 1, 0.3])[0]
        chain = [ref("Agent", r.choice(self.agents)) for _ in range(max(0, depth - 1))]
        user = owner if r.random() < 0.85 else r.choice(self.users)
        hour = r.choices([r.randint(8, 17), r.randint(0, 23)], weights=[85, 15])[0]
        when = f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{hour:02d}:{r.randint(0, 59):02d}:00Z"
        if r.random() < 0.9:
            ip = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
        else:
            ip = r.choice([f"203.0.113.{r.randint(1, 254)}", "2001:db8::42", f"192.168.1.{r.randint(1, 254)}"])
        args: dict[str, Any] = {}
        if r.random() < 0.4:
            args["path"] = r.choice(["/workspace/src/main.swift", "/workspace/README.md", "/etc/passwd",
                                     "/home/user/.ssh/id_ed25519"])
        if r.random() < 0.3:
            args["amount"] = r.choice([10, 250, 999, 5000, 12000])
        if r.random() < 0.25:
            args["recipient"] = r.choice(["ops@example.com", "attacker@evil.test", "ceo@example.com"])
        if r.random() < 0.2:
            args["query"] = "select * from accounts"
        purpose = self.agent_attrs[agent]["purpose"] if agent and r.random() < 0.8 else r.choice(PURPOSES)
        return {
            "delegation": {"user": ref("User", user), "chain": chain, "depth": depth},
            "session": {"tainted": r.random() < 0.1, "calls": r.choice([1, 5, 20, 60, 150, 400]),
                        "ageSeconds": r.choice([30, 600, 3600, 20000, 40000])},
            "args": args,
            "time": {"__extn": {"fn": "datetime", "arg": when}},
            "network": {"sourceIp": {"__extn": {"fn": "ip", "arg": ip}}},
            "risk": {"score": r.choices([r.randint(0, 40), r.randint(41, 80), r.randint(81, 100)],
                                        weights=[75, 20, 5])[0]},
            "approval": {"granted": r.random() < 0.3},
            "purpose": purpose,
        }

    def aim(self, m: dict[str, Any]) -> tuple[str, str]:
        r = self.r
        if "agent" in m:
            agent = m["agent"]
        else:
            agent = r.choice(self.team_members.get(m["team"]) or self.agents)
        if "tool" in m:
            tool = m["tool"]
        else:
            tool = r.choice(self.group_tools.get(m["group"]) or self.tools)
        return agent, tool

    def requests(self, meta: list[dict[str, Any]]) -> list[dict[str, Any]]:
        r = self.r
        scoped = [m for m in meta if m["kind"] in ("permit", "forbid")]
        permits = [m for m in meta if m["kind"] == "permit"]
        approvals = [m for m in meta if m["kind"] == "approve"]
        out = []
        for _ in range(self.n_requests):
            x = r.random()
            if x < 0.75 and scoped:
                m = r.choice(permits if permits and r.random() < 0.65 else scoped)
                agent, tool = self.aim(m)
                action = m["action"] if r.random() < 0.9 else r.choice(["call_tool", "read_resource"])
                out.append(self.req("Agent", agent, action, "Tool", tool, agent))
            elif x < 0.88:
                agent = r.choice(self.agents)
                out.append(self.req("Agent", agent, "list_tools", "ToolGroup", r.choice(self.groups), agent))
            elif x < 0.93 and approvals:
                m = r.choice(approvals)
                user = r.choice(self.team_users.get(m["team"]) or self.users)
                tool = r.choice(self.group_tools.get(m["group"]) or self.tools)
                out.append(self.req("User", user, "approve", "Tool", tool, None))
            else:
                agent = r.choice(self.agents)
                out.append(self.req("Agent", agent, "call_tool", "Tool", r.choice(self.tools), agent))
        return out

    def req(self, pt: str, p: str, a: str, rt: str, res: str, agent: str | None) -> dict[str, Any]:
        return {"principal": uid(pt, p), "action": uid("Action", a), "resource": uid(rt, res),
                "context": self.context(agent)}


def write_workload(out: str, n: int, seed: int, n_requests: int) -> dict[str, Any]:
    w = Workload(n, seed, n_requests)
    texts, meta = w.policies()
    ents = w.entities()
    reqs = w.requests(meta)
    d = os.path.join(out, f"n{n}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "policies.cedar"), "w", encoding="utf-8") as fh:
        fh.write("\n\n".join(texts) + "\n")
    with open(os.path.join(d, "entities.json"), "w", encoding="utf-8") as fh:
        json.dump(ents, fh, indent=None, separators=(",", ":"))
    with open(os.path.join(d, "requests.json"), "w", encoding="utf-8") as fh:
        fh.write("[\n" + ",\n".join(json.dumps(q, separators=(",", ":")) for q in reqs) + "\n]\n")
    with open(os.path.join(d, "schema.cedarschema"), "w", encoding="utf-8") as fh:
        fh.write(SCHEMA)
    kinds: dict[str, int] = defaultdict(int)
    for m in meta:
        kinds[m["kind"]] += 1
    return {"n": n, "dir": f"n{n}", "policies": len(texts), "policy_kinds": dict(kinds), "entities": len(ents),
            "agents": len(w.agents), "tools": len(w.tools), "teams": len(w.teams), "users": len(w.users),
            "requests": len(reqs)}


def check_with_cedarpy(out: str, info: dict[str, Any]) -> None:
    """Parse everything with cedarpy and validate the policies against the schema."""
    import cedarpy

    d = os.path.join(out, info["dir"])
    text = open(os.path.join(d, "policies.cedar"), encoding="utf-8").read()
    schema_text = open(os.path.join(d, "schema.cedarschema"), encoding="utf-8").read()
    ents_text = open(os.path.join(d, "entities.json"), encoding="utf-8").read()
    ps = cedarpy.PolicySet.from_str(text)
    schema = cedarpy.Schema.from_str(schema_text)
    cedarpy.Entities.from_json_str(ents_text, schema)
    v = cedarpy.validate_policies(text, schema)
    if not v.validation_passed:
        raise SystemExit(f"{d}: policies do not validate: {[str(e) for e in v.errors[:5]]}")
    reqs = json.load(open(os.path.join(d, "requests.json"), encoding="utf-8"))
    ents = cedarpy.Entities.from_json_str(ents_text)
    sample = reqs[:200]
    with_schema = cedarpy.is_authorized_batch(sample, ps, ents, schema)
    without = cedarpy.is_authorized_batch(sample, ps, ents)
    for i, (a, b) in enumerate(zip(with_schema, without)):
        if a.decision == cedarpy.Decision.NoDecision:
            raise SystemExit(f"{d}: request {i} does not conform to the schema: {a.diagnostics.errors}")
        if a.decision != b.decision:
            raise SystemExit(f"{d}: request {i} decides differently with and without the schema")
    print(f"  checked n{info['n']}: parses, validates against the schema, requests conform")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (one subdirectory per N)")
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="policy counts, comma-separated")
    ap.add_argument("--requests", type=int, default=1000, help="requests per workload")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--check", action="store_true", help="parse and validate everything with cedarpy")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    os.makedirs(args.out, exist_ok=True)
    manifest = {"seed": args.seed, "workloads": []}
    for n in sizes:
        info = write_workload(args.out, n, args.seed, args.requests)
        manifest["workloads"].append(info)
        print(f"n{n}: {info['policies']} policies {info['policy_kinds']}, {info['entities']} entities, "
              f"{info['requests']} requests")
        if args.check:
            check_with_cedarpy(args.out, info)
    with open(os.path.join(args.out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
