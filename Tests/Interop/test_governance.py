"""Agent governance end to end (issue #15, docs/governance.md) against `portcullis serve` on the manual test clock,
driven by the CLI (`portcullis review`, `owners offboard`, `report`) and by agents calling through the official `mcp`
SDK with tokens obtained with private_key_jwt.

- An agent whose review is overdue is alerted once, then suspended by the server's own sweep after the grace
  period: its token and its MCP calls stop working. A review resumes it.
- Offboarding an owner suspends every agent she has and revokes their tokens in one audited step; another owner's
  agent keeps working; a transfer moves the agents to a new owner.
- The reports (read with Python's csv module and json) list the right agents and figures: owners, reviews,
  DPoP and pinned-configuration shares, blocked attempts counted from the audit log.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timezone

import pytest

from mcp_fixtures import HTTPUpstream
from oauth_fixtures import running_server
from response_fixtures import (CONNECT_AND_READ, advance_clock, agent_status, alerts, audit_entries, call_once, cli,
                               cli_json, expect_ok, expect_refused, gateway_config, make_agent, mcp_token,
                               token_request, write_policies)

DAY = 86_400

# Writes are visible and allowed, except notes that start with "blocked": what the reports count as blocked.
BLOCKED_NOTES = """
@id("writes")
permit (principal, action == Action::"call_tool", resource) when { resource.effect == "write" };

@id("no-blocked-notes")
@reason("blocked notes are refused")
forbid (principal, action == Action::"call_tool", resource == Tool::"web.save_note")
when { context.arguments has text && context.arguments.text like "blocked*" };
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    upstream = HTTPUpstream(tmp_path_factory.mktemp("gov-web"), "web")
    yield upstream
    upstream.stop()


@pytest.fixture()
def server(tmp_path, web):
    """A server whose manual clock starts now (review dates are set from the wall clock at registration), with a
    sweep every second and a seven-day grace period. Monitoring is off: bursts of test calls are not the point."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = gateway_config(web, manual_clock=now, monitoring={"enabled": False},
                            policyDirectory=str(write_policies(tmp_path / "policies", CONNECT_AND_READ, BLOCKED_NOTES)))
    config["governance"] = {"reviewGraceDays": 7, "sweepSeconds": 1}
    (tmp_path / "srv").mkdir()
    with running_server(tmp_path / "srv", config) as s:
        s.mcp = s.base + "/mcp"
        yield s


def wait_until(predicate, what: str, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def echo(server, token: str, text: str):
    return call_once(server.mcp, token, "web.echo", {"text": text})


def refused(server, token: str) -> bool:
    """Whether a call with the token fails: refused at the session's start (401) or as a tool call."""
    try:
        result = echo(server, token, "refused?")
    except BaseException:  # the SDK raises an exception group when initialize answers 401
        return True
    return isinstance(result, Exception) or bool(getattr(result, "isError", False))


def test_overdue_review_suspends_and_a_review_resumes(server):
    overdue = make_agent(server, owner="alice@example.test", review_cadence_days=30)
    fine = make_agent(server, owner="alice@example.test", review_cadence_days=365)
    token = mcp_token(overdue)
    assert "hello" in expect_ok(echo(server, token, "hello"))

    # The review date passes: one alert, the agent still works (grace period).
    advance_clock(server, 31 * DAY)
    found = wait_until(lambda: [a for a in alerts(server, overdue.id) if a["detector"] == "review_overdue"],
                       "the overdue-review alert")
    assert "access review due since" in found[0]["detail"], found
    time.sleep(2.5)  # two more sweeps: still one alert
    assert len([a for a in alerts(server, overdue.id) if a["detector"] == "review_overdue"]) == 1
    assert agent_status(server, overdue.id) == "active"
    assert "again" in expect_ok(echo(server, token, "again"))

    # Past the grace period the sweep suspends it: its token and its calls are refused.
    advance_clock(server, 7 * DAY + 60)
    wait_until(lambda: agent_status(server, overdue.id) == "suspended", "the suspension")
    assert agent_status(server, fine.id) == "active"
    assert not server.is_active(token)
    assert refused(server, token)
    assert token_request(overdue).status_code in (400, 401), "a suspended agent got a token"
    events = server.events(overdue.id)
    assert events[-1]["kind"] == "suspended" and events[-1]["actor"] == "governance", events[-1]
    assert "access review overdue" in events[-1]["reason"]

    # A review answers the two questions and resumes it.
    r = cli(server, "review", overdue.id, "--still-needed", "yes", "--scopes-right", "yes", "--notes", "still used",
            "--actor", "alice")
    assert r.returncode == 0, r.stderr
    assert f"{overdue.id}: kept" in r.stdout and "resumed" in r.stdout, r.stdout
    assert agent_status(server, overdue.id) == "active"
    assert "back" in expect_ok(echo(server, mcp_token(overdue), "back"))
    # The sweep leaves it alone now: its next review is a cadence away on the manual clock.
    time.sleep(1.5)
    assert agent_status(server, overdue.id) == "active"

    # A review that does not answer is refused, and records nothing.
    r = cli(server, "review", fine.id, "--still-needed", "yes")
    assert r.returncode != 0 and "scopes-right" in r.stderr
    r = cli(server, "review", fine.id, "--still-needed", "yes", "--scopes-right", "no")
    assert r.returncode != 0 and "remove_scopes" in r.stderr, r.stderr
    assert not [e for e in server.events(fine.id) if e["kind"] == "reviewed"]


def test_offboarding_suspends_her_agents_and_their_tokens_stop(server):
    hers = [make_agent(server, owner="alice@example.test") for _ in range(3)]
    his = make_agent(server, owner="bob@example.test")
    tokens = {a.id: mcp_token(a) for a in hers}
    bob_token = mcp_token(his)
    for a in hers:
        assert "ok" in expect_ok(echo(server, tokens[a.id], "ok"))

    r = cli(server, "owners", "offboard", "alice@example.test")
    assert r.returncode != 0 and "--reason" in r.stderr
    before = len(audit_entries(server))
    report = cli_json(server, "owners", "offboard", "alice@example.test", "--reason", "left the company")
    assert {i["agent"]: i["action"] for i in report["agents"]} == {a.id: "suspended" for a in hers}

    for a in hers:
        assert agent_status(server, a.id) == "suspended"
        assert not server.is_active(tokens[a.id])
        assert refused(server, tokens[a.id])
        assert token_request(a).status_code in (400, 401)
    assert server.is_active(bob_token)
    assert "still" in expect_ok(echo(server, bob_token, "still"))

    # One audited step: the offboarding's own record first, naming every agent, then each suspension.
    later = audit_entries(server)[before:]
    assert later[0]["event"]["action"] == "owner.offboard", later[0]
    assert all(a.id in later[0]["event"]["reason"] for a in hers)
    suspended = [e for e in later if e["event"]["action"] == "agent.suspend"]
    assert {e["event"]["resource"] for e in suspended} == {a.id for a in hers}

    # Bob moves on: his agent goes to carol, its token dies, and carol owns it.
    moved = cli_json(server, "owners", "offboard", "bob@example.test", "--reason", "new role",
                     "--transfer-to", "carol@example.test")
    assert moved["agents"][0]["action"] == "transferred"
    assert not server.is_active(bob_token)
    record = server.admin("GET", f"/admin/agents/{his.id}").json()
    assert record["owner"] == "carol@example.test" and record["status"] == "active"
    assert "carol" in expect_ok(echo(server, mcp_token(his), "carol"))


def read_csv(server, name: str) -> list[dict]:
    r = cli(server, "report", name, "--format", "csv")
    assert r.returncode == 0, r.stderr
    return list(csv.DictReader(io.StringIO(r.stdout)))


def test_reports_list_the_right_agents_and_figures(server):
    pinned = make_agent(server, owner="dana@example.test", config_digest="ab" * 32)
    loose = make_agent(server, owner="=cmd|' /C calc'!A0")
    token = mcp_token(loose)
    assert "x" in expect_ok(echo(server, token, "x"))
    denied = 3
    for i in range(denied):
        expect_refused(call_once(server.mcp, token, "web.save_note", {"text": f"blocked {i}"}))
    assert cli(server, "review", pinned.id, "--still-needed", "yes", "--scopes-right", "yes", "--actor", "erin").returncode == 0

    inventory = {row["id"]: row for row in read_csv(server, "inventory")}
    assert set(inventory) == {pinned.id, loose.id}
    assert inventory[pinned.id]["owner"] == "dana@example.test"
    assert inventory[pinned.id]["pinned_config"] == "true" and inventory[loose.id]["pinned_config"] == "false"
    assert inventory[pinned.id]["last_reviewed_by"] == "admin:erin"
    assert inventory[loose.id]["active_tokens"] == "1"
    # A formula in a field is neutralised for spreadsheets.
    assert inventory[loose.id]["owner"] == "'=cmd|' /C calc'!A0"

    figures = {row["metric"]: row["value"] for row in read_csv(server, "figures")}
    assert figures["agents"] == "2" and figures["agents_active"] == "2"
    assert float(figures["share_pinned_config"]) == 0.5
    assert int(figures["blocked_attempts"]) == denied
    assert figures["reviews_overdue"] == "0"

    reviews = read_csv(server, "reviews")
    assert [(r["agent"], r["reviewer"], r["still_needed"]) for r in reviews] == [(pinned.id, "admin:erin", "true")]

    maturity = cli_json(server, "report", "maturity", "--format", "json")
    levels = {row["practice"]: row for row in maturity["rows"]}
    assert levels["Attested agent configuration"]["level"] == "partial"
    assert "1 of 2" in levels["Attested agent configuration"]["evidence"]

    # The table format prints the same rows for a person; an unknown report is refused.
    r = cli(server, "report", "risk")
    assert r.returncode == 0 and pinned.id in r.stdout and loose.id in r.stdout
    r = cli(server, "report", "nonsense")
    assert r.returncode != 0 and "no report" in r.stderr

    # Advance past the review dates: the overdue count follows the manual clock.
    advance_clock(server, 91 * DAY)
    figures = {row["metric"]: row["value"] for row in read_csv(server, "figures")}
    assert int(figures["reviews_overdue"]) >= 1
