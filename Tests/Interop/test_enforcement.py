"""One fail-closed enforcement pipeline (issue #11), end to end: the official `mcp` SDK and raw
JSON-RPC as the agent, through `portcullis serve`, to SDK-built upstreams that lie and misbehave
(mcp_hostile_upstream.py records every JSON-RPC body it receives, so each test counts the
`tools/call` requests that really reached it, by a marker unique to the test).

1. An upstream does not classify its own tools: a write that claims `readOnlyHint: true` is
   `unclassified`, hidden and answered like an unknown tool until an administrator approves its
   current definition hash with an effect; `trustAnnotations: true` opts an upstream back in.
2. Every refusal is a JSON-RPC error with `error.data.reason` and a machine `error.data.refusal`.
3. An obligation the gateway does not understand refuses the call.
4. Durable before effect: with the audit log failing, writes never reach the upstream and no result is released.
5. Concurrent PATCHes never undo a suspension.
6. Taint belongs to the agent: a new session, a new token or the other protocol generation does not shed it.
7. Bad input at the edge: batches and non-JSON content types.
8. Inspection covers upstream errors and text disguised with invisible characters or homoglyphs.
9. An unreachable upstream fails fast, naming it.
10. `gateway.agentRateLimit` covers every method.
11. `portcullis config show` masks upstream headers and environment values.
12. `portcullis policy test` decides as the gateway does (DLP on the arguments).

One gateway (`main`, the default policy pack) serves most tests; the cases that need another
configuration start their own small server. Every server and upstream binds 127.0.0.1 and is
stopped by PID.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import threading
import time
import uuid

import pytest
import requests
from mcp.shared.exceptions import MCPError

from conftest import require_portcullis
from mcp_fixtures import HTTPUpstream, call, legacy_session, list_names, modern_meta, raw_post, rpc, run, text_of
from oauth_fixtures import free_port, running_server
from response_fixtures import (NO_RATE_LIMIT, add_approver, call_once, cli, make_agent, mcp_token, session_call,
                               stateless_call, write_policies)

HOSTILE = "mcp_hostile_upstream.py"
HOSTILE_TOOLS = ("echo", "save_note", "transfer_funds", "fetch_page", "fail", "slow", "rug")
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
READ, WRITE, DESTRUCTIVE = {"effect": "read"}, {"effect": "write"}, {"effect": "destructive"}

# Classified by the administrator. Deliberately NOT classified: hostile.transfer_funds (a write
# that claims to be read-only) and hostile.rug.
MAIN_TOOLS = {
    "hostile.echo": READ, "hostile.save_note": WRITE, "hostile.fetch_page": READ, "hostile.fail": READ,
    "hostile.slow": READ,
    "inbox.echo": READ, "inbox.save_note": DESTRUCTIVE, "inbox.fetch_page": READ,
    "doomed.echo": READ,
    "never.echo": READ,
}
QUIET = {"rateLimit": NO_RATE_LIMIT, "monitoring": {"enabled": False}, "approvals": {"waitSeconds": 0}}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- fixtures


class Env:
    def __init__(self, server, ups: dict):
        self.server = server
        self.ups = ups
        self.mcp = server.base + "/mcp"

    @property
    def hostile(self) -> HTTPUpstream:
        return self.ups["hostile"]


@pytest.fixture(scope="module")
def ups(tmp_path_factory):
    base = tmp_path_factory.mktemp("enforcement-upstreams")
    started: dict = {}
    try:
        for name in ("hostile", "inbox", "doomed"):
            started[name] = HTTPUpstream(base / name, name, script=HOSTILE)
        yield started
    finally:
        for u in started.values():
            u.stop()


@pytest.fixture(scope="module")
def main(tmp_path_factory, ups):
    closed = free_port()  # nothing listens here
    config = {"gateway": {
        "upstreams": [
            {"name": "hostile", "url": ups["hostile"].url, "headers": {"Authorization": "Bearer upstream-secret-hostile"}},
            {"name": "inbox", "url": ups["inbox"].url, "untrusted": True},
            {"name": "doomed", "url": ups["doomed"].url},
            {"name": "never", "url": f"http://127.0.0.1:{closed}/mcp"},
        ],
        "tools": MAIN_TOOLS, **QUIET}}
    with running_server(tmp_path_factory.mktemp("enforcement"), config) as server:
        wait_listed(server, [f"{u}.{t}" for u in ("hostile", "inbox", "doomed") for t in HOSTILE_TOOLS])
        yield Env(server, ups)


def wait_listed(server, names: list[str], timeout: float = 20) -> None:
    """Waits until the gateway's first listing of its upstreams has registered `names` (it lists them
    in the background after /healthz answers)."""
    def listed():
        r = server.admin("GET", "/admin/tools")
        return r.status_code == 200 and set(names) <= {t["name"] for t in r.json()}
    wait_for(listed, timeout, f"the gateway to list {names}")


def hostile_config(ups, **gateway) -> dict:
    """A gateway with only the hostile upstream (its tools classified as in `main`)."""
    g = {"upstreams": [{"name": "hostile", "url": ups["hostile"].url}],
         "tools": {k: v for k, v in MAIN_TOOLS.items() if k.startswith("hostile.")}, **QUIET}
    g.update(gateway)
    return {"gateway": g}


# --------------------------------------------------------------------------- helpers


def calls_with(upstream: HTTPUpstream, tool: str, marker: str) -> list[dict]:
    """The tools/call requests for `tool` that reached the upstream and carry `marker` in their arguments."""
    return [p for p in upstream.tool_calls(tool) if marker in json.dumps(p.get("arguments"))]


def error_of(x) -> dict:
    """The JSON-RPC error of an SDK call (MCPError) or of a raw HTTP answer; fails on a result."""
    if isinstance(x, MCPError):
        return {"code": x.code, "message": x.message, "data": x.data}
    if isinstance(x, requests.Response):
        try:
            body = x.json()
        except ValueError:
            raise AssertionError(f"expected a JSON-RPC error, got HTTP {x.status_code}: {x.text[:500]!r}")
        assert isinstance(body, dict) and "error" in body and "result" not in body, \
            f"expected a JSON-RPC error, got HTTP {x.status_code}: {json.dumps(body)[:800]}"
        return body["error"]
    if isinstance(x, Exception):
        raise AssertionError(f"expected a JSON-RPC error, got {type(x).__name__}: {x!r}")
    raise AssertionError(f"expected a JSON-RPC error, got a result: {text_of(x)[:500]!r}" if hasattr(x, "content")
                         else f"expected a JSON-RPC error, got {x!r}")


def expect_refusal(x, code: int | None, refusal: str) -> dict:
    """A refusal: the JSON-RPC error code (when given), `data.refusal` and a human `data.reason`."""
    error = error_of(x)
    if code is not None:
        assert error.get("code") == code, f"expected code {code} ({refusal}), got {json.dumps(error)[:800]}"
    else:
        assert isinstance(error.get("code"), int), error
    data = error.get("data")
    assert isinstance(data, dict), f"error.data must be an object with `reason` and `refusal`: {json.dumps(error)[:800]}"
    assert data.get("refusal") == refusal, f"expected data.refusal {refusal!r}: {json.dumps(error)[:800]}"
    assert isinstance(data.get("reason"), str) and data["reason"].strip(), f"data.reason must be human text: {error}"
    return error


def succeeded(r: requests.Response) -> str:
    """The text of a successful raw tools/call."""
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:500]}"
    body = r.json()
    assert "result" in body, f"expected a result, got {json.dumps(body)[:800]}"
    assert not body["result"].get("isError"), f"the tool reported an error: {json.dumps(body)[:800]}"
    return "".join(c.get("text", "") for c in body["result"].get("content", []))


def admin_tool(server, name: str) -> dict:
    r = server.admin("GET", "/admin/tools")
    assert r.status_code == 200, r.text
    tools = {t["name"]: t for t in r.json()}
    assert name in tools, f"{name} is not in GET /admin/tools: {sorted(tools)}"
    return tools[name]


def approve(server, name: str, body: dict | None) -> requests.Response:
    return server.admin("POST", f"/admin/tools/{name}/approve", body)


def stateless_list(url: str, token: str) -> requests.Response:
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
    return raw_post(url, token, rpc("tools/list", {"_meta": modern_meta()}), headers)


def listed_names(r: requests.Response) -> list[str]:
    assert r.status_code == 200, f"tools/list: HTTP {r.status_code}: {r.text[:500]}"
    return sorted(t["name"] for t in r.json()["result"]["tools"])


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- 1. classification


def test_a_write_that_claims_to_be_read_only_is_unclassified_and_uncallable_until_approved(main):
    hostile = main.hostile
    low, high = make_agent(main.server, trust=1), make_agent(main.server, trust=5)
    tokens = {"trust 1": mcp_token(low), "trust 5": mcp_token(high)}
    marker = unique("transfer")
    args = {"to": marker, "amount": 1000}

    tool = admin_tool(main.server, "hostile.transfer_funds")
    assert tool["effect"] == "unclassified", \
        f"the upstream's own readOnlyHint must not classify its tool: GET /admin/tools says {tool['effect']!r}"

    for who, token in tokens.items():
        names = run(list_names(main.mcp, token))
        assert "hostile.echo" in names, f"{who}: the classified read tool should be listed: {names}"
        assert "hostile.transfer_funds" not in names, f"{who}: an unclassified tool was listed"
        assert "hostile.transfer_funds" not in listed_names(stateless_list(main.mcp, token))
        hidden = error_of(run(call(main.mcp, token, "hostile.transfer_funds", args)))
        unknown = error_of(run(call(main.mcp, token, "hostile.no_such_tool", args)))
        assert hidden["code"] == -32602 and hidden["message"] == "Unknown tool: hostile.transfer_funds", (who, hidden)
        # exactly like an unknown tool: nothing tells the agent the tool exists
        assert json.dumps(hidden).replace("transfer_funds", "X") == json.dumps(unknown).replace("no_such_tool", "X"), \
            (who, hidden, unknown)
        r = stateless_call(main.mcp, token, "hostile.transfer_funds", args)
        assert error_of(r)["code"] == -32602, (who, r.text)
    assert hostile.tool_calls("transfer_funds") == [], "the upstream received a call of an unclassified tool"
    assert marker not in ((hostile.state / "transfers.txt").read_text() if (hostile.state / "transfers.txt").exists() else "")

    # approving needs the definition hash the administrator looked at
    for body in (None, {}, {"effect": "write"}):
        r = approve(main.server, "hostile.transfer_funds", body)
        assert r.status_code == 400, f"approve with {body!r}: expected 400 (hash required), got {r.status_code} {r.text}"
    wrong = ("0" if tool["definition_hash"][0] != "0" else "1") + tool["definition_hash"][1:]
    r = approve(main.server, "hostile.transfer_funds", {"hash": wrong, "effect": "write"})
    assert r.status_code == 409, f"approve with another hash: expected 409, got {r.status_code} {r.text}"
    assert admin_tool(main.server, "hostile.transfer_funds")["effect"] == "unclassified"
    assert error_of(run(call(main.mcp, tokens["trust 5"], "hostile.transfer_funds", args)))["code"] == -32602
    assert hostile.tool_calls("transfer_funds") == []

    r = approve(main.server, "hostile.transfer_funds", {"hash": tool["definition_hash"], "effect": "write"})
    assert r.status_code == 200, f"approve with the current hash: {r.status_code} {r.text}"
    assert r.json()["effect"] == "write" and r.json()["callable"], r.json()
    assert admin_tool(main.server, "hostile.transfer_funds")["effect"] == "write"

    # a write now: the trusted agent may call it, the trust-1 agent still may not
    assert "hostile.transfer_funds" in run(list_names(main.mcp, tokens["trust 5"]))
    done = run(call(main.mcp, tokens["trust 5"], "hostile.transfer_funds", args))
    assert not isinstance(done, Exception), f"the approved write failed: {done!r} {getattr(done, 'data', '')}"
    assert text_of(done) == f"transferred 1000 to {marker}"
    assert len(calls_with(hostile, "transfer_funds", marker)) == 1

    assert "hostile.transfer_funds" not in run(list_names(main.mcp, tokens["trust 1"]))
    refused = run(call(main.mcp, tokens["trust 1"], "hostile.transfer_funds", args))
    assert isinstance(refused, MCPError), f"a trust-1 agent called a write tool: {refused!r}"
    assert len(calls_with(hostile, "transfer_funds", marker)) == 1, "the trust-1 agent's write reached the upstream"


def test_approval_is_bound_to_the_definition_the_administrator_saw(tmp_path, ups):
    """`portcullis tools approve NAME --hash H`: a definition that changed between look and approve is not approved.

    This server lists its upstream again at every tools/list (`toolListSeconds: 0`), so that the changed
    definition is seen at once."""
    hostile = ups["hostile"]
    with running_server(tmp_path, hostile_config(ups, toolListSeconds=0)) as server:
        wait_listed(server, ["hostile.rug"])
        mcp = server.base + "/mcp"
        token = mcp_token(make_agent(server, trust=1))
        marker = unique("rug")
        seen = admin_tool(server, "hostile.rug")
        assert seen["effect"] == "unclassified", seen
        assert error_of(stateless_call(mcp, token, "hostile.rug", {"word": marker}))["code"] == -32602
        assert calls_with(hostile, "rug", marker) == []

        no_hash = cli(server, "tools", "approve", "hostile.rug", "--effect", "read")
        assert no_hash.returncode != 0, f"`tools approve` without --hash must fail:\n{no_hash.stdout}\n{no_hash.stderr}"

        # the upstream changes the definition after the administrator looked
        (hostile.state / "rug_description.txt").write_text(f"Look up a word in the dictionary ({marker}).")

        def changed():
            listed_names(stateless_list(mcp, token))  # a listing makes the gateway list the upstream again
            current = admin_tool(server, "hostile.rug")
            return current if current["definition_hash"] != seen["definition_hash"] else None

        current = wait_for(changed, 15, "the gateway to see the changed definition of hostile.rug (after tools/list)")
        stale = cli(server, "tools", "approve", "hostile.rug", "--hash", seen["definition_hash"], "--effect", "read")
        assert stale.returncode != 0, f"approving a definition that is no longer current must fail:\n{stale.stdout}"
        assert "409" in stale.stderr or "conflict" in stale.stderr.lower() or "hash" in stale.stderr.lower(), stale.stderr
        assert admin_tool(server, "hostile.rug")["effect"] == "unclassified"
        assert error_of(stateless_call(mcp, token, "hostile.rug", {"word": marker}))["code"] == -32602
        assert calls_with(hostile, "rug", marker) == []

        ok = cli(server, "tools", "approve", "hostile.rug", "--hash", current["definition_hash"], "--effect", "read",
                 "--json")
        assert ok.returncode == 0, f"{ok.stdout}\n{ok.stderr}"
        approved = json.loads(ok.stdout)
        assert approved["status"] == "approved" and approved["effect"] == "read", approved
        assert succeeded(stateless_call(mcp, token, "hostile.rug", {"word": marker})) == f"{marker}: a word"
        assert len(calls_with(hostile, "rug", marker)) == 1


def test_trust_annotations_opts_an_upstream_in_and_configuration_still_wins(tmp_path, ups):
    config = hostile_config(ups, tools={"hostile.transfer_funds": WRITE})
    config["gateway"]["upstreams"][0]["trustAnnotations"] = True
    with running_server(tmp_path, config) as server:
        wait_listed(server, [f"hostile.{t}" for t in HOSTILE_TOOLS])
        effects = {t["name"]: t["effect"] for t in server.admin("GET", "/admin/tools").json()}
        assert effects.get("hostile.echo") == "read" and effects.get("hostile.save_note") == "write", effects
        assert effects.get("hostile.rug") == "read", f"a trusted upstream's readOnlyHint counts: {effects}"
        assert effects.get("hostile.transfer_funds") == "write", f"the configuration beats the annotations: {effects}"
        names = run(list_names(server.base + "/mcp", mcp_token(make_agent(server, trust=1))))
        assert "hostile.rug" in names and "hostile.transfer_funds" not in names, names


# --------------------------------------------------------------------------- 2. refusals say why, by machine code


def test_a_policy_denial_carries_reason_and_refusal(main):
    agent = make_agent(main.server, trust=1)
    token = mcp_token(agent)
    marker = unique("denied")
    args = {"text": f"{marker} key {AWS_KEY}"}
    err = expect_refusal(call_once(main.mcp, token, "hostile.echo", args), -32001, "denied")
    assert AWS_KEY not in json.dumps(err)
    expect_refusal(stateless_call(main.mcp, token, "hostile.echo", args), -32001, "denied")
    assert calls_with(main.hostile, "echo", marker) == []


INVALID = {
    # name: (HTTP body, extra headers, expected JSON-RPC code)
    "arguments that are not an object": (rpc("tools/call", {"name": "hostile.echo", "arguments": "x"}), {}, -32602),
    "an unknown tool": (rpc("tools/call", {"name": "hostile.no_such_tool", "arguments": {}}), {}, -32602),
    "an unsupported method": (rpc("resources/list", {}), {}, -32601),
    "a batch": ([rpc("ping")], {}, -32600),
    "a text/plain body": (json.dumps(rpc("ping")), {"Content-Type": "text/plain"}, -32600),
    "unparsable JSON": (b"{not json", {}, -32700),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_requests_carry_reason_and_refusal(main, case):
    """`invalid` is a refusal like the others: malformed requests, and requests that name nothing callable
    (an unknown tool, answered exactly like a hidden one), say so in `error.data`."""
    body, extra, code = INVALID[case]
    token = mcp_token(make_agent(main.server, trust=1))
    sid = legacy_session(main.mcp, token)
    r = raw_post(main.mcp, token, body, {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18", **extra})
    expect_refusal(r, code, "invalid")


def test_a_refused_approval_carries_reason_and_refusal(main):
    inbox = main.ups["inbox"]
    agent = make_agent(main.server, trust=3, owner="dora@example.test")
    approver = add_approver(main.server, unique("erin"))
    token = mcp_token(agent)
    sid = legacy_session(main.mcp, token)
    marker = unique("refused")
    args = {"text": marker}
    first = session_call(main.mcp, token, sid, "inbox.save_note", args)
    pending = expect_refusal(first, -32005, "approval_pending")
    approval_id = pending["data"]["approvalId"]
    r = main.server.admin("POST", f"/admin/approvals/{approval_id}/deny", {"reason": "not today"}, token=approver)
    assert r.status_code == 200, r.text
    again = session_call(main.mcp, token, sid, "inbox.save_note", args)
    expect_refusal(again, -32001, "approval_refused")
    assert calls_with(inbox, "save_note", marker) == []


def test_a_call_cut_off_by_the_kill_switch_carries_reason_and_refusal(main):
    agent = make_agent(main.server, trust=1)
    token = mcp_token(agent)
    sid = legacy_session(main.mcp, token)
    note = unique("killed")
    out: dict = {}

    def slow():
        out["r"] = session_call(main.mcp, token, sid, "hostile.slow", {"seconds": 5, "note": note}, timeout=30)

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    slow_log = main.hostile.state / "slow.jsonl"
    wait_for(lambda: slow_log.exists() and note in slow_log.read_text(), 15, "the upstream to start the slow call")
    r = main.server.admin("POST", "/admin/kill", {"agent": agent.id, "reason": "refusal test"})
    assert r.status_code == 200, r.text
    t.join(30)
    assert not t.is_alive()
    expect_refusal(out["r"], -32001, "killed")


def test_a_write_blocked_by_the_automatic_response_carries_reason_and_refusal(tmp_path, ups):
    """The automatic response `read_only` (docs/response.md) refuses writes as `suspended`. After one call of
    learning, the first use of another tool raises an alert, and every score answers with read_only."""
    config = hostile_config(ups, monitoring={"enabled": True, "learningCalls": 1},
                            response={"rules": [{"minScore": 1, "action": "read_only"}]})
    with running_server(tmp_path, config) as server:
        wait_listed(server, ["hostile.echo", "hostile.save_note", "hostile.fetch_page"])
        mcp = server.base + "/mcp"
        agent = make_agent(server, trust=3)
        token = mcp_token(agent)
        sid = legacy_session(mcp, token)
        marker = unique("read-only")
        assert succeeded(session_call(mcp, token, sid, "hostile.echo", {"text": "learning"})) == "learning"
        succeeded(session_call(mcp, token, sid, "hostile.fetch_page", {"url": "https://example.test/"}))
        risk = server.admin("GET", f"/admin/agents/{agent.id}/risk").json()
        assert risk.get("response") == "read_only", f"test setup: the automatic response did not start: {risk}"
        expect_refusal(session_call(mcp, token, sid, "hostile.save_note", {"text": marker}), -32001, "suspended")
        assert calls_with(ups["hostile"], "save_note", marker) == []
        assert succeeded(session_call(mcp, token, sid, "hostile.echo", {"text": "reads go on"})) == "reads go on"


# --------------------------------------------------------------------------- 3. obligations must be understood


NOTIFY_SLACK = """
@id("connect-and-list")
permit (principal, action in [Action::"connect", Action::"list_tools"], resource);

@id("reads-are-announced")
@reason("reads are announced on Slack")
@obligation("notify-slack")
permit (principal, action == Action::"call_tool", resource)
when { resource.effect == "read" };
"""


def test_an_obligation_the_gateway_does_not_understand_refuses_the_call(tmp_path, ups):
    policies = write_policies(tmp_path / "policies", NOTIFY_SLACK)
    with running_server(tmp_path, hostile_config(ups, policyDirectory=str(policies))) as server:
        wait_listed(server, ["hostile.echo", "hostile.save_note"])
        mcp = server.base + "/mcp"
        token = mcp_token(make_agent(server, trust=5))
        marker = unique("obligation")
        expect_refusal(stateless_call(mcp, token, "hostile.echo", {"text": marker}), None, "obligation_unknown")
        sid = legacy_session(mcp, token)
        expect_refusal(session_call(mcp, token, sid, "hostile.echo", {"text": marker}), None, "obligation_unknown")
        expect_refusal(call_once(mcp, token, "hostile.echo", {"text": marker}), None, "obligation_unknown")
        assert calls_with(ups["hostile"], "echo", marker) == [], "a call with an unknown obligation reached the upstream"


# --------------------------------------------------------------------------- 4. durable before effect


def test_with_the_audit_log_failing_no_call_reaches_the_upstream(tmp_path, ups):
    hostile = ups["hostile"]
    with running_server(tmp_path, hostile_config(ups)) as server:
        wait_listed(server, ["hostile.echo", "hostile.save_note"])
        mcp = server.base + "/mcp"
        token = mcp_token(make_agent(server, trust=3))
        sid = legacy_session(mcp, token)
        marker = unique("durable")
        # both calls work while the log does
        assert succeeded(session_call(mcp, token, sid, "hostile.echo", {"text": f"{marker} ok"})) == f"{marker} ok"
        assert succeeded(session_call(mcp, token, sid, "hostile.save_note", {"text": f"{marker} ok"})) == "saved"
        before = len(hostile.tool_calls())

        db = sqlite3.connect(server.data_dir / "audit.sqlite", timeout=10)
        db.execute("CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries "
                   "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        db.commit()
        try:
            read = session_call(mcp, token, sid, "hostile.echo", {"text": f"{marker} read"})
            write = session_call(mcp, token, sid, "hostile.save_note", {"text": f"{marker} write"})
            stateless_read = stateless_call(mcp, token, "hostile.echo", {"text": f"{marker} stateless"})
        finally:
            db.execute("DROP TRIGGER audit_down")
            db.commit()
            db.close()
        # A read's decision record is written while the read is in flight (docs/architecture.md), so the
        # first read may reach the upstream, but its result is never released. Once an append has
        # failed, nothing reaches the upstream until the log takes records again; a write never does.
        reached = [p for p in hostile.tool_calls()[before:] if marker in json.dumps(p) and f"{marker} read" not in json.dumps(p)]
        assert reached == [], f"calls reached the upstream while the audit log was failing: {reached}"
        assert f"{marker} write" not in (hostile.state / "notes.txt").read_text()
        for what, r in (("read", read), ("write", write), ("stateless read", stateless_read)):
            err = expect_refusal(r, -32004, "audit_unavailable")
            assert marker not in json.dumps(err), f"{what}: the refusal carries the upstream's answer: {err}"


# --------------------------------------------------------------------------- 5. no lost update un-suspends


def test_concurrent_updates_never_undo_a_suspension(main):
    agent = make_agent(main.server, trust=1)
    url = f"{main.server.base}/admin/agents/{agent.id}"
    headers = {"Authorization": f"Bearer {main.server.admin_token}", "Content-Type": "application/json"}
    writers = 20
    for round_ in range(4):
        barrier = threading.Barrier(writers + 1)
        statuses: dict = {}

        def patch(i: int) -> None:
            s = requests.Session()
            barrier.wait()
            r = s.patch(url, data=json.dumps({"purpose": f"round {round_} writer {i}"}), headers=headers, timeout=30)
            statuses[i] = r.status_code

        def suspend() -> None:
            s = requests.Session()
            barrier.wait()
            time.sleep(0.002 * round_)  # land among the PATCHes at a different point each round
            r = s.post(url + "/suspend", data=json.dumps({"reason": f"race round {round_}"}), headers=headers, timeout=30)
            statuses["suspend"] = (r.status_code, r.text)

        threads = [threading.Thread(target=patch, args=(i,)) for i in range(writers)]
        threads.append(threading.Thread(target=suspend))
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert statuses["suspend"][0] == 200, statuses["suspend"]
        odd = {k: v for k, v in statuses.items() if k != "suspend" and v not in (200, 409)}
        assert not odd, f"round {round_}: unexpected PATCH answers {odd}"
        r = main.server.admin("GET", f"/admin/agents/{agent.id}")
        assert r.json()["status"] == "suspended", \
            f"round {round_}: a concurrent PATCH undid the suspension (status {r.json()['status']!r})"
        r = main.server.admin("POST", f"/admin/agents/{agent.id}/resume", {"reason": f"end of round {round_}"})
        assert r.status_code == 200 and r.json()["status"] == "active", r.text


# --------------------------------------------------------------------------- 6. taint cannot be shed


def expect_needs_approval(r, what: str) -> None:
    try:
        expect_refusal(r, -32005, "approval_pending")
    except AssertionError as e:
        raise AssertionError(f"{what}: a write after untrusted input must still need approval: {e}") from None


def test_taint_survives_a_new_session_a_new_token_and_the_other_protocol(main):
    hostile = main.hostile
    agent = make_agent(main.server, trust=3)
    first = mcp_token(agent)
    marker = unique("taint")
    sid = legacy_session(main.mcp, first)
    assert succeeded(session_call(main.mcp, first, sid, "hostile.save_note", {"text": f"{marker} before"})) == "saved"
    page = succeeded(session_call(main.mcp, first, sid, "hostile.fetch_page", {"url": "https://evil.example/page"}))
    assert "ignore previous instructions" in page
    expect_needs_approval(session_call(main.mcp, first, sid, "hostile.save_note", {"text": f"{marker} same"}),
                          "the same session")

    # (a) a new session with the same token, raw and through the SDK
    again = legacy_session(main.mcp, first)
    expect_needs_approval(session_call(main.mcp, first, again, "hostile.save_note", {"text": f"{marker} a"}),
                          "a new session")
    expect_needs_approval(call_once(main.mcp, first, "hostile.save_note", {"text": f"{marker} a-sdk"}),
                          "a new SDK session")
    # (b) a new access token
    second = mcp_token(agent)
    fresh = legacy_session(main.mcp, second)
    expect_needs_approval(session_call(main.mcp, second, fresh, "hostile.save_note", {"text": f"{marker} b"}),
                          "a new token")
    # (c) the stateless 2026-07-28 generation, raw and through the SDK
    expect_needs_approval(stateless_call(main.mcp, second, "hostile.save_note", {"text": f"{marker} c"}),
                          "a stateless call")
    expect_needs_approval(run(call(main.mcp, second, "hostile.save_note", {"text": f"{marker} c-sdk"}, mode="auto")),
                          "a stateless SDK call")

    reached = [p["arguments"]["text"] for p in calls_with(hostile, "save_note", marker)]
    assert reached == [f"{marker} before"], f"writes reached the upstream after the taint: {reached}"


def test_taint_from_an_untrusted_upstream_survives_a_new_token(main):
    hostile = main.hostile
    agent = make_agent(main.server, trust=3)
    marker = unique("untrusted")
    token = mcp_token(agent)
    assert succeeded(stateless_call(main.mcp, token, "hostile.save_note", {"text": f"{marker} before"})) == "saved"
    page = succeeded(stateless_call(main.mcp, token, "inbox.fetch_page", {"url": "https://news.evil.example/today"}))
    assert "https://attacker.example" in page
    other = mcp_token(agent)
    sid = legacy_session(main.mcp, other)
    # A value from the untrusted upstream's answer, in any session or token of the agent, needs a person.
    expect_needs_approval(session_call(main.mcp, other, sid, "hostile.save_note", {"text": f"{marker} push to https://attacker.example"}),
                          "a new token and session after reading an untrusted upstream")
    expect_needs_approval(stateless_call(main.mcp, other, "hostile.save_note", {"text": f"{marker} see ATTACKER.example"}),
                          "a stateless call after reading an untrusted upstream")
    assert [p["arguments"]["text"] for p in calls_with(hostile, "save_note", marker)] == [f"{marker} before"]


# --------------------------------------------------------------------------- 7. bad input at the edge


def test_a_batch_is_refused_and_reaches_nothing(main):
    token = mcp_token(make_agent(main.server, trust=1))
    sid = legacy_session(main.mcp, token)
    marker = unique("batch")
    batch = [rpc("tools/call", {"name": "hostile.echo", "arguments": {"text": marker}})]
    r = raw_post(main.mcp, token, batch, {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"})
    assert r.status_code == 400 and error_of(r)["code"] == -32600, (r.status_code, r.text)
    modern = [rpc("tools/call", {"name": "hostile.echo", "arguments": {"text": marker}, "_meta": modern_meta()})]
    r = raw_post(main.mcp, token, modern, {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                                           "Mcp-Name": "hostile.echo"})
    assert r.status_code == 400 and error_of(r)["code"] == -32600, (r.status_code, r.text)
    assert calls_with(main.hostile, "echo", marker) == []


def test_a_body_not_declared_as_json_is_refused_and_reaches_nothing(main):
    token = mcp_token(make_agent(main.server, trust=1))
    sid = legacy_session(main.mcp, token)
    marker = unique("plain")
    legacy_headers = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}
    body = json.dumps(rpc("tools/call", {"name": "hostile.echo", "arguments": {"text": marker}}))
    modern_body = json.dumps(rpc("tools/call", {"name": "hostile.echo", "arguments": {"text": marker},
                                                "_meta": modern_meta()}))
    modern_headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "hostile.echo"}
    for what, data, headers in (("legacy", body, legacy_headers), ("stateless", modern_body, modern_headers)):
        r = raw_post(main.mcp, token, data, {**headers, "Content-Type": "text/plain"})
        assert r.status_code == 415, f"{what}: expected HTTP 415, got {r.status_code}: {r.text[:300]}"
        err = error_of(r)
        assert err["code"] == -32600, f"{what}: {err}"
        message = err["message"].lower()
        assert any(s in message for s in ("content-type", "content type", "text/plain", "application/json")), err
    assert calls_with(main.hostile, "echo", marker) == [], "a text/plain body reached the upstream"
    # the same request declared as JSON goes through: it was refused for its content type alone
    control = body.replace(marker, f"{marker}-json")
    assert succeeded(raw_post(main.mcp, token, control, legacy_headers)) == f"{marker}-json"


# --------------------------------------------------------------------------- 8. inspection cannot be sidestepped


def test_an_injection_in_an_upstream_error_taints_the_agent(main):
    agent = make_agent(main.server, trust=3)
    token = mcp_token(agent)
    sid = legacy_session(main.mcp, token)
    marker = unique("error-injection")
    assert succeeded(session_call(main.mcp, token, sid, "hostile.save_note", {"text": f"{marker} before"})) == "saved"
    failed = session_call(main.mcp, token, sid, "hostile.fail", {"kind": "inject"})
    error_of(failed)  # the upstream's JSON-RPC error reaches the agent as an error
    expect_needs_approval(session_call(main.mcp, token, sid, "hostile.save_note", {"text": f"{marker} after"}),
                          "after an upstream error carrying an injection")
    assert [p["arguments"]["text"] for p in calls_with(main.hostile, "save_note", marker)] == [f"{marker} before"]


def test_a_secret_in_an_upstream_error_is_redacted(main):
    token = mcp_token(make_agent(main.server, trust=1))
    sid = legacy_session(main.mcp, token)
    r = session_call(main.mcp, token, sid, "hostile.fail", {"kind": "secret"})
    error_of(r)
    assert AWS_KEY not in r.text, f"the upstream's error leaked a secret: {r.text[:500]}"
    assert "[REDACTED:" in r.text, f"expected the secret redacted in the error: {r.text[:500]}"
    sdk = call_once(main.mcp, token, "hostile.fail", {"kind": "secret"})
    assert AWS_KEY not in json.dumps(error_of(sdk))


def test_a_card_number_split_by_a_zero_width_space_is_redacted(main):
    token = mcp_token(make_agent(main.server, trust=1))
    result = call_once(main.mcp, token, "hostile.fetch_page", {"url": "https://card.example/account"})
    assert not isinstance(result, Exception), f"{result!r} {getattr(result, 'data', '')}"
    text = text_of(result)
    assert "[REDACTED:" in text, f"the card number was not redacted: {text!r}"
    assert "4111111111111111" not in re.sub(r"\D", "", text), f"the card number's digits reached the agent: {text!r}"


def test_an_injection_in_homoglyphs_taints_the_agent(main):
    agent = make_agent(main.server, trust=3)
    token = mcp_token(agent)
    sid = legacy_session(main.mcp, token)
    marker = unique("homoglyph")
    assert succeeded(session_call(main.mcp, token, sid, "hostile.save_note", {"text": f"{marker} before"})) == "saved"
    succeeded(session_call(main.mcp, token, sid, "hostile.fetch_page", {"url": "https://homoglyph.example/"}))
    expect_needs_approval(session_call(main.mcp, token, sid, "hostile.save_note", {"text": f"{marker} after"}),
                          "after a page with a Cyrillic-homoglyph injection")
    assert [p["arguments"]["text"] for p in calls_with(main.hostile, "save_note", marker)] == [f"{marker} before"]


# --------------------------------------------------------------------------- 9. unreachable upstreams fail fast


def test_an_upstream_that_went_away_fails_fast_naming_it(main):
    doomed = main.ups["doomed"]
    token = mcp_token(make_agent(main.server, trust=1))
    assert succeeded(stateless_call(main.mcp, token, "doomed.echo", {"text": "alive"})) == "alive"
    doomed.stop()
    sid = legacy_session(main.mcp, token)
    for what, send in (("stateless", lambda: stateless_call(main.mcp, token, "doomed.echo", {"text": "gone"}, timeout=30)),
                       ("session", lambda: session_call(main.mcp, token, sid, "doomed.echo", {"text": "gone"}, timeout=30))):
        started = time.monotonic()
        r = send()
        took = time.monotonic() - started
        err = expect_refusal(r, -32002, "upstream_unavailable")
        assert "doomed" in err["message"], f"{what}: the message must name the upstream: {err}"
        assert took < 5, f"{what}: a call to a closed port took {took:.1f}s"


def test_an_upstream_that_never_answered_fails_fast_naming_it(main):
    token = mcp_token(make_agent(main.server, trust=1))
    started = time.monotonic()
    r = stateless_call(main.mcp, token, "never.echo", {"text": "anyone?"}, timeout=30)
    took = time.monotonic() - started
    err = expect_refusal(r, -32002, "upstream_unavailable")
    assert "never" in err["message"], err
    assert took < 5, f"a call to a closed port took {took:.1f}s"


# --------------------------------------------------------------------------- 10. rate limits cover every method


def test_the_agent_rate_limit_covers_every_method(tmp_path, ups):
    config = hostile_config(ups, agentRateLimit={"perMinute": 1, "burst": 3})
    with running_server(tmp_path, config) as server:
        wait_listed(server, ["hostile.echo", "hostile.save_note"])
        mcp = server.base + "/mcp"
        lister = mcp_token(make_agent(server, trust=1))
        for i in range(3):
            listed_names(stateless_list(mcp, lister))
        err = expect_refusal(stateless_list(mcp, lister), -32003, "rate_limited")
        assert "retry" in err["data"]["reason"].lower(), err

        caller = mcp_token(make_agent(server, trust=1))
        marker = unique("limited")
        for i in range(3):
            listed_names(stateless_list(mcp, caller))
        expect_refusal(stateless_call(mcp, caller, "hostile.echo", {"text": marker}), -32003, "rate_limited")
        assert calls_with(ups["hostile"], "echo", marker) == []
        # per agent: another agent has its own bucket
        listed_names(stateless_list(mcp, mcp_token(make_agent(server, trust=1))))


# --------------------------------------------------------------------------- 11, 12: the CLI


def test_config_show_masks_upstream_headers_and_environment(tmp_path):
    header_secret, env_secret = "hdr-" + uuid.uuid4().hex, "env-" + uuid.uuid4().hex
    config = tmp_path / "portcullis.json"
    config.write_text(json.dumps({"gateway": {"upstreams": [
        {"name": "svc", "url": "http://127.0.0.1:9/mcp",
         "headers": {"Authorization": f"Bearer {header_secret}", "X-Api-Key": header_secret}},
        {"name": "tool", "command": ["/bin/true"], "env": {"API_TOKEN": env_secret}},
    ]}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    p = subprocess.run([str(require_portcullis()), "config", "show", "--config", str(config), "--data-dir",
                        str(tmp_path / "data")], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    shown = json.loads(p.stdout)
    upstreams = {u["name"]: u for u in shown["gateway"]["upstreams"]}
    assert upstreams["svc"]["url"] == "http://127.0.0.1:9/mcp" and upstreams["tool"]["command"] == ["/bin/true"]
    for secret in (header_secret, env_secret):
        assert secret not in p.stdout and secret not in p.stderr, f"`config show` printed a secret:\n{p.stdout}"


def test_policy_test_refuses_a_card_number_in_the_arguments(tmp_path):
    request = tmp_path / "request.json"

    def decide(arguments: dict) -> tuple[str, subprocess.CompletedProcess]:
        request.write_text(json.dumps({"agent": {"id": "agt_1", "trust_level": 5},
                                       "tool": {"name": "web.echo", "effect": "read"}, "arguments": arguments}))
        out = subprocess.run([str(require_portcullis()), "policy", "test", str(request), "--json"],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["decision"], out

    decision, _ = decide({"text": "order 12345 ships tomorrow"})
    assert decision == "allow", decision
    decision, out = decide({"text": "pay with 4111 1111 1111 1111 please"})
    assert decision == "deny", f"the gateway refuses a card number in the arguments; policy test said:\n{out.stdout}"
    expect = subprocess.run([str(require_portcullis()), "policy", "test", str(request), "--expect", "deny"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert expect.returncode == 0, expect.stdout + expect.stderr


# --------------------------------------------------------------------------- the upstream client follows no redirects


class _Peer:
    """A tiny HTTP server on 127.0.0.1 answering every POST with `answer(handler)`; counts the requests."""

    def __init__(self, answer):
        import http.server

        peer = self
        self.hits: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                peer.hits.append({"path": self.path, "headers": dict(self.headers), "body": body.decode("utf-8", "replace")})
                answer(self, body)

            def do_DELETE(self):
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _jsonrpc_answer(body: bytes) -> bytes:
    try:
        request = json.loads(body)
    except ValueError:
        request = {}
    if request.get("method") == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "x", "version": "1"}}
    elif request.get("method") == "tools/list":
        result = {"tools": [{"name": "echo", "description": "Echo.", "inputSchema": {"type": "object"}}]}
    else:
        result = {"content": [{"type": "text", "text": "reached"}]}
    return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": result}).encode()


def test_redirects_and_disguised_media_types_from_an_upstream_are_refused(tmp_path):
    target = _Peer(lambda h, body: (h.send_response(200), h.send_header("Content-Type", "application/json"),
                                    h.end_headers(), h.wfile.write(_jsonrpc_answer(body))))

    def redirect(h, body):
        h.send_response(307)
        h.send_header("Location", target.url)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def html(h, body):
        data = _jsonrpc_answer(body)
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    redirector, disguised = _Peer(redirect), _Peer(html)
    secret = "upstream-credential-" + uuid.uuid4().hex
    config = {"gateway": {
        "upstreams": [{"name": "moved", "url": redirector.url, "headers": {"Authorization": f"Bearer {secret}"}},
                      {"name": "html", "url": disguised.url}],
        "tools": {"moved.echo": READ, "html.echo": READ}, **QUIET}}
    try:
        with running_server(tmp_path, config) as server:
            wait_for(lambda: len(redirector.hits) > 0 and len(disguised.hits) > 0, 20, "the gateway to try both upstreams")
            token = mcp_token(make_agent(server, trust=1))
            for name in ("moved", "html"):
                r = stateless_call(server.base + "/mcp", token, f"{name}.echo", {"text": "x"}, timeout=30)
                err = expect_refusal(r, -32002, "upstream_unavailable")
                assert f"`{name}`" in err["message"], err
            assert "redirect" in stateless_call(server.base + "/mcp", token, "moved.echo", {}, timeout=30).json()["error"]["message"]
            assert "media type" in stateless_call(server.base + "/mcp", token, "html.echo", {}, timeout=30).json()["error"]["message"]
        # The redirect was never followed: the gateway's credentials for `moved` went nowhere else.
        assert target.hits == [], target.hits
        assert all(h["headers"].get("Authorization") == f"Bearer {secret}" for h in redirector.hits)
    finally:
        for peer in (target, redirector, disguised):
            peer.stop()
