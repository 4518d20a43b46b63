"""Human approvals (issue #6, docs/response.md "Approvals"), end to end: the official `mcp` SDK as the
agent, through `portcullis serve`, to the SDK-built test upstream; approvers decide with the
`portcullis approvals` CLI (their token in $PORTCULLIS_APPROVER_TOKEN) or the admin API.

Two servers share one upstream (every test writes notes with its own unique text, and counts them
in the upstream's notes.txt to know how often the write really reached the upstream):

- `env`: waits up to 15 s for a decision, approvals expire after 120 s of a manual clock;
- `quick`: waits 1 s, real clock (the wait-timeout and replay cases).

Both use a policy directory in which `web.save_note` (effect write) is permitted with
`@obligation("approval")`, plus the approver policies of the default pack.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import pytest

from mcp_fixtures import HTTPUpstream, mcp_client
from oauth_fixtures import running_server
from response_fixtures import (APPROVER_POLICIES, CONNECT_AND_READ, WRITES_NEED_APPROVAL, add_approver, approval, approvals,
                               canonical_digest, cli, cli_json, as_list, entries_mentioning, expect_ok,
                               expect_pending, expect_refused, gateway_config, join, make_agent, mcp_token, notes,
                               run_in_thread, advance_clock, call_once, try_call, wait_for_pending, with_token,
                               write_policies)

WAIT = 15
EXPIRY = 120


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Env:
    def __init__(self, server, web):
        self.server = server
        self.web = web
        self.mcp = server.base + "/mcp"


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    upstream = HTTPUpstream(tmp_path_factory.mktemp("approvals-web"), "web")
    yield upstream
    upstream.stop()


def start(tmp_path_factory, web, name, *, wait, expiry=None, manual_clock=None):
    work = tmp_path_factory.mktemp(name)
    policies = write_policies(work / "policies", CONNECT_AND_READ, WRITES_NEED_APPROVAL, APPROVER_POLICIES)
    settings = {"waitSeconds": wait}
    if expiry is not None:
        settings["expirySeconds"] = expiry
    config = gateway_config(web, manual_clock=manual_clock, policyDirectory=str(policies), approvals=settings,
                            monitoring={"enabled": False})
    return running_server(work, config)


@pytest.fixture(scope="module")
def env(tmp_path_factory, web):
    with start(tmp_path_factory, web, "approvals", wait=WAIT, expiry=EXPIRY,
               manual_clock="2026-11-20T09:00:00Z") as server:
        yield Env(server, web)


@pytest.fixture(scope="module")
def quick(tmp_path_factory, web):
    with start(tmp_path_factory, web, "approvals-quick", wait=1) as server:
        yield Env(server, web)


def audit_actions(server, approval_id: str) -> list[str]:
    """Actions of the audit entries naming the approval, oldest first."""
    return [e["event"]["action"] for e in entries_mentioning(server, approval_id)]


def in_order(actions: list[str], *expected: str) -> bool:
    positions = [actions.index(a) if a in actions else -1 for a in expected]
    return -1 not in positions and positions == sorted(positions)


def seconds(stamp) -> float:
    """An RFC 3339 time (or Unix seconds) as Unix seconds."""
    if isinstance(stamp, (int, float)):
        return float(stamp)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# -- a: approved from the CLI while the call waits ------------------------------------------------

def test_a_write_waits_is_approved_from_the_cli_and_succeeds_exactly_once(env):
    agent = make_agent(env.server, owner="carol@example.test")
    token = mcp_token(agent)
    approver_name = unique("alice")
    approver = add_approver(env.server, approver_name)
    text = unique("approved note")
    args = {"text": text}

    t, out = run_in_thread(lambda: call_once(env.mcp, token, "web.save_note", args))
    started = time.monotonic()

    # the approver finds the waiting call with the CLI ...
    listed: list = []
    deadline = time.monotonic() + 10
    while not listed and time.monotonic() < deadline:
        listed = as_list(cli_json(env.server, "approvals", "list", "--agent", agent.id, "--status", "pending",
                                  admin=False, approver_token=approver), "approvals")
        if not listed:
            time.sleep(0.1)
    assert len(listed) == 1, f"expected exactly one pending approval for the waiting call: {listed}"
    approval_id = listed[0]["id"]
    assert approval_id.startswith("apr_")
    assert notes(env.web).count(text) == 0, "the write reached the upstream before it was approved"
    shown = cli_json(env.server, "approvals", "show", approval_id, admin=False, approver_token=approver)
    assert shown["status"] == "pending" and shown["agent"] == agent.id
    assert shown["agent_owner"] == "carol@example.test" and shown["tool"] == "web.save_note"
    assert shown["arguments_digest"] == canonical_digest(args)
    assert shown["session"], "a pending call is bound to its session"
    assert seconds(shown["expires_at"]) - seconds(shown["created_at"]) == pytest.approx(EXPIRY, abs=1)
    assert not shown.get("decided_by") and not shown.get("used_at"), shown

    # ... and approves it
    decided = cli_json(env.server, "approvals", "approve", approval_id, "--reason", "checked the note",
                       admin=False, approver_token=approver)
    assert decided["status"] == "approved" and decided["decided_by"] == approver_name
    assert decided["decision_reason"] == "checked the note"

    result = join(t, out)
    elapsed = time.monotonic() - started
    assert expect_ok(result) == "saved"
    assert elapsed < WAIT, f"the call returned after {elapsed:.1f}s: released by the wait ending, not the approval"
    assert notes(env.web).count(text) == 1, "the upstream must see the approved write exactly once"

    used = approval(env.server, approval_id)
    assert used["status"] == "used" and used["used_at"], used
    actions = audit_actions(env.server, approval_id)
    assert in_order(actions, "approval.request", "approval.approve", "approval.use"), actions
    allowed = [e["event"] for e in entries_mentioning(env.server, approval_id, action="call_tool")]
    assert any(e["decision"] == "allow" and e["resource"] == "web.save_note" for e in allowed), \
        f"the allowed call's audit record must name the approval it used: {allowed}"


# -- c: denied from the CLI --------------------------------------------------------------------------

def test_c_a_denied_approval_fails_the_waiting_call(env):
    agent = make_agent(env.server, owner="carol@example.test")
    token = mcp_token(agent)
    approver_name = unique("dave")
    approver = add_approver(env.server, approver_name)
    text = unique("denied note")

    t, out = run_in_thread(lambda: call_once(env.mcp, token, "web.save_note", {"text": text}))
    started = time.monotonic()
    pending = wait_for_pending(env.server, agent.id, token=approver)
    denied = cli_json(env.server, "approvals", "deny", pending["id"], "--reason", "not today",
                      admin=False, approver_token=approver)
    assert denied["status"] == "denied" and denied["decided_by"] == approver_name

    error = expect_refused(join(t, out), "denied")
    assert time.monotonic() - started < WAIT, "a denial must end the wait"
    assert error.data["approvalId"] == pending["id"] and "reason" in error.data
    assert notes(env.web).count(text) == 0, "a denied write reached the upstream"
    assert approval(env.server, pending["id"])["status"] == "denied"
    assert in_order(audit_actions(env.server, pending["id"]), "approval.request", "approval.deny")
    # a decided approval cannot be decided again
    again = with_token(env.server, approver, "POST", f"/admin/approvals/{pending['id']}/approve", {"reason": "oops"})
    assert again.status_code == 409, again.text


# -- d: expired under the manual clock -------------------------------------------------------------

def test_d_an_expired_approval_fails_the_call_and_cannot_be_approved(env):
    agent = make_agent(env.server, owner="carol@example.test")
    token = mcp_token(agent)
    approver = add_approver(env.server, unique("erin"))
    text = unique("expiring note")

    t, out = run_in_thread(lambda: call_once(env.mcp, token, "web.save_note", {"text": text}))
    pending = wait_for_pending(env.server, agent.id)
    advance_clock(env.server, EXPIRY + 1)

    error = expect_refused(join(t, out), "expired")
    assert error.data["approvalId"] == pending["id"]
    late = with_token(env.server, approver, "POST", f"/admin/approvals/{pending['id']}/approve", {"reason": "late"})
    assert late.status_code == 409, f"approving an expired approval must be refused with 409: {late.status_code} {late.text}"
    assert approval(env.server, pending["id"])["status"] == "expired"
    assert pending["id"] in [a["id"] for a in approvals(env.server, status="expired", agent=agent.id)]
    assert notes(env.web).count(text) == 0
    assert "approval.expire" in audit_actions(env.server, pending["id"])


# -- f: who may approve -----------------------------------------------------------------------------

def test_f_approvers_are_authorized_by_policy_and_every_step_is_audited(env):
    owner = unique("bob")
    agent = make_agent(env.server, owner=owner)
    token = mcp_token(agent)
    added = cli_json(env.server, "approvers", "add", owner)
    owner_token = added["token"]
    assert added["name"] == owner and owner_token.startswith("pca_")
    other_name = unique("alice")
    other = add_approver(env.server, other_name)
    listed = as_list(cli_json(env.server, "approvers", "list"), "approvers")
    assert {owner, other_name} <= {a["name"] for a in listed}
    assert owner_token not in str(listed) and other not in str(listed), "approver tokens are shown once only"

    text = unique("owner-approval note")
    t, out = run_in_thread(lambda: call_once(env.mcp, token, "web.save_note", {"text": text}))
    started = time.monotonic()
    pending = wait_for_pending(env.server, agent.id)
    path = f"/admin/approvals/{pending['id']}/approve"

    # separation of duties: the admin token is not an approver
    assert env.server.admin("POST", path, {"reason": "admin says so"}).status_code == 403
    # the agent's owner may not approve their own agent (default approver policies)
    by_owner = cli(env.server, "approvals", "approve", pending["id"], "--reason", "mine", admin=False,
                   approver_token=owner_token)
    assert by_owner.returncode != 0 and "403" in by_owner.stderr, (by_owner.stdout, by_owner.stderr)
    r = with_token(env.server, owner_token, "POST", path, {"reason": "mine"})
    assert r.status_code == 403 and "owner" in r.text, r.text
    # a reason is required; unknown approvals are 404; a removed approver's token is refused
    assert with_token(env.server, other, "POST", path, {}).status_code == 400
    assert with_token(env.server, other, "POST", "/admin/approvals/apr_doesnotexist/approve",
                      {"reason": "x"}).status_code == 404
    assert approval(env.server, pending["id"])["status"] == "pending"
    assert notes(env.web).count(text) == 0

    # another approver may
    r = with_token(env.server, other, "POST", path, {"reason": "reviewed by someone else"})
    assert r.status_code == 200, r.text
    assert r.json()["decided_by"] == other_name
    assert expect_ok(join(t, out)) == "saved"
    assert time.monotonic() - started < WAIT
    assert notes(env.web).count(text) == 1

    entries = entries_mentioning(env.server, pending["id"])
    actions = [e["event"]["action"] for e in entries]
    assert in_order(actions, "approval.request", "approval.approve", "approval.use"), actions
    # refused attempts may be recorded too, but as denies; exactly one approval took effect
    approved = [e["event"] for e in entries
                if e["event"]["action"] == "approval.approve" and e["event"].get("decision") != "deny"]
    assert len(approved) == 1, approved
    assert other_name in str(approved[0]) and owner not in str(approved[0].get("actor", "")), approved[0]

    removed = cli(env.server, "approvers", "remove", owner)
    assert removed.returncode == 0, removed.stderr
    assert with_token(env.server, owner_token, "GET", "/admin/approvals").status_code in (401, 403)


# -- e: the wait ends, the agent retries the same call later -----------------------------------------

def test_e_wait_timeout_returns_the_id_and_the_retry_succeeds_once(quick):
    agent = make_agent(quick.server, owner="carol@example.test")
    token = mcp_token(agent)
    approver = add_approver(quick.server, unique("frank"))
    text = unique("retried note")
    args = {"text": text}

    async def scenario():
        async with mcp_client(quick.mcp, token) as c:
            started = time.monotonic()
            first = await try_call(c, "web.save_note", args)
            waited = time.monotonic() - started
            data = expect_pending(first)
            shown = await asyncio.to_thread(lambda: approval(quick.server, data["approvalId"]))
            before = notes(quick.web).count(text)
            decided = await asyncio.to_thread(lambda: cli_json(
                quick.server, "approvals", "approve", data["approvalId"], "--reason", "fine",
                admin=False, approver_token=approver))
            retried = await try_call(c, "web.save_note", args)
            return waited, data, shown, before, decided, retried

    waited, data, shown, before, decided, retried = asyncio.run(scenario())
    assert 0.8 <= waited < 10, f"waitSeconds is 1; the call returned after {waited:.2f}s"
    assert shown["status"] == "pending"
    assert seconds(shown["expires_at"]) == pytest.approx(seconds(data["expiresAt"]), abs=1)
    assert before == 0, "nothing may reach the upstream while the approval is pending"
    assert decided["status"] == "approved"
    assert expect_ok(retried) == "saved"
    assert notes(quick.web).count(text) == 1
    assert approval(quick.server, data["approvalId"])["status"] == "used"


# -- b: an approval answers exactly one call --------------------------------------------------------

def test_b_replayed_modified_and_other_session_calls_need_new_approvals(quick):
    agent = make_agent(quick.server, owner="carol@example.test")
    token = mcp_token(agent)
    approver = add_approver(quick.server, unique("grace"))
    text = unique("replayed note")
    args = {"text": text}

    def approve(approval_id: str) -> None:
        r = with_token(quick.server, approver, "POST", f"/admin/approvals/{approval_id}/approve", {"reason": "ok"})
        assert r.status_code == 200, r.text

    async def scenario():
        async with mcp_client(quick.mcp, token) as one, mcp_client(quick.mcp, token) as two:
            assert expect_ok(await try_call(one, "web.echo", {"text": "reads need no approval"}))
            first = expect_pending(await try_call(one, "web.save_note", args))
            await asyncio.to_thread(approve, first["approvalId"])
            done = await try_call(one, "web.save_note", args)
            replay = expect_pending(await try_call(one, "web.save_note", args))
            joined = expect_pending(await try_call(one, "web.save_note", args))
            modified = expect_pending(await try_call(one, "web.save_note", {"text": text + " (modified)"}))
            other_session = expect_pending(await try_call(two, "web.save_note", args))
            # an approval for session one does not serve session two ...
            await asyncio.to_thread(approve, replay["approvalId"])
            still = expect_pending(await try_call(two, "web.save_note", args))
            # ... but does serve session one
            second = await try_call(one, "web.save_note", args)
            return first, done, replay, joined, modified, other_session, still, second

    first, done, replay, joined, modified, other_session, still, second = asyncio.run(scenario())
    assert expect_ok(done) == "saved"
    assert replay["approvalId"] != first["approvalId"], "a replay of an approved call needs a new approval"
    assert joined["approvalId"] == replay["approvalId"], "the same call while pending joins the pending approval"
    ids = [first["approvalId"], replay["approvalId"], modified["approvalId"], other_session["approvalId"]]
    assert len(set(ids)) == 4, f"modified arguments and another session need approvals of their own: {ids}"
    assert still["approvalId"] == other_session["approvalId"]
    assert expect_ok(second) == "saved"
    assert notes(quick.web).count(text) == 2 and notes(quick.web).count(text + " (modified)") == 0

    a1, a2, a3, a4 = (approval(quick.server, i) for i in ids)
    assert a1["arguments_digest"] == a2["arguments_digest"] == a4["arguments_digest"] == canonical_digest(args)
    assert a3["arguments_digest"] == canonical_digest({"text": text + " (modified)"})
    assert a1["session"] == a2["session"] == a3["session"] != a4["session"]
    assert [a1["status"], a2["status"], a3["status"], a4["status"]] == ["used", "used", "pending", "pending"]


def test_the_clock_endpoint_exists_only_with_the_manual_clock(env, quick):
    assert env.server.admin("GET", "/admin/clock").status_code == 200
    assert quick.server.admin("GET", "/admin/clock").status_code == 404
    assert quick.server.admin("POST", "/admin/clock", {"advanceSeconds": 60}).status_code == 404


# -- progress while a call waits -----------------------------------------------------------------------

def test_waiting_call_gets_progress_notifications_with_the_approval_link(env):
    """An SDK client that asks for progress hears, while its call waits, which approval it waits for and where a person
    decides it; the call then completes once approved (the answer arrives as the last event of the stream)."""
    agent = make_agent(env.server, owner="carol@example.test")
    token = mcp_token(agent)
    approver = add_approver(env.server, unique("erin"))
    text = unique("progress note")
    heard: list[tuple[float, str | None]] = []

    async def go():
        from mcp_fixtures import mcp_client

        async def progress(value, total, message):
            heard.append((value, message))
        async with mcp_client(env.mcp, token) as c:
            return await c.call_tool("web.save_note", {"text": text}, progress_callback=progress)

    t, out = run_in_thread(lambda: asyncio.run(go()))
    pending = wait_for_pending(env.server, agent.id)
    deadline = time.monotonic() + 10
    while not heard and time.monotonic() < deadline:
        time.sleep(0.05)
    assert heard, "no progress notification while the call waited"
    message = heard[0][1] or ""
    assert pending["id"] in message and f"/console/approvals#{pending['id']}" in message, message
    r = with_token(env.server, approver, "POST", f"/admin/approvals/{pending['id']}/approve", {"reason": "fine"})
    assert r.status_code == 200, r.text
    result = join(t, out)
    assert "saved" in expect_ok(result)
    assert notes(env.web).count(text) == 1
