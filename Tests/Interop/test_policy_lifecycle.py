"""The policy lifecycle (issue #16), end to end: `portcullis serve` with a policy directory, the scenario tool
servers over stdio, agents driven with the official `mcp` SDK, the CLI for reports.

- Shadow policies (`@mode("shadow")`) are evaluated on every call and change nothing for the agent; every flipped
  call is recorded, and `portcullis policy shadow-report` lists exactly those, grouped by policy.
- `portcullis policy replay --policies DIR` decides the recorded calls again against a candidate set, offline, and
  lists exactly the calls whose verdict would change.
- A policy file that does not validate is not loaded: the reload is refused, recorded, and the policies in force stay.
"""
from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from mcp.shared.exceptions import MCPError

from mcp_fixtures import SCENARIO_TOOLS, call_tools, run, scenario_actions, scenario_agent, scenario_config
from conftest import require_portcullis
from oauth_fixtures import IdentityProvider, running_server
from response_fixtures import cli

ENFORCED = r'''
@id("reads") permit (principal, action in [Action::"connect", Action::"list_tools"], resource);
@id("tools") permit (principal, action == Action::"call_tool", resource);
'''

# Would deny every refund (allowed today), and send mail to a person (pending) when a file was read first.
SHADOW = r'''
@id("shadow-no-refunds")
@mode("shadow")
forbid (principal, action == Action::"call_tool", resource == Tool::"payments.refund");

@id("shadow-mail-after-files")
@mode("shadow")
@obligation("approval")
permit (principal, action == Action::"call_tool", resource == Tool::"mail.send_email")
when { context.session.history.tools.contains("files.read_file") };

@id("shadow-mail-after-files-otherwise")
@mode("shadow")
forbid (principal, action == Action::"call_tool", resource == Tool::"mail.send_email")
when { context.session.history.tools.contains("files.read_file") && context.session.dataClasses.contains("confidential") };
'''

TOOLS = SCENARIO_TOOLS


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("lifecycle")
    (work / "policies").mkdir()
    (work / "policies" / "enforced.cedar").write_text(ENFORCED)
    (work / "policies" / "shadow.cedar").write_text(SHADOW)
    state = work / "state"
    idp = IdentityProvider(work / "idp")
    config = scenario_config(idp, state, ("mail", "files", "payments"), TOOLS, work / "policies")
    with running_server(work, config) as server:
        yield server, state, idp, work


def entries(server, since_index: int) -> list[dict]:
    r = server.admin("GET", f"/admin/audit/entries?kind=decision&order=asc&from={since_index}&limit=10000")
    assert r.status_code == 200, r.text
    return r.json()


def audit_size(server) -> int:
    r = server.admin("GET", "/admin/audit/entries?order=desc&limit=1")
    assert r.status_code == 200, r.text
    rows = r.json()
    return rows[0]["index"] + 1 if rows else 0


def test_shadow_policies_change_nothing_and_every_flip_is_reported(world):
    server, state, idp, _ = world
    start = audit_size(server)
    marker = uuid.uuid4().hex[:8]
    _, token = scenario_agent(server, idp, "alice@example.test")
    steps = [
        ("payments.refund", {"invoice": f"INV-{marker}", "amount": 10}),
        ("payments.get_invoice", {"id": "INV-2026-0043"}),
        ("mail.send_email", {"to": "bob@company.example", "subject": f"before {marker}", "body": "hi"}),
        ("files.read_file", {"name": "notes.txt"}),
        ("mail.send_email", {"to": "bob@company.example", "subject": f"after {marker}", "body": "hi"}),
        ("payments.refund", {"invoice": f"INV-{marker}", "amount": 20}),
    ]
    results = run(call_tools(server, token, steps))
    # Nothing changed for the agent: every call went through, every write reached its upstream.
    assert not any(isinstance(r, MCPError) for r in results), results
    assert [a["amount"] for a in scenario_actions(state, "payments", "refund") if a["invoice"] == f"INV-{marker}"] == [10, 20]
    assert sorted(a["subject"] for a in scenario_actions(state, "mail", "send_email") if marker in a["subject"]) == \
        [f"after {marker}", f"before {marker}"]

    # The audit entries of the six calls record what the shadow set would have decided.
    mine = [e for e in entries(server, start) if e["event"].get("action") == "call_tool"
            and e["event"].get("resource") in {t for t, _ in steps}][-6:]
    assert [e["event"]["resource"] for e in mine] == [t for t, _ in steps]
    shadows = [e["event"]["shadow"] for e in mine]
    assert [s["decision"] for s in shadows] == ["deny", "allow", "allow", "allow", "pending", "deny"]
    assert [s["flipped"] for s in shadows] == [True, False, False, False, True, True]
    assert all(e["event"]["decision"] == "allow" for e in mine)
    flipped_indices = {e["index"] for e, s in zip(mine, shadows) if s["flipped"]}

    # The report lists exactly those, grouped by the policy that flips them.
    r = cli(server, "policy", "shadow-report", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    reported = {f["index"] for f in report["flipped"]}
    assert flipped_indices <= reported
    assert all(f["recorded"] == "allow" for f in report["flipped"])
    refunds = {e["index"] for e in mine if e["event"]["resource"] == "payments.refund"}
    mail_after = {e["index"] for e in mine if e["event"]["resource"] == "mail.send_email" and e["event"]["shadow"]["flipped"]}
    assert refunds <= set(report["by_policy"]["shadow-no-refunds"])
    assert mail_after <= set(report["by_policy"]["shadow-mail-after-files"])
    # Nothing else of this test is in the report.
    others = {e["index"] for e in mine} - flipped_indices
    assert not others & reported
    r = cli(server, "policy", "shadow-report")
    assert r.returncode == 0 and "shadow-no-refunds" in r.stdout and "allow → deny" in r.stdout, r.stdout


def test_replay_decides_recorded_calls_again_against_a_candidate(world):
    server, state, idp, work = world
    start = audit_size(server)
    marker = uuid.uuid4().hex[:8]
    _, token = scenario_agent(server, idp, "carol@example.test")
    results = run(call_tools(server, token, [
        ("mail.list_inbox", {}),
        ("mail.send_email", {"to": "dave@company.example", "subject": f"replay {marker}", "body": "hi"}),
        ("payments.get_invoice", {"id": "INV-2026-0043"}),
    ]))
    assert not any(isinstance(r, MCPError) for r in results), results
    mine = [e for e in entries(server, start) if e["event"].get("action") == "call_tool"]
    sent = [e["index"] for e in mine if e["event"]["resource"] == "mail.send_email"]
    assert len(sent) == 1
    since = str(min(e["event"]["time_ns"] for e in mine))

    # A candidate that forbids mail: exactly the recorded send flips, allow → deny, and the exit status says so.
    candidate = work / "candidate"
    candidate.mkdir(exist_ok=True)
    (candidate / "p.cedar").write_text(ENFORCED + '\n@id("no-mail") forbid (principal, action == Action::"call_tool", '
                                       'resource == Tool::"mail.send_email");\n')
    r = cli(server, "policy", "replay", "--policies", str(candidate), "--since", since, "--json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    report = json.loads(r.stdout)
    assert report["replayed"] >= 3 and report["unreadable_input"] == 0
    assert [f["index"] for f in report["flipped"]] == sent
    assert report["flipped"][0]["recorded"] == "allow" and report["flipped"][0]["would"] == "deny"
    assert report["by_policy"] == {"no-mail": sent}

    # The policies in force as the candidate: nothing flips.
    same = work / "same"
    same.mkdir(exist_ok=True)
    (same / "p.cedar").write_text(ENFORCED)
    r = cli(server, "policy", "replay", "--policies", str(same), "--since", since, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert json.loads(r.stdout)["would_flip"] == 0

    # A candidate that does not validate is refused before anything is replayed.
    broken = work / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "p.cedar").write_text('permit (principal, action == Action::"call_tool", resource) when { resource.efect == "read" };')
    r = cli(server, "policy", "replay", "--policies", str(broken), "--since", since)
    assert r.returncode != 0 and "efect" in (r.stdout + r.stderr)


def test_a_policy_that_does_not_validate_is_not_loaded(world):
    server, state, idp, work = world
    bad = work / "policies" / "typo.cedar"
    bad.write_text('@id("typo") forbid (principal, action == Action::"call_tool", resource) when { context.user == "x" };')
    try:
        r = cli(server, "policy", "reload")
        assert r.returncode != 0 and "typo" in (r.stdout + r.stderr) and "user" in (r.stdout + r.stderr), (r.stdout, r.stderr)
        # The policies in force stay: a call still goes through.
        _, token = scenario_agent(server, idp, "erin@example.test")
        results = run(call_tools(server, token, [("payments.get_invoice", {"id": "INV-2026-0043"})]))
        assert not isinstance(results[0], MCPError), results
        refused = server.admin("GET", "/admin/audit/entries?action=policy.reload.failed&limit=5").json()
        assert any("typo" in (e["event"].get("reason") or "") for e in refused), refused
        # `policy validate` says the same, offline.
        v = subprocess.run([str(require_portcullis()), "policy", "validate", str(work / "policies"), "--json"],
                           capture_output=True, text=True, timeout=60)
        assert v.returncode == 1
        assert any(e["policy"] == "typo" for e in json.loads(v.stdout)["errors"])
    finally:
        bad.unlink()
