"""Helpers for the MCP gateway tests: upstream processes, gateway configuration, and MCP clients
(the official `mcp` SDK) that authenticate to the gateway with Portcullis tokens."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
import requests
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from oauth_fixtures import Key, ath, dpop_proof, free_port

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


class HTTPUpstream:
    """mcp_test_upstream.py (or another upstream script, e.g. mcp_hostile_upstream.py) on a free port,
    with its own state directory."""

    def __init__(self, state: Path, name: str, lookup_description: str | None = None,
                 script: str = "mcp_test_upstream.py"):
        self.state = state
        self.name = name
        state.mkdir(parents=True, exist_ok=True)
        if lookup_description is not None:
            (state / "lookup_description.txt").write_text(lookup_description)
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(HERE / script), str(self.port), str(state), name],
                                     stdout=open(state / "upstream.log", "ab"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url, timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"test upstream did not start: {(state / 'upstream.log').read_text()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def recorded_requests(self) -> list[dict]:
        path = self.state / "requests.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def tool_calls(self, tool: str | None = None) -> list[dict]:
        """The `tools/call` requests that reached the upstream (of `tool`, when given), as their params;
        needs an upstream script that records request bodies (mcp_hostile_upstream.py)."""
        out = []
        for r in self.recorded_requests():
            bodies = r.get("rpc")
            for body in bodies if isinstance(bodies, list) else [bodies]:
                if isinstance(body, dict) and body.get("method") == "tools/call":
                    params = body.get("params") or {}
                    if tool is None or params.get("name") == tool:
                        out.append(params)
        return out

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class TokenAuth(httpx2.Auth):
    """Adds `Authorization: Bearer …`, or `DPoP …` with a fresh proof per request."""

    def __init__(self, token: str, dpop_key: Key | None = None):
        self.token = token
        self.dpop_key = dpop_key

    def auth_flow(self, request):
        if self.dpop_key is None:
            request.headers["Authorization"] = f"Bearer {self.token}"
        else:
            htu = str(request.url).split("?")[0]
            request.headers["Authorization"] = f"DPoP {self.token}"
            request.headers["DPoP"] = dpop_proof(self.dpop_key, request.method, htu, ath=ath(self.token))
        yield request


def mcp_client(url: str, token: str, *, mode: str = "legacy", dpop_key: Key | None = None) -> Client:
    """An MCP SDK client for the gateway; `mode` is "legacy" (session-based) or "auto" (2026-07-28)."""
    http = httpx2.AsyncClient(auth=TokenAuth(token, dpop_key), timeout=60)
    return Client(streamable_http_client(url, http_client=http), mode=mode)


def run(coro):
    return asyncio.run(coro)


async def list_names(url: str, token: str, mode: str = "legacy") -> list[str]:
    async with mcp_client(url, token, mode=mode) as c:
        return sorted(t.name for t in (await c.list_tools()).tools)


async def call(url: str, token: str, name: str, arguments: dict | None = None, mode: str = "legacy"):
    """Calls a tool; returns the result, or the MCPError raised."""
    from mcp.shared.exceptions import MCPError
    async with mcp_client(url, token, mode=mode) as c:
        try:
            return await c.call_tool(name, arguments or {})
        except MCPError as e:
            return e


def text_of(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def raw_post(url: str, token: str, body: Any, headers: dict | None = None) -> requests.Response:
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
         "Accept": "application/json, text/event-stream"}
    h.update(headers or {})
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url, data=data, headers=h, timeout=60)


def legacy_session(url: str, token: str) -> str:
    r = raw_post(url, token, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                         "clientInfo": {"name": "raw", "version": "1"}}})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["protocolVersion"] == "2025-06-18"
    return r.headers["Mcp-Session-Id"]


def modern_meta() -> dict:
    return {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}


def rpc(method: str, params: dict | None = None, id: Any = None) -> dict:
    m = {"jsonrpc": "2.0", "id": id if id is not None else str(uuid.uuid4()), "method": method}
    if params is not None:
        m["params"] = params
    return m


def scenario_upstreams(state: Path, domains) -> list[dict]:
    """The scenario tool servers (scenario_upstream.py) of `domains`, over stdio, keeping their state in `state`."""
    return [{"name": d, "command": [sys.executable, str(HERE / "scenario_upstream.py"), d, str(state)]} for d in domains]


def scenario_config(idp, state: Path, domains, tools: dict, policies: Path, **gateway) -> dict:
    """A server configuration with the scenario tool servers, a policy directory, no rate limits, and `idp` trusted."""
    unlimited = {"perMinute": 1_000_000, "burst": 100_000}
    return {"trustedIdentityProviders": [idp.config_entry()],
            "gateway": {"upstreams": scenario_upstreams(state, domains), "tools": tools, "policyDirectory": str(policies),
                        "rateLimit": unlimited, "agentRateLimit": unlimited, **gateway}}


# How the scenario tools of mail, files and payments are classified (a test changes what it needs).
SCENARIO_TOOLS = {
    "mail.send_email": {"effect": "write"}, "mail.list_inbox": {"effect": "read"},
    "files.read_file": {"effect": "read", "dataClass": "internal"}, "files.list_files": {"effect": "read"},
    "payments.get_invoice": {"effect": "read"}, "payments.send_payment": {"effect": "write"},
    "payments.refund": {"effect": "write"},
}


def scenario_agent(server, idp, user: str, prefix: str = "scenario"):
    """A trust-level-3 agent acting for `user` (a token exchanged from the user's identity-provider token): (agent, token)."""
    from oauth_fixtures import TT_JWT
    agent = server.new_agent(scopes=["mcp"], audiences=[server.base + "/mcp"], name=f"{prefix}-{uuid.uuid4().hex[:8]}",
                             trust_level=3, max_concurrent_sessions=50)
    r = agent.exchange(idp.user_token(user), TT_JWT, [("resource", server.base + "/mcp"), ("scope", "mcp")])
    assert r.status_code == 200, r.text
    return agent, r.json()["access_token"]


async def call_tools(server, token: str, steps) -> list:
    """Calls each (tool, arguments) in one MCP session; an error is returned in place of its result."""
    from mcp.shared.exceptions import MCPError
    out = []
    async with mcp_client(server.base + "/mcp", token) as c:
        for tool, args in steps:
            try:
                out.append(await c.call_tool(tool, args))
            except MCPError as e:
                out.append(e)
    return out


def scenario_actions(state: Path, domain: str, tool: str) -> list[dict]:
    """The arguments of every call of `tool` that reached the scenario server of `domain`."""
    path = state / f"{domain}-actions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [r["arguments"] for r in rows if r["tool"] == tool]
