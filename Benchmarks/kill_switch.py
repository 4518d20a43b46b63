#!/usr/bin/env python3
"""Kill-switch propagation benchmark (issue #6; a benchmark, not a test: pytest does not collect it).

How to run (from the repository root, after `swift build -c release --product portcullis` and
`python3 -m venv .venv && .venv/bin/pip install -r Tests/Interop/requirements.txt`):

    .venv/bin/python Benchmarks/kill_switch.py --bin .build/release/portcullis --trials 100 --callers 4

Options: --bin (default .build/release/portcullis, else .build/debug/portcullis), --trials (100),
--callers K (4), --warmup (3 trials not counted), --json FILE (every trial's figures), --verbose.

What it does: starts `portcullis serve` on 127.0.0.1 with a fresh data directory and the SDK-built
test upstream (Tests/Interop/mcp_test_upstream.py) as `web`, per-agent rate limits out of the way,
monitoring on with a single `alert` rule (so that no automatic response acts before the kill).
Then, per trial:

  1. registers a new agent and gets an `mcp` access token for the gateway;
  2. starts K callers (separate processes, so the GIL of one cannot delay another or the kill),
     each calling `web.echo` in a loop with stateless (2026-07-28) tools/call requests over a
     keep-alive connection, and waits until every caller has had a successful call;
  3. sends POST /admin/kill {"agent", "reason"} with the admin token over a keep-alive connection
     and measures (i) the kill round trip: from sending the request to receiving the answer;
  4. lets every caller go on until it has seen its first refusal and has sent at least 2 calls
     after the kill answer arrived, and measures (ii) propagation: from sending the kill until
     the last caller received its first refusal (a refused in-flight call counts);
  5. checks that no call sent after the kill answer arrived succeeded (a violation of the kill
     switch: the script exits 1) and that no call was refused before the kill (an invalid trial).

Times are CLOCK_MONOTONIC (time.monotonic_ns, shared by the processes on Linux). It prints the
median, p90 and maximum of (i) and (ii), the server's own `took_ms`, and the machine (nproc, CPU
model). The issue's target: propagation under 50 ms on one node.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INTEROP = REPO / "Tests" / "Interop"


# --------------------------------------------------------------------------- callers (child processes)


def caller(conn, url: str) -> None:
    """Runs in a child process. Commands from the parent over `conn`:
    ("start", token)       loop on web.echo; send ("ready",) after the first success;
    ("killed", t_ns)       keep going until a refusal was seen and 2 calls were sent after t_ns,
                           then send ("records", [(sent_ns, done_ns, ok, status), ...]);
    ("quit",)              exit."""
    import requests

    http = requests.Session()
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    while True:
        command = conn.recv()
        if command[0] == "quit":
            return
        token = command[1]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
                   "Mcp-Method": "tools/call", "Mcp-Name": "web.echo"}
        records = []
        ready_sent = False
        killed_at = None
        deadline = None
        n = 0
        while True:
            n += 1
            body = json.dumps({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                               "params": {"name": "web.echo", "arguments": {"text": f"call {n}"}, "_meta": meta}})
            sent = time.monotonic_ns()
            try:
                r = http.post(url, data=body, headers=headers, timeout=10)
                status = r.status_code
                ok = False
                if status == 200:
                    result = r.json().get("result")
                    ok = isinstance(result, dict) and not result.get("isError", False)
            except Exception:  # noqa: BLE001 - a broken connection is a refusal too
                status, ok = 0, False
            done = time.monotonic_ns()
            records.append((sent, done, ok, status))
            if ok and not ready_sent:
                conn.send(("ready",))
                ready_sent = True
            if killed_at is None and conn.poll():
                message = conn.recv()
                if message[0] == "killed":
                    killed_at = message[1]
                    deadline = time.monotonic_ns() + 10_000_000_000
            if killed_at is not None:
                refused = any(not r[2] for r in records)
                after = sum(1 for r in records if r[0] > killed_at)
                if (refused and after >= 2) or time.monotonic_ns() > deadline:
                    conn.send(("records", records))
                    break
            elif not ready_sent and len(records) > 2000:
                conn.send(("records", records))  # never succeeded: the parent reports it
                break


# --------------------------------------------------------------------------- the parent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {model}; {platform.system()} {platform.release()}; Python {platform.python_version()}"


def pick_binary(arg: str | None) -> Path:
    if arg:
        return Path(arg).resolve()
    release = REPO / ".build" / "release" / "portcullis"
    return release if release.is_file() else REPO / ".build" / "debug" / "portcullis"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", help="the portcullis executable (default .build/release/portcullis, else debug)")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--callers", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", help="write every trial's figures to this file")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    binary = pick_binary(args.bin)
    if not binary.is_file():
        print(f"no portcullis executable at {binary}; build it or pass --bin", file=sys.stderr)
        return 2
    os.environ["PORTCULLIS_BIN"] = str(binary)
    sys.path.insert(0, str(INTEROP))
    from mcp_fixtures import HTTPUpstream  # noqa: E402 - after PORTCULLIS_BIN is set
    from oauth_fixtures import Server  # noqa: E402

    print(f"kill-switch benchmark: {binary}", flush=True)
    print(f"machine: {machine()}", flush=True)
    print(f"trials: {args.trials} (+{args.warmup} warm-up), callers per trial: {args.callers}", flush=True)

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="portcullis-kill-bench-") as tmp:
        work = Path(tmp)
        upstream = HTTPUpstream(work / "web", "web")
        config = {"gateway": {
            "upstreams": [{"name": "web", "url": upstream.url}],
            "tools": {"web.echo": {"effect": "read"}},
            "rateLimit": {"perMinute": 1_000_000, "burst": 100_000},
            "response": {"rules": [{"minScore": 1, "action": "alert"}]},
        }}
        server = Server(work, config)
        pipes, procs = [], []
        try:
            server.start()
            mcp = server.base + "/mcp"
            for _ in range(args.callers):
                parent, child = ctx.Pipe()
                p = ctx.Process(target=caller, args=(child, mcp), daemon=True)
                p.start()
                pipes.append(parent)
                procs.append(p)
            admin = server.session
            headers = {"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"}
            admin.get(server.base + "/healthz", timeout=10)  # open the keep-alive connection

            trials, violations, invalid = [], 0, 0
            for i in range(args.warmup + args.trials):
                agent = server.new_agent(scopes=("mcp",), audiences=(mcp,), trust_level=1,
                                         max_concurrent_sessions=1000)
                token = agent.access_token([("resource", mcp), ("scope", "mcp")])
                for conn in pipes:
                    conn.send(("start", token))
                for conn in pipes:
                    if not conn.poll(30):
                        raise RuntimeError("a caller had no successful call within 30 s")
                    message = conn.recv()
                    if message[0] != "ready":
                        raise RuntimeError(f"a caller never succeeded: {message[1][-3:]}")

                body = json.dumps({"agent": agent.id, "reason": f"benchmark trial {i}"})
                sent = time.monotonic_ns()
                r = admin.post(server.base + "/admin/kill", data=body, headers=headers, timeout=30)
                returned = time.monotonic_ns()
                if r.status_code != 200:
                    raise RuntimeError(f"kill failed: {r.status_code} {r.text}")
                answer = r.json()
                for conn in pipes:
                    conn.send(("killed", returned))
                records = []
                for conn in pipes:
                    if not conn.poll(30):
                        raise RuntimeError("a caller did not report within 30 s")
                    records.append(conn.recv()[1])

                first_refusals, bad, early = [], 0, 0
                for recs in records:
                    refusals = [x for x in recs if not x[2]]
                    first_refusals.append(refusals[0][1] if refusals else None)
                    bad += sum(1 for x in recs if x[0] > returned and x[2])
                    early += sum(1 for x in refusals if x[1] < sent)
                complete = all(f is not None for f in first_refusals)
                trial = {"trial": i - args.warmup, "kill_ms": (returned - sent) / 1e6,
                         "propagation_ms": (max(first_refusals) - sent) / 1e6 if complete else None,
                         "server_took_ms": answer.get("took_ms"), "calls_cancelled": answer.get("calls_cancelled"),
                         "calls": sum(len(x) for x in records), "violations": bad, "refused_before_kill": early}
                if i < args.warmup:
                    continue
                violations += bad
                if early or not complete:
                    invalid += 1
                trials.append(trial)
                if args.verbose:
                    print(json.dumps(trial), flush=True)
        except BaseException:
            print(f"server log (tail):\n{server.log_tail()}", file=sys.stderr)
            raise
        finally:
            for conn in pipes:
                try:
                    conn.send(("quit",))
                except OSError:
                    pass
            for p in procs:
                p.join(5)
                if p.is_alive():
                    p.kill()
            code = server.stop()
            upstream.stop()
            if code != 0:
                print(f"warning: portcullis serve exited with {code}", file=sys.stderr)

    def summary(name: str, values: list[float]) -> str:
        return (f"{name:<34} median {statistics.median(values):7.2f} ms   p90 {percentile(values, 90):7.2f} ms   "
                f"max {max(values):7.2f} ms")

    kill = [t["kill_ms"] for t in trials]
    propagation = [t["propagation_ms"] for t in trials if t["propagation_ms"] is not None]
    took = [float(t["server_took_ms"]) for t in trials if isinstance(t["server_took_ms"], (int, float))]
    print(f"\n{len(trials)} trials, {sum(t['calls'] for t in trials)} calls", flush=True)
    print(summary("(i) kill API round trip", kill))
    if propagation:
        print(summary("(ii) propagation to every caller", propagation))
    if took:
        print(summary("server took_ms", took))
    print(f"calls sent after the kill returned that succeeded: {violations}")
    print(f"invalid trials (refused before the kill, or a caller never refused): {invalid}")
    if args.json:
        Path(args.json).write_text(json.dumps({"binary": str(binary), "machine": machine(), "callers": args.callers,
                                               "trials": trials}, indent=2))
    return 1 if violations or invalid else 0


if __name__ == "__main__":
    sys.exit(main())
