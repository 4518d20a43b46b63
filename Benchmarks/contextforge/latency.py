#!/usr/bin/env python3
"""Sequential tools/call latency over Streamable HTTP (orientation only).

Usage: python latency.py URL TOOL [--token T] [-n 200] [--warmup 20]

Does initialize (+ notifications/initialized), keeps the Mcp-Session-Id if the
server hands one out, then times N sequential tools/call {"text": "hello"}
over one keep-alive connection (requests.Session). Accepts JSON or SSE
answers. Prints p50/p90/p99/mean/max in milliseconds.
"""

import argparse
import json
import statistics
import sys
import time

import requests

PROTOCOL = "2025-06-18"


def parse_body(resp):
    ctype = resp.headers.get("content-type", "")
    if ctype.startswith("text/event-stream"):
        for line in resp.text.splitlines():
            if line.startswith("data:"):
                payload = line[5:].strip()
                if payload:
                    return json.loads(payload)
        raise ValueError("SSE answer without data line")
    return resp.json()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("tool")
    ap.add_argument("--token")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()

    s = requests.Session()
    s.headers.update({"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
    if args.token:
        s.headers["Authorization"] = f"Bearer {args.token}"

    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "latency.py", "version": "0"}},
    }
    r = s.post(args.url, json=init, timeout=30)
    r.raise_for_status()
    parse_body(r)
    sid = r.headers.get("mcp-session-id")
    if sid:
        s.headers["Mcp-Session-Id"] = sid
    s.headers["MCP-Protocol-Version"] = PROTOCOL
    r = s.post(args.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, timeout=30)
    if r.status_code not in (200, 202):
        sys.exit(f"notifications/initialized -> {r.status_code} {r.text[:200]}")

    last = {}

    def call(i):
        body = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": args.tool, "arguments": {"text": "hello"}}}
        t0 = time.perf_counter()
        r = s.post(args.url, json=body, timeout=30)
        msg = parse_body(r)
        dt = time.perf_counter() - t0
        last["ctype"] = r.headers.get("content-type")
        if r.status_code != 200 or "result" not in msg or msg["result"].get("isError"):
            sys.exit(f"call {i} failed: {r.status_code} {r.text[:300]}")
        if msg["result"]["content"][0]["text"] != "hello":
            sys.exit(f"call {i}: unexpected result {msg}")
        return dt

    for i in range(args.warmup):
        call(1000 + i)
    lat = sorted(call(i + 1) * 1000 for i in range(args.n))

    def pct(p):
        return lat[min(len(lat) - 1, int(round(p / 100 * len(lat))) - 1)] if lat else float("nan")

    print(
        f"n={len(lat)} session={'yes' if sid else 'no'} content-type={last.get('ctype')} "
        f"p50={pct(50):.2f}ms p90={pct(90):.2f}ms p99={pct(99):.2f}ms mean={statistics.mean(lat):.2f}ms max={lat[-1]:.2f}ms"
    )


if __name__ == "__main__":
    main()
