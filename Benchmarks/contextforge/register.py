#!/usr/bin/env python3
"""Register the upstream and expose it through a ContextForge virtual server.

Run by start.sh with the ContextForge venv's python:

    register.py BASE_URL UPSTREAM_URL        (admin JWT in $CF_ADMIN_TOKEN)

1. waits for BASE_URL/health;
2. POST /v1/gateways   - registers the Streamable HTTP upstream ("gateway"),
                         ContextForge connects to it and imports its tools;
3. POST /v1/servers    - creates the virtual server exposing the `echo` tool;
4. POST /v1/tokens     - mints an API token scoped to that server for the MCP
                         client ($CF_TOKEN_KIND=api, default), or hands out the
                         admin JWT itself ($CF_TOKEN_KIND=jwt);
5. smoke test: initialize + tools/call echo through BASE_URL/servers/<id>/mcp.

Re-running against the same database replaces the gateway and server it
created before. Prints MCP_URL=, TOKEN=, TOOL= on stdout; progress on stderr.
"""

import json
import os
import sys
import time

import requests

GATEWAY_NAME = "echo_upstream"
SERVER_NAME = "echo_bench"
PROTOCOL = "2025-06-18"


def log(msg):
    print(f"[register] {msg}", file=sys.stderr, flush=True)


def main():
    base, upstream = sys.argv[1].rstrip("/"), sys.argv[2]
    admin = os.environ["CF_ADMIN_TOKEN"]
    kind = os.environ.get("CF_TOKEN_KIND", "api")
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})

    def call(method, path, expect=(200, 201), **kw):
        r = s.request(method, base + path, timeout=60, **kw)
        if r.status_code not in expect:
            sys.exit(f"[register] {method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    deadline = time.time() + float(os.environ.get("CF_START_TIMEOUT", "180"))
    while True:
        try:
            if requests.get(base + "/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.time() > deadline:
            sys.exit("[register] ContextForge did not become healthy in time")
        time.sleep(0.5)
    log("ContextForge is healthy")

    # Idempotence: drop what an earlier run registered in this database.
    for srv in call("GET", "/v1/servers?include_inactive=true"):
        if srv["name"] == SERVER_NAME:
            call("DELETE", f"/v1/servers/{srv['id']}")
            log(f"deleted old server {srv['id']}")
    for gw in call("GET", "/v1/gateways?include_inactive=true"):
        if gw["name"] == GATEWAY_NAME:
            call("DELETE", f"/v1/gateways/{gw['id']}")
            log(f"deleted old gateway {gw['id']}")

    gw = call("POST", "/v1/gateways", json={"name": GATEWAY_NAME, "url": upstream, "transport": "STREAMABLEHTTP"})
    log(f"gateway {gw['id']} -> {gw['url']} ({gw['status']})")

    tools = [t for t in call("GET", "/v1/tools") if t.get("gatewayId") == gw["id"] and t.get("originalName") == "echo"]
    if len(tools) != 1:
        sys.exit(f"[register] upstream tool `echo` not imported: {tools}")
    tool = tools[0]
    log(f"tool {tool['id']} exposed as {tool['name']}")

    srv = call(
        "POST",
        "/v1/servers",
        json={
            "server": {"name": SERVER_NAME, "description": "Portcullis benchmark: echo tool", "associated_tools": [tool["id"]]},
            "visibility": "public",
        },
    )
    log(f"virtual server {srv['id']}")

    if kind == "api":
        tok = call(
            "POST",
            "/v1/tokens",
            json={
                "name": f"bench-client-{int(time.time() * 1000)}",
                "description": "MCP client token for the benchmark",
                "expires_in_days": 7,
                "scope": {"server_id": srv["id"], "permissions": []},
            },
        )
        token = tok["access_token"]
        log(f"API token {tok['token']['id']} scoped to server {srv['id']}")
    elif kind == "jwt":
        token = admin
        log("using the admin JWT as the MCP client token")
    else:
        sys.exit(f"[register] unknown CF_TOKEN_KIND={kind}")

    mcp_url = f"{base}/servers/{srv['id']}/mcp"

    # Smoke test exactly as a client would do it.
    c = requests.Session()
    c.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
    r = c.post(
        mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "register.py", "version": "0"}}},
        timeout=60,
    )
    if r.status_code != 200:
        sys.exit(f"[register] initialize -> {r.status_code}: {r.text[:500]}")
    if r.headers.get("mcp-session-id"):
        c.headers["Mcp-Session-Id"] = r.headers["mcp-session-id"]
    c.headers["MCP-Protocol-Version"] = PROTOCOL
    c.post(mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, timeout=60)
    r = c.post(mcp_url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool["name"], "arguments": {"text": "ping"}}}, timeout=60)
    body = r.text
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        body = next(line[5:] for line in body.splitlines() if line.startswith("data:"))
    result = json.loads(body).get("result", {})
    if r.status_code != 200 or result.get("content", [{}])[0].get("text") != "ping":
        sys.exit(f"[register] smoke tools/call failed: {r.status_code} {r.text[:500]}")
    log("smoke test initialize + tools/call OK")

    print(f"MCP_URL={mcp_url}")
    print(f"TOKEN={token}")
    print(f"TOOL={tool['name']}")


if __name__ == "__main__":
    main()
