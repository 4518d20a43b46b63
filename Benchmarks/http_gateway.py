#!/usr/bin/env python3
"""HTTP gateway benchmark (issue #13): the latency the gateway adds to a GET and a POST, direct versus through
`portcullis serve`, at concurrency 1 and 16, with the same client and the same upstream in one run.

    swift build -c release --product portcullis
    .venv/bin/python Benchmarks/http_gateway.py --bin .build/release/portcullis [--calls 2000] [--warmup 200]

The upstream is a minimal keep-alive HTTP/1.1 server in this process (ThreadingHTTPServer: GET /api/tickets/{id}
answers a small JSON object, POST /api/tickets echoes the JSON body). The gateway is a release `portcullis serve`
with its own data directory (SQLite, the Merkle audit log with fsync, default policies, rate limits and the
behavioural monitor off), an
HTTP upstream `crm` with an OpenAPI-style operation table, read and write credentials from the vault, and an agent
of trust level 3 (writes allowed) with a bearer token for `<issuer>/http/crm`. Each worker thread has its own
keep-alive `requests.Session`; latency is per call at the client, request sent to body read; every answer is
checked. The client and upstream are Python, so absolute throughput is theirs (about a thousand calls/s here):
compare the *added* latency of the two paths, measured side by side.
"""
from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Tests" / "Interop"))
os.environ.setdefault("PORTCULLIS_BIN", "")

import requests  # noqa: E402


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Without it, headers and body in two segments meet the peer's delayed ACK: 40 ms per call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        body = json.dumps({"id": self.path.rsplit("/", 1)[1], "title": "Printer on fire", "status": "open"}).encode()
        self._send(200, body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b"{}"
        self._send(201, b'{"created":true,"echo":' + data + b"}")

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        # Headers and body in one write.
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()

    def log_message(self, *args):
        pass


def measure(label, concurrency, calls, warmup, make_call):
    latencies: list[float] = []
    lock = threading.Lock()
    per_worker = calls // concurrency

    def worker():
        session = requests.Session()
        for _ in range(warmup // concurrency + 1):
            make_call(session)
        mine = []
        for _ in range(per_worker):
            start = time.perf_counter()
            make_call(session)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1e6
    p99 = latencies[int(len(latencies) * 0.99)] * 1e6
    return {"label": label, "concurrency": concurrency, "calls": len(latencies), "p50": p50, "p99": p99,
            "rate": len(latencies) / elapsed}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{upstream.server_address[1]}"

    os.environ["PORTCULLIS_BIN"] = str(Path(args.bin).resolve())
    from oauth_fixtures import running_server  # noqa: E402

    no_limit = {"perMinute": 1_000_000, "burst": 100_000}
    # The behavioural monitor would (rightly) see a burst and ask for approval of writes: off for the benchmark.
    config = {"gateway": {"rateLimit": no_limit, "agentRateLimit": no_limit, "monitoring": {"enabled": False}, "httpUpstreams": [{
        "name": "crm", "baseURL": base + "/api", "credentials": {"read": "vault:crm.read", "write": "vault:crm.write"},
        "operations": [{"method": "GET", "path": "/tickets/{id}"}, {"method": "POST", "path": "/tickets"}]}]}}
    results = []
    with tempfile.TemporaryDirectory(prefix="portcullis-http-bench-") as tmp, running_server(Path(tmp), config) as server:
        for name in ("crm.read", "crm.write"):
            r = server.admin("PUT", f"/admin/vault/{name}", {"kind": "header", "metadata": {"header": "X-Api-Key"},
                                                              "secret": {"value": f"key-{name}"}})
            assert r.status_code == 200, r.text
        agent = server.new_agent(scopes=["http"], audiences=[server.base + "/http/crm"], name=f"bench-{uuid.uuid4().hex[:6]}",
                                 trust_level=3, max_concurrent_sessions=500)
        token = agent.access_token([("scope", "http"), ("resource", server.base + "/http/crm")])
        auth = {"Authorization": f"Bearer {token}"}
        body = {"title": "new ticket", "priority": 2, "tags": ["printer", "fire"]}

        def direct_get(s):
            r = s.get(base + "/api/tickets/42", headers={"X-Api-Key": "k"}, timeout=30)
            assert r.status_code == 200 and r.json()["id"] == "42", r.text

        def gateway_get(s):
            r = s.get(server.base + "/http/crm/tickets/42", headers=auth, timeout=30)
            assert r.status_code == 200 and r.json()["id"] == "42", r.text

        def direct_post(s):
            r = s.post(base + "/api/tickets", json=body, headers={"X-Api-Key": "k"}, timeout=30)
            assert r.status_code == 201 and r.json()["created"], r.text

        def gateway_post(s):
            r = s.post(server.base + "/http/crm/tickets", json=body, headers=auth, timeout=30)
            assert r.status_code == 201 and r.json()["created"], r.text

        for concurrency in (1, 16):
            for label, fn in (("direct GET", direct_get), ("portcullis GET", gateway_get),
                              ("direct POST", direct_post), ("portcullis POST", gateway_post)):
                results.append(measure(label, concurrency, args.calls, args.warmup, fn))

    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d')}")
    print("| path | concurrency | calls | p50 µs | p99 µs | calls/s | added p50 µs | added p99 µs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        added = ""
        if r["label"].startswith("portcullis"):
            d = next(x for x in results if x["concurrency"] == r["concurrency"] and x["label"] == "direct " + r["label"].split()[1])
            added = f"{r['p50'] - d['p50']:,.0f} | {r['p99'] - d['p99']:,.0f}"
        else:
            added = " | "
        print(f"| {r['label']} | {r['concurrency']} | {r['calls']:,} | {r['p50']:,.0f} | {r['p99']:,.0f} | {r['rate']:,.0f} | {added} |")


if __name__ == "__main__":
    main()
