#!/usr/bin/env python3
"""Measure cedarpy (the Rust Cedar, from Python) on the benchmark workloads.

How to run:

    python3 -m venv .venv && .venv/bin/pip install -r Tests/Interop/requirements.txt
    .venv/bin/python scripts/bench/gen_workload.py --out /tmp/portcullis-bench
    .venv/bin/python scripts/bench/bench_cedarpy.py --workload /tmp/portcullis-bench \
        [--passes 5] [--max-seconds 60] [--json results.json] [--schema] [--write-expected]

--workload is a directory made by gen_workload.py (its nN/ subdirectories are
measured in order of N) or one nN/ directory.

For each workload the policies, entities (and with --schema the schema) are
parsed once, outside the timed region, and each request's context is
serialized once. After a warm-up pass, every request is timed on its own with
time.perf_counter_ns() around one `cedarpy.is_authorized` call, for --passes
passes (fewer, but at least 2, once a workload has taken --max-seconds).
Reported per N:

  - decisions/s: timed decisions / total timed seconds (per-call, includes
    the Python binding's overhead);
  - p50 / p99 / mean latency per decision in microseconds;
  - engine p50: the authorizer's own duration as cedarpy reports it
    (metrics.authz_duration_micros, whole microseconds; no Python overhead,
    no request building), and build p50: cedarpy's time to build the request
    (mostly parsing the context JSON: entity refs, datetime, ip);
  - batch decisions/s: all requests through one `is_authorized_batch` call;
  - allow / deny counts, requests with erroring policies, and a SHA-256 over
    the decisions in order ("allow\\n"/"deny\\n" per request), so that the Swift
    benchmark can be checked to agree.

--write-expected writes nN/expected.jsonl with cedarpy's answers in the format
`portcullis cedar authorize` prints: {"decision","reasons","errors"} per line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import statistics
import sys
import time
from typing import Any

import cedarpy

_POLICY_ID = re.compile(r"policy `([^`]+)`")


def error_policy_id(msg: str) -> str:
    """The policy id that a cedarpy error message names (the whole message if none)."""
    m = _POLICY_ID.search(msg)
    return m.group(1) if m else msg


def workload_dirs(root: str) -> list[str]:
    if os.path.isfile(os.path.join(root, "policies.cedar")):
        return [root]
    subs = [d for d in os.listdir(root) if re.fullmatch(r"n\d+", d)
            and os.path.isfile(os.path.join(root, d, "policies.cedar"))]
    if not subs:
        raise SystemExit(f"no workloads under {root} (expected nN/policies.cedar; run gen_workload.py)")
    return [os.path.join(root, d) for d in sorted(subs, key=lambda d: int(d[1:]))]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def bench_one(d: str, passes: int, use_schema: bool, write_expected: bool,
              max_seconds: float = float("inf")) -> dict[str, Any]:
    read = lambda name: open(os.path.join(d, name), encoding="utf-8").read()  # noqa: E731
    policies_text = read("policies.cedar")
    schema = None
    if use_schema:
        schema = cedarpy.Schema.from_str(read("schema.cedarschema"))
    t0 = time.perf_counter()
    ps = cedarpy.PolicySet.from_str(policies_text)
    t1 = time.perf_counter()
    ents = cedarpy.Entities.from_json_str(read("entities.json"), schema)
    t2 = time.perf_counter()
    raw_requests = json.loads(read("requests.json"))
    # Serialize each context once so the timed call does no JSON encoding of it.
    requests = [{**q, "context": json.dumps(q.get("context", {}))} for q in raw_requests]

    # Warm-up pass, which also records the answers.
    answers = []
    for q in requests:
        res = cedarpy.is_authorized(q, ps, ents, schema)
        if res.decision == cedarpy.Decision.NoDecision:
            raise SystemExit(f"{d}: cedarpy could not decide a request: {res.diagnostics.errors}")
        answers.append({
            "decision": res.decision.value.lower(),
            "reasons": sorted(res.diagnostics.reasons),
            "errors": sorted({error_policy_id(m) for m in res.diagnostics.errors}),
        })

    lat_ns: list[int] = []
    engine_us: list[int] = []
    build_us: list[int] = []
    perf = time.perf_counter_ns
    started = time.monotonic()
    done_passes = 0
    for p in range(passes):
        if p >= 2 and time.monotonic() - started > max_seconds:
            break
        done_passes += 1
        for i, q in enumerate(requests):
            s = perf()
            res = cedarpy.is_authorized(q, ps, ents, schema)
            e = perf()
            lat_ns.append(e - s)
            engine_us.append(res.metrics.get("authz_duration_micros", 0))
            build_us.append(res.metrics.get("build_request_duration_micros", 0))
            if res.decision.value.lower() != answers[i]["decision"]:
                raise SystemExit(f"{d}: request {i} changed its decision between passes")

    bt0 = time.perf_counter_ns()
    batch = cedarpy.is_authorized_batch(requests, ps, ents, schema)
    bt1 = time.perf_counter_ns()
    assert [b.decision.value.lower() for b in batch] == [a["decision"] for a in answers]

    if write_expected:
        with open(os.path.join(d, "expected.jsonl"), "w", encoding="utf-8") as fh:
            for a in answers:
                fh.write(json.dumps(a) + "\n")

    lat_us = sorted(x / 1000.0 for x in lat_ns)
    eng = sorted(engine_us)
    decisions = [a["decision"] for a in answers]
    digest = hashlib.sha256("".join(x + "\n" for x in decisions).encode()).hexdigest()
    n_policies = len(ps) if hasattr(ps, "__len__") else policies_text.count(";")
    return {
        "workload": os.path.basename(os.path.normpath(d)),
        "policies": n_policies,
        "entities": len(ents),
        "requests": len(requests),
        "passes": done_passes,
        "schema": use_schema,
        "parse_policies_ms": round((t1 - t0) * 1000, 2),
        "parse_entities_ms": round((t2 - t1) * 1000, 2),
        "decisions_per_s": round(len(lat_ns) / (sum(lat_ns) / 1e9), 1),
        "p50_us": round(percentile(lat_us, 50), 2),
        "p99_us": round(percentile(lat_us, 99), 2),
        "mean_us": round(statistics.fmean(lat_us), 2),
        "engine_p50_us": percentile(eng, 50),
        "engine_p99_us": percentile(eng, 99),
        "request_build_p50_us": percentile(sorted(build_us), 50),
        "batch_decisions_per_s": round(len(requests) / ((bt1 - bt0) / 1e9), 1),
        "allow": decisions.count("allow"),
        "deny": decisions.count("deny"),
        "requests_with_errors": sum(1 for a in answers if a["errors"]),
        "mean_reasons": round(statistics.fmean(len(a["reasons"]) for a in answers), 2),
        "decisions_sha256": digest,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| N policies | entities | requests | passes | decisions/s | p50 µs | p99 µs | mean µs | engine p50 µs "
            "| build p50 µs | batch decisions/s | allow | deny | with errors | decisions sha256 |")
    sep = "|" + "---|" * 15
    lines = [head, sep]
    for r in rows:
        lines.append(
            f"| {r['policies']} | {r['entities']} | {r['requests']} | {r['passes']} | {r['decisions_per_s']:,.0f} | {r['p50_us']:.1f} "
            f"| {r['p99_us']:.1f} | {r['mean_us']:.1f} | {r['engine_p50_us']} | {r['request_build_p50_us']} | {r['batch_decisions_per_s']:,.0f} "
            f"| {r['allow']} | {r['deny']} | {r['requests_with_errors']} | `{r['decisions_sha256'][:16]}` |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", required=True, help="directory made by gen_workload.py, or one nN/ of it")
    ap.add_argument("--passes", type=int, default=5, help="timed passes over the requests (after one warm-up)")
    ap.add_argument("--max-seconds", type=float, default=60.0,
                    help="per workload: stop adding timed passes after this long (at least 2 passes)")
    ap.add_argument("--schema", action="store_true", help="pass the workload's schema to cedarpy")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    ap.add_argument("--write-expected", action="store_true", help="write nN/expected.jsonl (cedarpy's answers)")
    args = ap.parse_args(argv)
    rows = []
    for d in workload_dirs(args.workload):
        row = bench_one(d, args.passes, args.schema, args.write_expected, args.max_seconds)
        rows.append(row)
        print(f"{row['workload']}: {row['decisions_per_s']:,.0f} decisions/s, p50 {row['p50_us']} µs, "
              f"p99 {row['p99_us']} µs, allow {row['allow']} / deny {row['deny']}", file=sys.stderr)
    print(markdown(rows))
    if args.json:
        meta = {"cedarpy": getattr(cedarpy, "__version__", None) or _dist_version(),
                "python": platform.python_version(), "machine": platform.machine(),
                "cpus": os.cpu_count(), "passes": args.passes, "schema": args.schema}
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": rows}, fh, indent=1)
    return 0


def _dist_version() -> str | None:
    try:
        from importlib.metadata import version
        return version("cedarpy")
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
