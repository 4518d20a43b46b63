"""Helpers for the issue #6 tests (approvals, kill switch, monitoring and graduated response;
docs/response.md): agents with a chosen owner and trust level, MCP tokens, the CLI with the admin
or an approver token, approvers, the manual test clock, the audit log, a webhook receiver, and
MCP calls that keep one session across several calls.

Every server and receiver binds 127.0.0.1; servers are stopped by PID (oauth_fixtures.Server).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import requests
from mcp.shared.exceptions import MCPError

from conftest import require_portcullis
from mcp_fixtures import HTTPUpstream, mcp_client, rpc, text_of
from oauth_fixtures import Agent, Key, Server

# Rate limits out of the way: these tests make bursts on purpose, and a rate-limit refusal
# must never be mistaken for an approval, a kill or a graduated response.
NO_RATE_LIMIT = {"perMinute": 1_000_000, "burst": 100_000}

# Effect classification for the test upstream's tools (mcp_test_upstream.py), under "web". An upstream
# does not classify its own tools (its MCP annotations are not trusted): a tool missing here is
# `unclassified`, which the default pack neither lists nor lets anyone call.
WEB_TOOLS = {
    "web.echo": {"effect": "read"},
    "web.fetch_page": {"effect": "read"},
    "web.lookup": {"effect": "read"},
    "web.search": {"effect": "read"},
    "web.save_note": {"effect": "write"},
    "web.slow_write": {"effect": "write"},
}

# The parts of a policy directory every issue #6 server needs: a policy directory replaces the
# default pack, the approver policies included (docs/response.md "Approvers").
CONNECT_AND_READ = """
@id("connect-and-list")
@reason("agents may open sessions and list tools")
permit (principal, action in [Action::"connect", Action::"list_tools"], resource);

@id("read-tools")
@reason("read-only tools are allowed")
permit (principal, action == Action::"call_tool", resource)
when { resource.effect == "read" };
"""

APPROVER_POLICIES = """
@id("approvers-decide-approvals")
permit (principal is Approver, action == Action::"approve", resource is Approval);

@id("owners-do-not-approve-their-own-agents")
@reason("an agent's owner cannot approve that agent's actions")
forbid (principal is Approver, action == Action::"approve", resource is Approval)
when { context.decision == "approve" && resource.agentOwner == principal.name };
"""

# Writes wait for a person (the approval tests and the console tests).
WRITES_NEED_APPROVAL = """
@id("writes-need-approval")
@reason("writes need a person's approval")
@obligation("approval")
permit (principal, action == Action::"call_tool", resource)
when { resource.effect == "write" };
"""

SEVERITY = ["none", "alert", "approve_writes", "read_only", "suspend", "kill"]


def canonical_digest(arguments: dict) -> str:
    """Hex SHA-256 of the canonical JSON of the arguments (docs/audit.md "Canonical JSON")."""
    text = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def write_policies(directory: Path, *texts: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cedar").write_text("\n".join(texts))
    return directory


def gateway_config(upstream: HTTPUpstream, *, tools: dict | None = None, manual_clock: str | None = None,
                   **gateway: Any) -> dict:
    """A server configuration with the test upstream as `web`; `gateway` keys are added as given."""
    g: dict = {"upstreams": [{"name": "web", "url": upstream.url}],
               "tools": dict(WEB_TOOLS, **(tools or {})), "rateLimit": NO_RATE_LIMIT}
    g.update(gateway)
    config: dict = {"gateway": g}
    if manual_clock is not None:
        config["testing"] = {"manualClock": manual_clock}
    return config


# --------------------------------------------------------------------------- agents and tokens


def make_agent(server: Server, *, trust: int = 1, owner: str = "team-interop@example.test",
               name: str | None = None, **extra: Any) -> Agent:
    """Registers an agent that may get `mcp` tokens for the gateway (any owner, any trust level)."""
    key = Key()
    extra.setdefault("max_concurrent_sessions", 500)
    record = server.register(
        name=name or f"agent-{uuid.uuid4().hex[:8]}", owner=owner, purpose="issue 6 testing",
        model_provider="example-ai", model="example-model", model_version="2026-01", public_keys=[key.public_jwk],
        scopes=["mcp"], audiences=[server.base + "/mcp"], trust_level=trust, **extra)
    return Agent(server, record["id"], key, record)


def mcp_token(agent: Agent) -> str:
    base = agent.server.base
    return agent.access_token([("resource", base + "/mcp"), ("scope", "mcp")])


def token_request(agent: Agent) -> requests.Response:
    base = agent.server.base
    return agent.token([("resource", base + "/mcp"), ("scope", "mcp")])


def agent_status(server: Server, agent_id: str) -> str:
    r = server.admin("GET", f"/admin/agents/{agent_id}")
    assert r.status_code == 200, r.text
    return r.json()["status"]


# --------------------------------------------------------------------------- the CLI


def cli(server: Server, *args: str, admin: bool = True, approver_token: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    """`portcullis ARGS --server URL [--token-file admin.token]`, with $PORTCULLIS_APPROVER_TOKEN when given.

    Runs in the server's work directory (no ./portcullis-data there), with no other PORTCULLIS_*
    variable, so the only credentials are the ones passed here."""
    cmd = [str(require_portcullis()), *args, "--server", server.base]
    if admin:
        cmd += ["--token-file", str(server.data_dir / "admin.token")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    if approver_token is not None:
        env["PORTCULLIS_APPROVER_TOKEN"] = approver_token
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=server.workdir,
                          stdin=subprocess.DEVNULL)


def cli_json(server: Server, *args: str, **kw: Any) -> Any:
    """Runs the CLI with --json, asserts exit 0, returns the parsed output."""
    r = cli(server, *args, "--json", **kw)
    assert r.returncode == 0, f"portcullis {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"portcullis {' '.join(args)} --json printed something other than JSON:\n{r.stdout}")


def as_list(value: Any, key: str) -> list:
    """A listing printed as a JSON array (or, tolerated, an object holding the array under `key`)."""
    if isinstance(value, dict) and isinstance(value.get(key), list):
        return value[key]
    assert isinstance(value, list), f"expected a JSON array, got {value!r}"
    return value


# --------------------------------------------------------------------------- approvers and approvals


def add_approver(server: Server, name: str) -> str:
    r = server.admin("POST", "/admin/approvers", {"name": name})
    assert r.status_code == 201, f"adding approver {name}: {r.status_code} {r.text}"
    body = r.json()
    assert body["name"] == name and body["token"].startswith("pca_"), body
    return body["token"]


def with_token(server: Server, token: str, method: str, path: str, body: Any = None) -> requests.Response:
    return server.admin(method, path, body, token=token)


def approval(server: Server, approval_id: str) -> dict:
    r = server.admin("GET", f"/admin/approvals/{approval_id}")
    assert r.status_code == 200, f"GET approval {approval_id}: {r.status_code} {r.text}"
    return r.json()


def approvals(server: Server, token: str = "admin", **query: str) -> list[dict]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    r = server.admin("GET", "/admin/approvals" + (f"?{q}" if q else ""), token=token)
    assert r.status_code == 200, r.text
    return as_list(r.json(), "approvals")


def wait_for_pending(server: Server, agent_id: str, *, token: str = "admin", exclude: set | None = None,
                     timeout: float = 20) -> dict:
    """The first pending approval of the agent (not in `exclude`), polling the admin API."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [a for a in approvals(server, token, status="pending", agent=agent_id)
                 if a["id"] not in (exclude or set())]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no pending approval for {agent_id} within {timeout}s")


def expect_pending(result: Any) -> dict:
    """The `error.data` of a -32005 "approval pending" answer."""
    assert isinstance(result, MCPError), f"expected -32005 approval pending, got a result: {result!r}"
    assert result.code == -32005, f"expected -32005, got {result.code} {result.message} {result.data}"
    data = result.data
    assert isinstance(data, dict) and data.get("status") == "pending", data
    assert str(data.get("approvalId", "")).startswith("apr_"), data
    assert data.get("expiresAt") and "reason" in data, data
    # Automation can send a person to the console's approvals page, at this approval.
    assert data.get("approvalURL", "").endswith("/console/approvals#" + data["approvalId"]), data
    return data


def expect_refused(result: Any, status: str | None = None) -> MCPError:
    """A -32001 refusal (with `data.status` when given)."""
    assert isinstance(result, MCPError), f"expected a -32001 refusal, got a result: {result!r}"
    assert result.code == -32001, f"expected -32001, got {result.code} {result.message} {result.data}"
    if status is not None:
        assert isinstance(result.data, dict) and result.data.get("status") == status, result.data
    return result


def expect_ok(result: Any) -> str:
    assert not isinstance(result, Exception), f"the call failed: {result!r} {getattr(result, 'data', '')}"
    assert not getattr(result, "isError", False), f"the tool reported an error: {result!r}"
    return text_of(result)


def notes(upstream: HTTPUpstream) -> list[str]:
    path = upstream.state / "notes.txt"
    return path.read_text().splitlines() if path.exists() else []


# --------------------------------------------------------------------------- MCP calls in one session


async def try_call(client, name: str, arguments: dict):
    try:
        return await client.call_tool(name, arguments)
    except MCPError as e:
        return e


def stateless_call(url: str, token: str, name: str, arguments: dict, session: requests.Session | None = None,
                   timeout: float = 30) -> requests.Response:
    """A 2026-07-28 (stateless) tools/call with raw HTTP."""
    from mcp_fixtures import modern_meta
    body = rpc("tools/call", {"name": name, "arguments": arguments, "_meta": modern_meta()})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": name}
    return (session or requests).post(url, data=json.dumps(body), headers=headers, timeout=timeout)


def session_call(url: str, token: str, session_id: str, name: str, arguments: dict,
                 session: requests.Session | None = None, timeout: float = 30) -> requests.Response:
    """A tools/call in a 2025-06-18 session with raw HTTP."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "Mcp-Session-Id": session_id,
               "MCP-Protocol-Version": "2025-06-18"}
    body = rpc("tools/call", {"name": name, "arguments": arguments})
    return (session or requests).post(url, data=json.dumps(body), headers=headers, timeout=timeout)


def call_succeeded(r: requests.Response) -> bool:
    if r.status_code != 200:
        return False
    try:
        body = r.json()
    except ValueError:
        return False
    result = body.get("result")
    return isinstance(result, dict) and not result.get("isError", False)


# --------------------------------------------------------------------------- clock, audit, monitor


def set_clock(server: Server, when: str) -> None:
    r = server.admin("POST", "/admin/clock", {"set": when})
    assert r.status_code == 200, f"POST /admin/clock set {when}: {r.status_code} {r.text}"


def advance_clock(server: Server, seconds: float) -> None:
    r = server.admin("POST", "/admin/clock", {"advanceSeconds": seconds})
    assert r.status_code == 200, f"POST /admin/clock advance {seconds}: {r.status_code} {r.text}"


def audit_entries(server: Server, **query: str) -> list[dict]:
    """Audit entries (oldest first) as {"index", "event"}."""
    q = {"order": "asc", "limit": "10000", **query}
    r = server.admin("GET", "/admin/audit/entries?" + "&".join(f"{k}={v}" for k, v in q.items()))
    assert r.status_code == 200, r.text
    return r.json()


def entries_mentioning(server: Server, needle: str, **query: str) -> list[dict]:
    """Entries whose event names `needle` anywhere (an approval id, an agent id)."""
    return [e for e in audit_entries(server, **query) if needle in json.dumps(e["event"])]


def risk(server: Server, agent_id: str) -> dict:
    r = server.admin("GET", f"/admin/agents/{agent_id}/risk")
    assert r.status_code == 200, f"GET risk: {r.status_code} {r.text}"
    body = r.json()
    assert body["agent"] == agent_id and isinstance(body["score"], int), body
    return body


def response_of(body: dict) -> str:
    """The agent's current automatic response; no response at all reads as "none"."""
    return body.get("response") or "none"


def alerts(server: Server, agent_id: str) -> list[dict]:
    """The agent's alerts from the admin API, oldest first (the API lists newest first)."""
    r = server.admin("GET", f"/admin/alerts?agent={agent_id}&limit=1000")
    assert r.status_code == 200, r.text
    return list(reversed(as_list(r.json(), "alerts")))


class WebhookReceiver:
    """A 127.0.0.1 HTTP server that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(data)
                except ValueError:
                    body = {"unparsable": data.decode(errors="replace"),
                            "content_type": self.headers.get("Content-Type")}
                with outer.lock:
                    outer.bodies.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def received(self) -> list[Any]:
        with self.lock:
            return list(self.bodies)

    def wait_for(self, predicate: Callable[[list], bool], timeout: float = 15) -> list:
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            if predicate(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict]:
    """Starts `fn` in a thread; the dict gets "value" or "error" (re-raise it in the test thread)."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test thread
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, out


def join(t: threading.Thread, out: dict, timeout: float = 60) -> Any:
    t.join(timeout)
    assert not t.is_alive(), "the helper thread did not finish"
    if "error" in out:
        raise out["error"]
    return out.get("value")


def call_once(url: str, token: str, name: str, arguments: dict):
    """One tools/call in a fresh SDK session (legacy revision); the result or the MCPError."""
    async def go():
        async with mcp_client(url, token) as c:
            return await try_call(c, name, arguments)
    return asyncio.run(go())
