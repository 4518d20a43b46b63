"""Behavioural monitoring and graduated response (issue #6, docs/response.md "Monitoring",
"Graduated response", "Alerts", "Testing clock"), end to end under the manual test clock.

The scripted misbehaving agent: ten business-hours minutes of ordinary calls build its baseline;
a burst of calls in one minute raises a `burst` alert and writes start to need approval; at 03:00
the next day it calls sensitive tools it never used before (`first_time_tool` + `off_hours`), goes
read-only, then is suspended. Each step is read back from GET /admin/agents/:id/risk, the alerts
API and CLI, the webhook and the audit log; then a person reverses it.

Response rules in these servers: alert >= 1, approve_writes >= 30, read_only >= 50, suspend >= 80.
Detector scores (docs/response.md): burst 40; first_time_tool 30 for a tool of risk >= 3 (here
web.lookup, risk 4, and web.search, risk 5, both read); off_hours 25. The burst at 09:10 decays
to ~0 by 03:00 the next day (half-life 3600 s), so the night's alerts alone decide: 30 + 25 = 55
(read_only), + 30 = 85 (suspend).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest

from mcp_fixtures import HTTPUpstream, mcp_client, raw_post, rpc
from oauth_fixtures import Agent, running_server
from response_fixtures import (CONNECT_AND_READ, SEVERITY, WebhookReceiver, advance_clock, agent_status, alerts,
                               approvals, as_list, audit_entries, call_once, cli, cli_json, entries_mentioning,
                               expect_ok, expect_pending, expect_refused, gateway_config, make_agent, mcp_token,
                               notes, response_of, risk, set_clock, token_request, try_call, write_policies)

START = "2026-11-20T09:00:00Z"  # a Friday, 09:00 UTC
NIGHT = "2026-11-21T03:00:00Z"
MORNING = "2026-11-21T09:30:00Z"
RULES = [{"minScore": 1, "action": "alert"}, {"minScore": 30, "action": "approve_writes"},
         {"minScore": 50, "action": "read_only"}, {"minScore": 80, "action": "suspend"}]
SENSITIVE = {"web.lookup": {"effect": "read", "risk": 4}, "web.search": {"effect": "read", "risk": 5}}
BASELINE_MINUTES = 10
BURST_CALLS = 60


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    upstream = HTTPUpstream(tmp_path_factory.mktemp("monitor-web"), "web")
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


def monitored_config(web, *, hook=None, learning=20, rules=RULES, **gateway):
    monitoring = {"learningCalls": learning, "burstFactor": 5, "burstMinimum": 30, "offHoursShare": 0.02,
                  "riskHalfLifeSeconds": 3600}
    if hook is not None:
        monitoring["webhook"] = hook.url
    return gateway_config(web, tools=SENSITIVE, manual_clock=START, monitoring=monitoring,
                          response={"rules": rules}, approvals={"waitSeconds": 1}, **gateway)


def attempt(url, token, name, arguments):
    """One call in a fresh session; whatever happens (a result, an MCP error, a transport error)."""
    try:
        return call_once(url, token, name, arguments)
    except Exception as e:  # noqa: BLE001 - a refused token surfaces as a transport error
        return e


ARGUMENTS = {"web.echo": lambda s: {"text": s}, "web.save_note": lambda s: {"text": s},
             "web.search": lambda s: {"query": s}, "web.fetch_page": lambda s: {"url": f"https://example.test/{s}"}}


async def baseline(server, token, minutes=BASELINE_MINUTES, calls=(("web.echo", 2), ("web.save_note", 1))):
    """`minutes` business-hours minutes of ordinary calls, advancing the clock one minute each."""
    async with mcp_client(server.base + "/mcp", token) as c:
        for m in range(minutes):
            for name, n in calls:
                for i in range(n):
                    expect_ok(await try_call(c, name, ARGUMENTS[name](f"routine-{m}-{i}")))
            await asyncio.to_thread(advance_clock, server, 60)


async def burst(server, token, n=BURST_CALLS):
    async with mcp_client(server.base + "/mcp", token) as c:
        return [await try_call(c, "web.echo", {"text": f"burst {i}"}) for i in range(n)]


def detectors(server, agent_id):
    return [a["detector"] for a in alerts(server, agent_id)]


def response_entries(server, agent_id):
    """Audit entries of automatic responses for the agent, oldest first."""
    return [e["event"] for e in entries_mentioning(server, agent_id)
            if e["event"]["action"].startswith("response.")]


# -- the scripted misbehaving agent -----------------------------------------------------------------

def test_a_misbehaving_agent_escalates_through_the_configured_responses(tmp_path, web, hook):
    with running_server(tmp_path, monitored_config(web, hook=hook)) as server:
        mcp = server.base + "/mcp"
        agent = make_agent(server, trust=3)
        token = mcp_token(agent)
        seen: list[tuple[str, str, int]] = []

        def snapshot(label):
            body = risk(server, agent.id)
            seen.append((label, response_of(body), body["score"]))
            return body

        # 1. ten ordinary minutes at 09:00-09:09: the baseline, and no alert
        asyncio.run(baseline(server, token))
        calm = snapshot("baseline")
        assert response_of(calm) == "none" and calm["score"] == 0, calm
        assert detectors(server, agent.id) == [], alerts(server, agent.id)
        learned = json.dumps(calm["baseline"])
        assert "web.echo" in learned and "web.save_note" in learned, calm["baseline"]

        # 2. a burst in one minute (09:10): `burst` alert, writes need approval, reads still work
        outcomes = asyncio.run(burst(server, token))
        assert all(not isinstance(o, Exception) for o in outcomes), [o for o in outcomes if isinstance(o, Exception)][:3]
        bursting = snapshot("burst")
        assert detectors(server, agent.id) == ["burst"], alerts(server, agent.id)
        assert alerts(server, agent.id)[0]["score"] == 40
        assert response_of(bursting) == "approve_writes" and 30 <= bursting["score"] < 50, bursting
        held = f"held note {uuid.uuid4().hex[:8]}"
        pending = expect_pending(call_once(mcp, token, "web.save_note", {"text": held}))
        assert held not in notes(web)
        assert pending["approvalId"] in [a["id"] for a in approvals(server, status="pending", agent=agent.id)]
        assert expect_ok(call_once(mcp, token, "web.echo", {"text": "reads are fine"})) == "reads are fine"

        # 3. 03:00 the next day: the burst has decayed, but responses only escalate automatically
        set_clock(server, NIGHT)
        night = snapshot("night")
        assert response_of(night) == "approve_writes" and night["score"] <= 1, night

        # a sensitive tool never used before, at 3 a.m.: first_time_tool + off_hours -> read_only
        assert "payroll" in expect_ok(call_once(mcp, token, "web.lookup", {"word": "payroll"}))
        read_only = snapshot("new tool at night")
        assert sorted(detectors(server, agent.id)[1:]) == ["first_time_tool", "off_hours"], alerts(server, agent.id)
        assert response_of(read_only) == "read_only" and 50 <= read_only["score"] < 80, read_only
        refused = expect_refused(call_once(mcp, token, "web.save_note", {"text": "at night"}))
        said = refused.message + json.dumps(refused.data)
        assert re.search(r"read[-_ ]only", said), f"the refusal must name the automatic response: {said}"
        assert "at night" not in notes(web)
        assert expect_ok(call_once(mcp, token, "web.echo", {"text": "night read"})) == "night read"

        # another one: first_time_tool again -> suspend; the agent's tokens stop working
        attempt(mcp, token, "web.search", {"query": "credentials"})
        suspended = snapshot("second new tool")
        assert response_of(suspended) == "suspend" and suspended["score"] >= 80, suspended
        assert agent_status(server, agent.id) == "suspended"
        assert raw_post(mcp, token, rpc("ping")).status_code == 401
        assert token_request(agent).status_code in (400, 401)
        print("\nescalation: " + " -> ".join(f"{label}: {resp} ({score})" for label, resp, score in seen), flush=True)
        assert [resp for _, resp, _ in seen] == ["none", "approve_writes", "approve_writes", "read_only", "suspend"]

        # the alerts, from the API and the CLI (newest first there)
        stored = alerts(server, agent.id)
        names = [a["detector"] for a in stored]
        assert names[0] == "burst" and sorted(names[1:3]) == ["first_time_tool", "off_hours"], names
        assert names[3:] == ["first_time_tool"], names
        scores = {a["detector"]: a["score"] for a in stored}
        assert scores == {"burst": 40, "first_time_tool": 30, "off_hours": 25}, stored
        firsts = [a for a in stored if a["detector"] == "first_time_tool"]
        assert "web.lookup" in json.dumps(firsts[0]) and "web.search" in json.dumps(firsts[1]), firsts
        assert all(a["agent"] == agent.id and a["id"] and a["at"] for a in stored)
        assert stored[-1]["risk_score"] >= 80
        severities = [SEVERITY.index(a.get("response") or "none") for a in stored]
        assert severities == sorted(severities) and severities[-1] >= SEVERITY.index("read_only"), stored
        listed = as_list(cli_json(server, "alerts", "list", "--agent", agent.id), "alerts")
        assert [a["id"] for a in listed] == [a["id"] for a in reversed(stored)], listed
        limited = as_list(cli_json(server, "alerts", "list", "--agent", agent.id, "--limit", "1"), "alerts")
        assert [a["id"] for a in limited] == [stored[-1]["id"]]

        # the webhook got every alert as JSON, in the same shape as the API's
        ids = {a["id"] for a in stored}

        def mine(bodies):
            return [b for b in bodies if isinstance(b, dict) and isinstance(b.get("alert"), dict)
                    and b["alert"].get("id") in ids]

        got = mine(hook.wait_for(lambda bodies: {b["alert"]["id"] for b in mine(bodies)} >= ids))
        assert {b["alert"]["id"] for b in got} == ids, got
        by_id = {a["id"]: a for a in stored}
        for body in got:
            assert body["type"] == "portcullis.alert", body
            posted, listed_alert = body["alert"], by_id[body["alert"]["id"]]
            for field in ("agent", "detector", "score", "risk_score", "response", "detail"):
                assert posted.get(field) == listed_alert[field], \
                    f"webhook alert field {field!r}: {posted.get(field)!r} != {listed_alert[field]!r} ({posted})"

        # every automatic action is audited, by the monitor, in order
        actions = response_entries(server, agent.id)
        names = [e["action"] for e in actions]
        for action in ("response.approve_writes", "response.read_only", "response.suspend"):
            assert action in names, names
        assert names.index("response.approve_writes") < names.index("response.read_only") < names.index("response.suspend")
        assert all("monitor" in e.get("actor", "") for e in actions), actions

        # 4. a person reverses it
        set_clock(server, MORNING)
        resumed = cli(server, "agent", "resume", agent.id, "--reason", "investigated: a test script")
        assert resumed.returncode == 0, resumed.stderr
        cleared = risk(server, agent.id)
        assert response_of(cleared) == "none" and cleared["score"] == 0, cleared
        assert agent_status(server, agent.id) == "active"
        fresh = mcp_token(agent)
        assert expect_ok(call_once(mcp, fresh, "web.echo", {"text": "good morning"})) == "good morning"
        morning = f"morning note {uuid.uuid4().hex[:8]}"
        assert expect_ok(call_once(mcp, fresh, "web.save_note", {"text": morning})) == "saved"
        assert notes(web).count(morning) == 1
        assert response_of(risk(server, agent.id)) == "none"


def test_clear_response_is_how_a_person_reverses_approve_writes(tmp_path, web):
    with running_server(tmp_path, monitored_config(web)) as server:
        mcp = server.base + "/mcp"
        agent = make_agent(server, trust=3)
        token = mcp_token(agent)
        asyncio.run(baseline(server, token))
        assert all(not isinstance(o, Exception) for o in asyncio.run(burst(server, token)))
        assert response_of(risk(server, agent.id)) == "approve_writes"
        expect_pending(call_once(mcp, token, "web.save_note", {"text": "held"}))

        missing = cli(server, "agent", "clear-response", agent.id)
        assert missing.returncode != 0, "clearing a response needs a reason"
        out = cli(server, "agent", "clear-response", agent.id, "--reason", "a planned batch job")
        assert out.returncode == 0, out.stderr
        cleared = risk(server, agent.id)
        assert response_of(cleared) == "none" and cleared["score"] == 0, cleared
        advance_clock(server, 60)  # a fresh minute: nothing about the burst is left to detect
        text = f"cleared note {uuid.uuid4().hex[:8]}"
        assert expect_ok(call_once(mcp, token, "web.save_note", {"text": text})) == "saved"
        assert notes(web).count(text) == 1
        entries = [e["event"] for e in entries_mentioning(server, agent.id)]
        applied = max(i for i, e in enumerate(entries) if e["action"] == "response.approve_writes")
        assert "monitor" in entries[applied].get("actor", ""), entries[applied]
        cleared_by = [e for e in entries[applied + 1:] if ("clear" in e["action"] or "response" in e["action"])
                      and "monitor" not in e.get("actor", "")]
        assert cleared_by, f"clearing the response must be audited as a person's action: {entries[applied:]}"


# -- the risk score reaches the policies --------------------------------------------------------------

RISK_POLICIES = """
@id("risky-agents-cannot-search")
@reason("the agent's risk score is too high for search")
forbid (principal, action == Action::"call_tool", resource == Tool::"web.search")
when { context.risk.score >= 50 };

@id("agents-under-a-response-cannot-fetch")
@reason("the agent is under an automatic response")
forbid (principal, action == Action::"call_tool", resource == Tool::"web.fetch_page")
when { context.risk.response != "none" };
"""


def last_decision(server, agent_id, tool):
    decisions = [e["event"] for e in audit_entries(server, agent=agent_id, action="call_tool")
                 if e["event"]["resource"] == tool]
    assert decisions, f"no decision recorded for {tool}"
    return decisions[-1]


def test_policies_see_the_risk_score_and_response(tmp_path, web):
    policies = write_policies(tmp_path / "policies", CONNECT_AND_READ, RISK_POLICIES)
    config = monitored_config(web, learning=8, rules=[{"minScore": 1, "action": "alert"}],
                              policyDirectory=str(policies))
    with running_server(tmp_path, config) as server:
        mcp = server.base + "/mcp"
        agent = make_agent(server)
        token = mcp_token(agent)
        asyncio.run(baseline(server, token, minutes=4,
                             calls=(("web.echo", 1), ("web.search", 1), ("web.fetch_page", 1))))
        assert expect_ok(call_once(mcp, token, "web.search", {"query": "q"})) == "web results for q"
        assert "Page at" in expect_ok(call_once(mcp, token, "web.fetch_page", {"url": "https://example.test"}))
        assert last_decision(server, agent.id, "web.search")["decision"] == "allow"

        set_clock(server, NIGHT)
        expect_ok(call_once(mcp, token, "web.lookup", {"word": "x"}))  # new, risk 4, at 3 a.m.: 30 + 25
        state = risk(server, agent.id)
        assert state["score"] >= 50 and response_of(state) == "alert", state

        assert isinstance(call_once(mcp, token, "web.search", {"query": "q"}), Exception)
        denied = last_decision(server, agent.id, "web.search")
        assert denied["decision"] == "deny" and denied["determining_policies"] == ["risky-agents-cannot-search"], denied
        assert isinstance(call_once(mcp, token, "web.fetch_page", {"url": "https://example.test"}), Exception)
        denied = last_decision(server, agent.id, "web.fetch_page")
        assert denied["determining_policies"] == ["agents-under-a-response-cannot-fetch"], denied
        assert expect_ok(call_once(mcp, token, "web.echo", {"text": "other tools still work"}))


# -- baselines are persisted -------------------------------------------------------------------------

def strings_and_profiles(value, strings=None, profiles=None):
    """Every string and every 24-long list of numbers (hour-of-day profiles) in a JSON value."""
    strings = set() if strings is None else strings
    profiles = [] if profiles is None else profiles
    if isinstance(value, str):
        strings.add(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            strings.add(k)
            strings_and_profiles(v, strings, profiles)
    elif isinstance(value, list):
        if len(value) == 24 and all(isinstance(x, (int, float)) for x in value):
            profiles.append(value)
        for v in value:
            strings_and_profiles(v, strings, profiles)
    return strings, profiles


def test_baselines_survive_a_restart(tmp_path, web):
    config = monitored_config(web, learning=5)
    with running_server(tmp_path, config) as server:
        agent = make_agent(server, trust=3)
        asyncio.run(baseline(server, mcp_token(agent), minutes=3,
                             calls=(("web.echo", 1), ("web.search", 1), ("web.save_note", 1))))
        before = risk(server, agent.id)
        assert detectors(server, agent.id) == [], alerts(server, agent.id)
    with running_server(tmp_path, config) as server:
        after = risk(server, agent.id)
        tools_before = {s for s in strings_and_profiles(before["baseline"])[0] if s.startswith("web.")}
        tools_after = {s for s in strings_and_profiles(after["baseline"])[0] if s.startswith("web.")}
        assert {"web.echo", "web.search", "web.save_note"} <= tools_before, before["baseline"]
        assert tools_after == tools_before, (before["baseline"], after["baseline"])
        profiles = strings_and_profiles(before["baseline"])[1]
        assert profiles and profiles == strings_and_profiles(after["baseline"])[1], (before, after)
        assert profiles[0][9] > 0, "the calls were at 09:00 UTC"

        # and the monitor uses it: known tools raise nothing, a new one does
        r = server.admin("PATCH", f"/admin/agents/{agent.id}", {"audiences": [server.base + "/mcp"]})
        assert r.status_code == 200, r.text
        again = Agent(server, agent.id, agent.key, r.json())
        token = mcp_token(again)
        set_clock(server, "2026-11-20T09:05:00Z")
        mcp = server.base + "/mcp"
        expect_ok(call_once(mcp, token, "web.echo", {"text": "known"}))
        expect_ok(call_once(mcp, token, "web.search", {"query": "known"}))
        assert detectors(server, agent.id) == [], "a restart must not forget which tools the agent used"
        expect_ok(call_once(mcp, token, "web.lookup", {"word": "new"}))
        assert detectors(server, agent.id) == ["first_time_tool"], alerts(server, agent.id)
