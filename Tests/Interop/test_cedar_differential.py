"""Differential tests: `portcullis cedar authorize` against cedarpy (the Rust Cedar).

How to run (after `swift build --product portcullis`):

    python3 -m venv .venv && .venv/bin/pip install -r Tests/Interop/requirements.txt
    .venv/bin/pytest -q Tests/Interop

    # another binary, seed or case count:
    PORTCULLIS_BIN=.build/release/portcullis CEDAR_DIFF_SEED=7 CEDAR_DIFF_CASES=2000 \
        .venv/bin/pytest -q Tests/Interop/test_cedar_differential.py
    # one case:
    .venv/bin/pytest -q Tests/Interop -k case-0017

Each generated case (Tests/Interop/cedar_gen.py) is written to a temporary
directory, the CLI runs once over all of its requests, cedarpy runs over the
same files, and each request's decision, set of determining policies
(`reasons`) and set of erroring policies (`errors`) must be equal. A failing
case is also written, with both answers, under CEDAR_DIFF_FAILURES (default
<repo>/.build/cedar-diff-failures/seed-<seed>/case-NNNN/).

CLI contract:
    portcullis cedar authorize --policies FILE --entities FILE [--schema FILE] --requests FILE
prints one JSON line per request, in order:
    {"decision":"allow"|"deny","reasons":[policy ids],"errors":[policy ids]}
and exits non-zero with a message on stderr when an input is malformed or missing.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cedarpy
import pytest

import cedar_gen
from conftest import REPO, diff_cases, diff_seed, failures_dir, require_portcullis

CLI_TIMEOUT = 120


def run_cli(binary: Path, policies: Path, entities: Path, requests: Path,
            schema: Path | None = None, policy_index: str | None = None) -> subprocess.CompletedProcess:
    cmd = [str(binary), "cedar", "authorize", "--policies", str(policies), "--entities", str(entities)]
    if schema is not None:
        cmd += ["--schema", str(schema)]
    cmd += ["--requests", str(requests)]
    if policy_index is not None:
        cmd += ["--policy-index", policy_index]
    return subprocess.run(cmd, capture_output=True, timeout=CLI_TIMEOUT)


def cli_command_line(binary: Path, directory: Path, schema: bool = False) -> str:
    parts = [str(binary), "cedar", "authorize", "--policies", str(directory / "policies.cedar"),
             "--entities", str(directory / "entities.json")]
    if schema:
        parts += ["--schema", str(directory / "schema.cedarschema")]
    parts += ["--requests", str(directory / "requests.json")]
    return " ".join(shlex.quote(p) for p in parts)


def parse_cli_output(stdout: bytes, count: int) -> list[dict[str, Any]]:
    """The CLI's per-request answers; raises AssertionError (with the output)
    when they are not `count` well-formed JSON lines."""
    text = stdout.decode("utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == count, (
        f"expected {count} output lines (one per request), got {len(lines)}:\n{text[:4000]}")
    out = []
    for i, ln in enumerate(lines):
        try:
            obj = json.loads(ln)
        except json.JSONDecodeError as e:
            raise AssertionError(f"output line {i} is not JSON ({e}): {ln!r}") from None
        assert isinstance(obj, dict) and {"decision", "reasons", "errors"} <= obj.keys(), (
            f"output line {i} lacks decision/reasons/errors: {ln!r}")
        assert obj["decision"] in ("allow", "deny"), f"output line {i}: bad decision {obj['decision']!r}"
        out.append(obj)
    return out


def compare(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[int]:
    """Indices of requests whose decision, reason set or error set differ."""
    bad = []
    for i, (e, a) in enumerate(zip(expected, actual)):
        if (e["decision"] != a["decision"] or set(e["reasons"]) != set(a["reasons"])
                or set(e["errors"]) != set(a["errors"])):
            bad.append(i)
    return bad


def save_failure(case: cedar_gen.Case, expected: list[dict], actual_stdout: bytes, stderr: bytes) -> Path:
    directory = failures_dir() / f"seed-{case.seed}" / case.name
    if directory.exists():
        shutil.rmtree(directory)
    cedar_gen.dump_case(case, str(directory), expected)
    (directory / "actual.jsonl").write_bytes(actual_stdout)
    (directory / "stderr.txt").write_bytes(stderr)
    return directory


def describe_mismatch(case: cedar_gen.Case, bad: list[int], expected: list[dict], actual: list[dict],
                      saved: Path, binary: Path) -> str:
    out = [f"{case.name} (seed {case.seed}): {len(bad)} of {len(case.requests)} requests differ from cedarpy.",
           f"Case files, cedarpy's answers (expected.jsonl) and the CLI's (actual.jsonl): {saved}",
           f"Reproduce: {cli_command_line(binary, saved)}",
           f"       or: CEDAR_DIFF_SEED={case.seed} pytest Tests/Interop -k {case.name}",
           "", "---- policies.cedar ----", case.policies.rstrip(),
           "", "---- entities.json ----"]
    out += [json.dumps(e, ensure_ascii=False) for e in case.entities]
    for i in bad[:5]:
        e, a = expected[i], actual[i]
        involved = sorted(set(e["reasons"]) ^ set(a["reasons"]) | set(e["errors"]) ^ set(a["errors"]))
        out += ["", f"---- request {i} ----", json.dumps(case.requests[i], ensure_ascii=False),
                f"cedarpy:    decision={e['decision']} reasons={sorted(e['reasons'])} errors={sorted(e['errors'])}",
                f"portcullis: decision={a['decision']} reasons={sorted(a['reasons'])} errors={sorted(a['errors'])}"]
        for msg in e.get("error_messages", []):
            out.append(f"  cedarpy error: {msg}")
        for pid in involved:
            if pid.startswith("policy") and pid[6:].isdigit() and int(pid[6:]) < len(case.policy_texts):
                out.append(f"  {pid}: {case.policy_texts[int(pid[6:])]}")
    if len(bad) > 5:
        out.append(f"... and {len(bad) - 5} more requests (see {saved})")
    return "\n".join(out)


@pytest.mark.parametrize("index", range(diff_cases()), ids=lambda i: f"case-{i:04d}")
def test_differential(index: int, tmp_path: Path) -> None:
    binary = require_portcullis()
    case = cedar_gen.generate_case(diff_seed(), index)
    expected = cedar_gen.cedarpy_results(case)
    cedar_gen.dump_case(case, str(tmp_path))
    # The scope index must not change any result: check the indexed path and the
    # full scan (the specification's definition) against the reference.
    for mode in ("always", "never"):
        check_case_with_index_mode(binary, case, expected, tmp_path, mode)


def check_case_with_index_mode(binary: Path, case, expected, tmp_path: Path, mode: str) -> None:
    proc = run_cli(binary, tmp_path / "policies.cedar", tmp_path / "entities.json", tmp_path / "requests.json",
                   policy_index=mode)
    if proc.returncode != 0:
        saved = save_failure(case, expected, proc.stdout, proc.stderr)
        pytest.fail(
            f"{case.name}: portcullis exited {proc.returncode} on inputs that cedarpy accepts.\n"
            f"stderr: {proc.stderr.decode('utf-8', 'replace')[:2000]}\n"
            f"Case files: {saved}\nReproduce: {cli_command_line(binary, saved)}\n\n"
            f"---- policies.cedar ----\n{case.policies}", pytrace=False)
    try:
        actual = parse_cli_output(proc.stdout, len(case.requests))
    except AssertionError as e:
        saved = save_failure(case, expected, proc.stdout, proc.stderr)
        pytest.fail(f"{case.name}: {e}\nCase files: {saved}\nReproduce: {cli_command_line(binary, saved)}",
                    pytrace=False)
    bad = compare(expected, actual)
    if bad:
        saved = save_failure(case, expected, proc.stdout, proc.stderr)
        pytest.fail(f"[--policy-index {mode}] " + describe_mismatch(case, bad, expected, actual, saved, binary),
                    pytrace=False)


def test_generator_self_check() -> None:
    """The generator itself (no CLI needed): every policy set parses and every
    store loads in cedarpy, decisions mix allow and deny, a good share of
    requests have erroring policies, and every listed feature appears."""
    stats = cedar_gen.self_check(diff_seed(), 120)
    problems = cedar_gen.check_stats(stats)
    assert not problems, problems


# ---------------------------------------------------------------------------
# Hand-written sanity checks (fast to read when something basic breaks).

SIMPLE_ENTITIES = [
    {"uid": {"type": "User", "id": "alice"}, "attrs": {"level": 3}, "parents": [{"type": "Group", "id": "staff"}]},
    {"uid": {"type": "Group", "id": "staff"}, "attrs": {}, "parents": []},
    {"uid": {"type": "Doc", "id": "d1"}, "attrs": {"owner": {"__entity": {"type": "User", "id": "alice"}}},
     "parents": []},
]
SIMPLE_POLICIES = """\
permit (principal in Group::"staff", action == Action::"view", resource);
forbid (principal, action, resource) when { principal.level > 5 };
permit (principal, action == Action::"edit", resource) when { resource.owner == principal };
permit (principal, action, resource) when { principal.nope };
"""
SIMPLE_REQUESTS = [
    {"principal": {"type": "User", "id": "alice"}, "action": {"type": "Action", "id": "view"},
     "resource": {"type": "Doc", "id": "d1"}, "context": {}},
    {"principal": {"type": "User", "id": "alice"}, "action": {"type": "Action", "id": "edit"},
     "resource": {"type": "Doc", "id": "d1"}, "context": {}},
    {"principal": {"type": "User", "id": "bob"}, "action": {"type": "Action", "id": "view"},
     "resource": {"type": "Doc", "id": "d1"}, "context": {}},
]
SIMPLE_EXPECTED = [
    {"decision": "allow", "reasons": ["policy0"], "errors": ["policy3"]},
    {"decision": "allow", "reasons": ["policy2"], "errors": ["policy3"]},
    {"decision": "deny", "reasons": [], "errors": ["policy1", "policy3"]},
]


def write_inputs(d: Path, policies: str = SIMPLE_POLICIES, entities: Any = SIMPLE_ENTITIES,
                 requests: Any = SIMPLE_REQUESTS) -> tuple[Path, Path, Path]:
    p, e, r = d / "policies.cedar", d / "entities.json", d / "requests.json"
    p.write_text(policies, encoding="utf-8")
    e.write_text(entities if isinstance(entities, str) else json.dumps(entities), encoding="utf-8")
    r.write_text(requests if isinstance(requests, str) else json.dumps(requests), encoding="utf-8")
    return p, e, r


def test_simple_case_matches_cedarpy_and_hand_expectations(tmp_path: Path) -> None:
    binary = require_portcullis()
    got_py = cedarpy.is_authorized_batch(SIMPLE_REQUESTS, SIMPLE_POLICIES, SIMPLE_ENTITIES)
    py = [{"decision": r.decision.value.lower(), "reasons": sorted(r.diagnostics.reasons),
           "errors": sorted(cedar_gen.error_policy_id(m) for m in r.diagnostics.errors)} for r in got_py]
    assert py == SIMPLE_EXPECTED, "the hand expectations disagree with cedarpy itself"
    proc = run_cli(binary, *write_inputs(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    actual = parse_cli_output(proc.stdout, len(SIMPLE_REQUESTS))
    normalized = [{"decision": a["decision"], "reasons": sorted(a["reasons"]), "errors": sorted(a["errors"])}
                  for a in actual]
    assert normalized == SIMPLE_EXPECTED


def test_empty_policy_set_denies(tmp_path: Path) -> None:
    binary = require_portcullis()
    proc = run_cli(binary, *write_inputs(tmp_path, policies=""))
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    for a in parse_cli_output(proc.stdout, len(SIMPLE_REQUESTS)):
        assert (a["decision"], a["reasons"], a["errors"]) == ("deny", [], [])


def test_no_requests_prints_nothing(tmp_path: Path) -> None:
    binary = require_portcullis()
    proc = run_cli(binary, *write_inputs(tmp_path, requests="[]"))
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert proc.stdout.strip() == b""


# ---------------------------------------------------------------------------
# Malformed and missing inputs: non-zero exit, a message on stderr. Each bad
# input is first checked to be rejected by cedarpy too.

MALFORMED_POLICIES = {
    "syntax-error": 'permit(principal, action, resource) when { principal.level > };',
    "unterminated-string": 'permit(principal, action, resource) when { "abc };',
    "unknown-effect": 'allow(principal, action, resource);',
    "bad-escape": 'permit(principal, action, resource) when { "\\q" == "" };',
    "integer-too-large": 'permit(principal, action, resource) when { 9223372036854775808 == 1 };',
    "missing-semicolon": 'permit(principal, action, resource)',
    "duplicate-record-key": 'permit(principal, action, resource) when { {a: 1, a: 2} == {} };',
    "chained-relations": 'permit(principal, action, resource) when { 1 < 2 < 3 };',
    "set-in-principal-scope": 'permit(principal in [User::"a"], action, resource);',
    "unknown-function": 'permit(principal, action, resource) when { foo("x") };',
    "second-policy-bad": 'permit(principal, action, resource);\nforbid(principal, action, resource) when { && };',
}

MALFORMED_ENTITIES = {
    "invalid-json": '[{"uid": ',
    "not-an-array": '{"uid": {"type": "User", "id": "a"}, "attrs": {}, "parents": []}',
    "missing-uid": '[{"attrs": {}, "parents": []}]',
    "uid-without-id": '[{"uid": {"type": "User"}, "attrs": {}, "parents": []}]',
    "float-attribute": '[{"uid": {"type": "User", "id": "a"}, "attrs": {"x": 1.5}, "parents": []}]',
    "bad-extension-value": ('[{"uid": {"type": "User", "id": "a"}, '
                            '"attrs": {"x": {"__extn": {"fn": "decimal", "arg": "1.23456"}}}, "parents": []}]'),
    "parent-cycle": ('[{"uid": {"type": "User", "id": "a"}, "attrs": {}, "parents": [{"type": "User", "id": "b"}]},'
                     ' {"uid": {"type": "User", "id": "b"}, "attrs": {}, "parents": [{"type": "User", "id": "a"}]}]'),
    "conflicting-duplicate-entity": ('[{"uid": {"type": "User", "id": "a"}, "attrs": {}, "parents": []},'
                                     ' {"uid": {"type": "User", "id": "a"}, "attrs": {"x": 1}, "parents": []}]'),
    "duplicate-attribute-key": '[{"uid": {"type": "User", "id": "a"}, "attrs": {"x": 1, "x": 2}, "parents": []}]',
}


def _req(**over: Any) -> dict:
    r = {"principal": {"type": "User", "id": "alice"}, "action": {"type": "Action", "id": "view"},
         "resource": {"type": "Doc", "id": "d1"}, "context": {}}
    r.update(over)
    return r


MALFORMED_REQUESTS = {
    "invalid-json": '[{"principal": ',
    "not-an-array": json.dumps(_req()),
    "element-not-object": "[1]",
    "id-not-string": json.dumps([_req(principal={"type": "User", "id": 5})]),
    "context-not-object": json.dumps([_req(context=[1])]),
    "context-float": json.dumps([_req(context={"x": 1.5})]),
    "context-bad-extension": json.dumps([_req(context={"x": {"__extn": {"fn": "decimal", "arg": "1.23456"}}})]),
    "bad-entity-type": json.dumps([_req(principal={"type": "Us er", "id": "a"})]),
}


def cedarpy_rejects_request(text: str) -> bool:
    try:
        reqs = json.loads(text)
        if not isinstance(reqs, list) or not all(isinstance(r, dict) for r in reqs):
            return True
        if any(not isinstance(r.get("context", {}), dict) for r in reqs):
            return True
        results = cedarpy.is_authorized_batch(reqs, SIMPLE_POLICIES, SIMPLE_ENTITIES)
    except Exception:
        return True
    return any(r.decision == cedarpy.Decision.NoDecision for r in results)


def assert_rejected(proc: subprocess.CompletedProcess, what: str) -> str:
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode != 0, (
        f"portcullis accepted {what} (exit 0); stdout: {proc.stdout.decode('utf-8', 'replace')[:500]}")
    assert stderr.strip(), f"portcullis rejected {what} (exit {proc.returncode}) but wrote nothing on stderr"
    return stderr


@pytest.mark.parametrize("name", sorted(MALFORMED_POLICIES))
def test_malformed_policies_rejected(name: str, tmp_path: Path) -> None:
    text = MALFORMED_POLICIES[name]
    with pytest.raises(Exception):
        cedarpy.PolicySet.from_str(text)
    binary = require_portcullis()
    assert_rejected(run_cli(binary, *write_inputs(tmp_path, policies=text)), f"malformed policies ({name}): {text!r}")


@pytest.mark.parametrize("name", sorted(MALFORMED_ENTITIES))
def test_malformed_entities_rejected(name: str, tmp_path: Path) -> None:
    text = MALFORMED_ENTITIES[name]
    with pytest.raises(Exception):
        cedarpy.Entities.from_json_str(text)
    binary = require_portcullis()
    assert_rejected(run_cli(binary, *write_inputs(tmp_path, entities=text)), f"malformed entities ({name}): {text!r}")


@pytest.mark.parametrize("name", sorted(MALFORMED_REQUESTS))
def test_malformed_requests_rejected(name: str, tmp_path: Path) -> None:
    text = MALFORMED_REQUESTS[name]
    assert cedarpy_rejects_request(text), f"cedarpy accepts request input {name}; the test is wrong"
    binary = require_portcullis()
    assert_rejected(run_cli(binary, *write_inputs(tmp_path, requests=text)), f"malformed requests ({name}): {text!r}")


@pytest.mark.parametrize("missing", ["policies", "entities", "requests"])
def test_missing_file_rejected(missing: str, tmp_path: Path) -> None:
    binary = require_portcullis()
    files = dict(zip(("policies", "entities", "requests"), write_inputs(tmp_path)))
    gone = tmp_path / f"no-such-{missing}-file.json"
    files[missing] = gone
    stderr = assert_rejected(run_cli(binary, files["policies"], files["entities"], files["requests"]),
                             f"a missing {missing} file")
    assert gone.name in stderr, f"the message should name the missing file {gone}; stderr was: {stderr}"


def test_missing_required_option_rejected(tmp_path: Path) -> None:
    binary = require_portcullis()
    p, e, _ = write_inputs(tmp_path)
    proc = subprocess.run([str(binary), "cedar", "authorize", "--policies", str(p), "--entities", str(e)],
                          capture_output=True, timeout=CLI_TIMEOUT)
    assert_rejected(proc, "a command line without --requests")


# ---------------------------------------------------------------------------
# The benchmark workload (scripts/bench/gen_workload.py), with and without its
# schema: realistic policies and context, and a check that the schema path of
# the CLI agrees with cedarpy's schema-directed parsing.

def _load_gen_workload():
    import importlib.util

    path = REPO / "scripts" / "bench" / "gen_workload.py"
    spec = importlib.util.spec_from_file_location("gen_workload", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("with_schema", [False, True], ids=["workload-n100", "workload-n100-schema"])
def test_bench_workload_matches_cedarpy(with_schema: bool, tmp_path: Path) -> None:
    binary = require_portcullis()
    gw = _load_gen_workload()
    gw.write_workload(str(tmp_path), 100, gw.DEFAULT_SEED, 300)
    d = tmp_path / "n100"
    requests = json.loads((d / "requests.json").read_text(encoding="utf-8"))
    schema = cedarpy.Schema.from_str((d / "schema.cedarschema").read_text(encoding="utf-8")) if with_schema else None
    ps = cedarpy.PolicySet.from_str((d / "policies.cedar").read_text(encoding="utf-8"))
    ents = cedarpy.Entities.from_json_str((d / "entities.json").read_text(encoding="utf-8"), schema)
    expected = [{"decision": r.decision.value.lower(), "reasons": r.diagnostics.reasons,
                 "errors": [cedar_gen.error_policy_id(m) for m in r.diagnostics.errors]}
                for r in cedarpy.is_authorized_batch(requests, ps, ents, schema)]
    assert {e["decision"] for e in expected} == {"allow", "deny"}
    proc = run_cli(binary, d / "policies.cedar", d / "entities.json", d / "requests.json",
                   schema=(d / "schema.cedarschema") if with_schema else None)
    assert proc.returncode == 0, (
        f"portcullis failed on the benchmark workload: {proc.stderr.decode('utf-8', 'replace')[:2000]}\n"
        f"Regenerate it with: python3 scripts/bench/gen_workload.py --out DIR --sizes 100 --requests 300")
    actual = parse_cli_output(proc.stdout, len(requests))
    bad = compare(expected, actual)
    assert not bad, "\n".join(
        [f"{len(bad)} of {len(requests)} workload requests differ from cedarpy "
         f"(python3 scripts/bench/gen_workload.py --out DIR --sizes 100 --requests 300):"]
        + [f"request {i}: {json.dumps(requests[i])}\n  cedarpy: {expected[i]}\n  portcullis: {actual[i]}"
           for i in bad[:5]])
