"""Differential tests of strict validation: `portcullis cedar validate` against cedarpy's validator (the Rust Cedar).

Two sets, compared policy by policy (whether the set validates, and which policies have errors):

- the official corpus: every test that names a schema (7,809), its policy against its schema;
- generated pairs: the policies of cedar_gen's cases (typed attributes, `has` guards or not, tags, extension
  functions, action groups, namespaces) against a schema drawn for each case (attributes required or optional or
  missing, entity hierarchies, `appliesTo` lists, tag types, context types), so that both valid and invalid sets are
  frequent.

Run: PORTCULLIS_BIN=.build/debug/portcullis .venv/bin/pytest -q Tests/Interop/test_cedar_validation.py
     (CEDAR_VALIDATE_CASES=N for more generated pairs; the seed is CEDAR_DIFF_SEED, as for the authorizer.)
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import tarfile
from pathlib import Path

import cedarpy
import pytest

import cedar_gen
from conftest import REPO, diff_seed, require_portcullis

CASES = int(os.environ.get("CEDAR_VALIDATE_CASES", "600"))


def schema_for(seed: int, index: int) -> str:
    """A schema for the entity types, attributes, tags, actions and context cedar_gen uses, drawn at random."""
    r = random.Random(f"schema:{seed}:{index}")

    def q() -> str:
        return "" if r.random() < 0.6 else "?"

    def ext_or(t: str) -> str:
        return {cedar_gen.LONG: "Long", cedar_gen.STR: "String", cedar_gen.BOOL: "Bool", cedar_gen.DEC: "decimal",
                cedar_gen.IP: "ipaddr", cedar_gen.DT: "datetime", cedar_gen.DUR: "duration",
                cedar_gen.SETL: "Set<Long>", cedar_gen.SETS: "Set<String>"}.get(t, "String")

    entity_ref = r.choice(["User", "App::Agent", "Group"])

    def attr_type(name: str, t: str) -> str:
        if t == cedar_gen.ENT:
            return entity_ref
        if t == cedar_gen.SETE:
            return f"Set<{entity_ref}>"
        if t == cedar_gen.REC:
            inner = ", ".join(f"{f}{q()}: {ext_or(ft)}" for f, ft in cedar_gen.INNER_FIELDS.items() if r.random() < 0.9)
            fields = []
            for f, ft in cedar_gen.REC_FIELDS.items():
                if r.random() < 0.1:
                    continue
                fields.append(f"{f}{q()}: " + ("{" + inner + "}" if ft == "inner" else ext_or(ft)))
            return "{" + ", ".join(fields) + "}"
        # Now and then a wrong type, so that comparisons fail to typecheck.
        if r.random() < 0.05:
            return r.choice(["Long", "String", "Bool"])
        return ext_or(t)

    def attributes() -> str:
        parts = []
        for name, t in cedar_gen.ENTITY_ATTRS.items():
            if r.random() < 0.12:
                continue
            key = f'"{name}"' if " " in name else name
            parts.append(f"{key}{q()}: {attr_type(name, t)}")
        return "{" + ", ".join(parts) + "}"

    def tags() -> str:
        return "" if r.random() < 0.4 else " tags " + r.choice(["String", "Long", "Bool"])

    def parents(options: list[str]) -> str:
        chosen = [p for p in options if r.random() < 0.6]
        return (" in [" + ", ".join(chosen) + "]") if chosen else ""

    # Names inside `namespace App` resolve there first: refer to the empty namespace with `__cedar`-free full
    # names only where they are not shadowed (User, Group, Team, Doc, Folder are not declared in App).
    lines = [
        "entity Team" + f" {attributes()}" + tags() + ";",
        "entity Group" + parents(["Team"]) + f" {attributes()}" + tags() + ";",
        "entity User" + parents(["Group", "Team"]) + f" {attributes()}" + tags() + ";",
        "entity Folder" + parents(["Folder"] if r.random() < 0.3 else []) + f" {attributes()}" + tags() + ";",
        "entity Doc" + parents(["Folder", "Group"]) + f" {attributes()}" + tags() + ";",
        "namespace App {",
        "  entity Agent" + parents(["Group", "Team"]) + f" {attributes()}" + tags() + ";",
        "  entity Tool" + parents(["Folder"]) + f" {attributes()}" + tags() + ";",
    ]
    if r.random() < 0.5:
        lines.append('  action call appliesTo { principal: [Agent], resource: [Tool], context: {} };')
    lines.append("}")
    context_parts = []
    for name, t in cedar_gen.CONTEXT_ATTRS.items():
        if r.random() < 0.15:
            continue
        context_parts.append(f"{name}{q()}: {attr_type(name, t)}")
    context = "{" + ", ".join(context_parts) + "}"
    principals = ["User", "App::Agent"]
    resources = ["Doc", "App::Tool"]
    for group in reversed(cedar_gen.ACTION_GROUPS):
        parent = [p for p in cedar_gen.ACTION_PARENTS[group]]
        lines.append(f'action "{group}"' + (" in [" + ", ".join(f'"{p}"' for p in parent) + "]" if parent else "") + ";")
    for action in cedar_gen.ACTIONS:
        if r.random() < 0.08:
            continue  # undeclared: policies naming it do not validate
        parent = cedar_gen.ACTION_PARENTS[action]
        ps = [p for p in principals if r.random() < 0.7] or [r.choice(principals)]
        rs = [x for x in resources if r.random() < 0.7] or [r.choice(resources)]
        lines.append(f'action "{action}" in [' + ", ".join(f'"{p}"' for p in parent) + "] appliesTo { principal: ["
                     + ", ".join(ps) + "], resource: [" + ", ".join(rs) + f"], context: {context} }};")
    return "\n".join(lines) + "\n"


POLICY_IN_ERROR = re.compile(r"^\[([^\]]+)\]")


def cedarpy_verdict(policies: str, schema: str) -> dict:
    try:
        result = cedarpy.validate_policies(policies, schema)
    except Exception as e:  # a schema cedarpy cannot read
        return {"error": str(e)}
    failing = set()
    for e in result.errors:
        m = POLICY_IN_ERROR.match(str(e))
        failing.add(m.group(1) if m else str(e))
    return {"passed": bool(result.validation_passed), "failing": failing}


def portcullis_verdicts(binary: Path, pairs: list[tuple[str, str]], tmp_path: Path) -> list[dict]:
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps({"policies": p, "schema": s}) + "\n" for p, s in pairs), encoding="utf-8")
    out = subprocess.run([str(binary), "cedar", "validate", "--batch", str(batch)], capture_output=True, timeout=600)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    lines = out.stdout.decode().splitlines()
    assert len(lines) == len(pairs)
    verdicts = []
    for line in lines:
        v = json.loads(line)
        if "error" in v:
            verdicts.append({"error": v["error"]})
        else:
            verdicts.append({"passed": v["passed"], "failing": {e["policy"] for e in v["errors"]}})
    return verdicts


def compare(pairs, ours, theirs, label):
    mismatches = []
    both_errors = 0
    for (policies, schema), a, b in zip(pairs, ours, theirs):
        if "error" in a or "error" in b:
            # Both refuse the input (a schema neither reads): agreement; one alone: a mismatch.
            if "error" in a and "error" in b:
                both_errors += 1
                continue
            mismatches.append((policies, schema, a, b))
            continue
        if a["passed"] != b["passed"] or a["failing"] != b["failing"]:
            mismatches.append((policies, schema, a, b))
    valid = sum(1 for v in theirs if v.get("passed"))
    print(f"\n{label}: {len(pairs)} policy sets, {valid} valid per cedarpy, {both_errors} unreadable by both, "
          f"{len(mismatches)} mismatches")
    return mismatches


def report(mismatches, directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    for n, (policies, schema, a, b) in enumerate(mismatches[:20]):
        (directory / f"mismatch-{n}.cedar").write_text(policies, encoding="utf-8")
        (directory / f"mismatch-{n}.cedarschema").write_text(schema, encoding="utf-8")
        (directory / f"mismatch-{n}.txt").write_text(f"portcullis: {a}\ncedarpy: {b}\n", encoding="utf-8")


def test_validation_agrees_with_cedarpy_on_generated_pairs(tmp_path):
    binary = require_portcullis()
    seed = diff_seed()
    pairs = [(cedar_gen.generate_case(seed, i).policies, schema_for(seed, i)) for i in range(CASES)]
    theirs = [cedarpy_verdict(p, s) for p, s in pairs]
    ours = portcullis_verdicts(binary, pairs, tmp_path)
    mismatches = compare(pairs, ours, theirs, f"generated (seed {seed})")
    # Sets of up to 25 policies rarely validate whole: the comparison is per policy (the failing ones must be the
    # same), and the draw must give both outcomes often per policy, or agreement would say little.
    policies = sum(len(re.findall(r"^(?:permit|forbid)\s*\(", p, re.M)) for p, _ in pairs)
    failing = sum(len(v.get("failing", ())) for v in theirs)
    print(f"generated: {policies} policies, {failing} with errors per cedarpy")
    assert 0.15 * policies <= failing <= 0.85 * policies, (failing, policies)
    report(mismatches, REPO / ".build" / "cedar-validate-failures" / "generated")
    assert not mismatches, f"{len(mismatches)} mismatches; first: {mismatches[0][2]} vs {mismatches[0][3]}"


def test_validation_agrees_with_cedarpy_on_the_corpus(tmp_path):
    binary = require_portcullis()
    archive = REPO.parent / "shared" / "cedar" / "corpus-tests.tar.gz"
    if not archive.exists():
        pytest.skip(f"no corpus at {archive}")
    with tarfile.open(archive) as t:
        t.extractall(tmp_path, filter="data")
    pairs = []
    for test in sorted((tmp_path / "corpus-tests").glob("*.json")):
        if test.name.endswith(".entities.json"):
            continue
        spec = json.loads(test.read_text(encoding="utf-8"))
        if "schema" not in spec:
            continue
        pairs.append(((tmp_path / spec["policies"]).read_text(encoding="utf-8"),
                      (tmp_path / spec["schema"]).read_text(encoding="utf-8")))
    assert len(pairs) == 7809
    theirs = [cedarpy_verdict(p, s) for p, s in pairs]
    ours = portcullis_verdicts(binary, pairs, tmp_path)
    mismatches = compare(pairs, ours, theirs, "corpus")
    report(mismatches, REPO / ".build" / "cedar-validate-failures" / "corpus")
    assert not mismatches, f"{len(mismatches)} mismatches; first: {mismatches[0][2]} vs {mismatches[0][3]}"
