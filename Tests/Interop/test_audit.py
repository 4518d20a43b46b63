"""The tamper-evident audit log (issue #5), end to end against the real `portcullis` binary.

- Independent verification: `audit_independent.py` (RFC 6962/9162 and C2SP signed-note from
  the specifications, with hashlib and `cryptography`) recomputes every leaf, root, inclusion
  and consistency proof and checks every checkpoint signature the server hands out, and it
  writes a log of its own that `portcullis audit verify` must accept.
- Tampering: the SQLite file is edited directly (a field, a deleted row, a renumbered
  deletion, an inserted row, a reordering, a truncation, a forged checkpoint, ...) and
  `portcullis audit verify` must exit 1 naming the entry.
- Fail closed: when the audit write fails, admin actions and token issuance answer 503 and
  nothing is granted.
- OCSF: exported events validate against the official OCSF 1.7.0 schema (pydantic-ocsf
  ships it), with no attribute the schema does not define.
- Crash: kill -9 under concurrent load; every acknowledged entry is present and the log verifies.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

import audit_independent as ai
from oauth_fixtures import MAIL, Key, Server, jwt_parts, running_server

CT_LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f"]]
CT_ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def cli(server_or_dir, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    from conftest import require_portcullis

    cmd = [str(require_portcullis()), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    if isinstance(server_or_dir, Server):
        cmd += ["--server", server_or_dir.base, "--token-file", str(server_or_dir.data_dir / "admin.token")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if check:
        assert r.returncode == 0, f"{cmd}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def verify(data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return cli(None, "audit", "verify", "--data-dir", str(data_dir), *extra)


def b64(s: str) -> bytes:
    return base64.b64decode(s)


def populate(srv: Server, agents: int = 3) -> list:
    """Admin actions, token issuance and a refusal: the entries every other test looks at."""
    made = []
    for i in range(agents):
        a = srv.new_agent(name=f"audited-{i}", max_concurrent_sessions=1000)
        made.append(a)
        for _ in range(3):
            a.access_token()
    r = srv.admin("POST", f"/admin/agents/{made[0].id}/suspend", {"reason": "audit test"},
                  headers={"X-Portcullis-Actor": "alice"})
    assert r.status_code == 200, r.text
    assert made[0].token().status_code in (400, 401)  # refused: recorded as a deny
    return made


def export_lines(srv: Server) -> list[str]:
    r = srv.admin("GET", "/admin/audit/entries?format=jsonl&order=asc&limit=10000")
    assert r.status_code == 200, r.text
    return r.text.splitlines()


# --------------------------------------------------------------------------- independent implementation


def test_the_independent_implementation_matches_rfc6962_vectors():
    leaves = [ai.leaf_hash(d) for d in CT_LEAVES]
    assert ai.root(leaves).hex() == CT_ROOT_8
    assert [h.hex() for h in ai.inclusion_proof(5, leaves)] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]
    assert [h.hex() for h in ai.consistency_proof(6, leaves)] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]
    v = ai.Verifier.parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    note = ("If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n"
            "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
    assert v.verifies(note)
    assert not v.verifies(note.replace("answer", "Answer"))


def test_entries_roots_proofs_and_checkpoints_verify_independently(tmp_path):
    with running_server(tmp_path) as srv:
        populate(srv, agents=2)
        first = srv.admin("POST", "/admin/audit/checkpoint")
        assert first.status_code == 200, first.text
        populate(srv, agents=2)
        second = srv.admin("POST", "/admin/audit/checkpoint").text
        vkey = srv.admin("GET", "/admin/audit/key").text
        verifier = ai.Verifier.parse(vkey)
        # The key the server publishes is the one in the data directory (0600).
        name, private = ai.signer_from_skey((srv.data_dir / "audit-key").read_text())
        assert name == verifier.name
        assert oct((srv.data_dir / "audit-key").stat().st_mode & 0o777) == "0o600"

        lines = export_lines(srv)
        leaves = []
        for i, line in enumerate(lines):
            entry = json.loads(line)
            assert entry["index"] == i
            assert ai.canonical(entry) == line.encode(), "an exported entry is not in canonical form"
            leaves.append(ai.leaf_hash(line.encode()))

        for note in (first.text, second):
            assert verifier.verifies(note), note
            origin, size, root_hash = ai.parse_checkpoint(note)
            assert origin == verifier.name
            assert ai.root(leaves[:size]) == root_hash, f"root of size {size} differs"
        _, size1, root1 = ai.parse_checkpoint(first.text)
        _, size2, root2 = ai.parse_checkpoint(second)
        assert size2 == len(leaves) > size1 > 0

        for index in range(size2):
            p = srv.admin("GET", f"/admin/audit/proof/inclusion?index={index}&size={size2}").json()
            proof = [b64(h) for h in p["hashes"]]
            assert b64(p["leaf_hash"]) == leaves[index]
            assert proof == ai.inclusion_proof(index, leaves[:size2]), f"inclusion proof of {index} differs"
            assert ai.verify_inclusion(leaves[index], index, size2, proof, root2)
        for m in range(0, size2 + 1):
            c = srv.admin("GET", f"/admin/audit/proof/consistency?from={m}&to={size2}").json()
            proof = [b64(h) for h in c["hashes"]]
            assert proof == ai.consistency_proof(m, leaves[:size2]), f"consistency proof {m}→{size2} differs"
            assert ai.verify_consistency(m, size2, ai.root(leaves[:m]), root2, proof)
        c = srv.admin("GET", f"/admin/audit/proof/consistency?from={size1}&to={size2}").json()
        assert c["from_checkpoint"] == first.text and c["to_checkpoint"] == second
        assert ai.verify_consistency(size1, size2, root1, root2, [b64(h) for h in c["hashes"]])

        # The CLI prints the same proofs, and the latest checkpoint for a witness.
        out = json.loads(cli(srv, "audit", "prove", "3", "--size", str(size2), check=True).stdout)
        assert [b64(h) for h in out["hashes"]] == ai.inclusion_proof(3, leaves[:size2])
        out = json.loads(cli(srv, "audit", "consistency", str(size1), str(size2), check=True).stdout)
        assert [b64(h) for h in out["hashes"]] == ai.consistency_proof(size1, leaves[:size2])
        assert cli(srv, "audit", "checkpoint", check=True).stdout == second
        assert cli(srv, "audit", "key", check=True).stdout.strip() == vkey.strip()
        assert srv.admin("GET", f"/admin/audit/proof/inclusion?index={size2}&size={size2}").status_code == 404
    assert verify(srv.data_dir).returncode == 0


def test_admin_actions_and_tokens_are_recorded_and_searchable(tmp_path):
    with running_server(tmp_path) as srv:
        agents = populate(srv, agents=2)
        a = agents[0]
        entries = srv.admin("GET", f"/admin/audit/entries?agent={a.id}&order=asc").json()
        actions = [(e["event"]["action"], e["event"].get("decision")) for e in entries]
        assert actions == [("agent.register", "allow"), ("token.issue", "allow"), ("token.issue", "allow"),
                           ("token.issue", "allow"), ("agent.suspend", "allow"), ("token.issue", "deny")], actions
        suspend = entries[4]["event"]
        assert suspend["actor"] == "admin:alice" and suspend["reason"] == "audit test" and suspend["resource"] == a.id
        assert suspend["agent"]["model"] == "example-model" and suspend["agent"]["version"] == "2026-01"
        issued = entries[1]["event"]
        assert issued["kind"] == "token" and issued["resource"] == MAIL and "jti=" in issued["reason"]
        denies = srv.admin("GET", "/admin/audit/entries?decision=deny").json()
        assert [e["event"]["agent"]["id"] for e in denies] == [a.id]
        assert srv.admin("GET", "/admin/audit/entries?decision=maybe").status_code == 400
        assert srv.admin("GET", "/admin/audit/entries", token=None).status_code == 401
        since = entries[4]["event"]["time_ns"]
        later = srv.admin("GET", f"/admin/audit/entries?since={since}&agent={a.id}").json()
        assert {e["event"]["action"] for e in later} == {"agent.suspend", "token.issue"}
        one = srv.admin("GET", f"/admin/audit/entries/{entries[0]['index']}").json()
        assert one["event"]["id"] == entries[0]["event"]["id"]
        assert srv.admin("GET", f"/admin/audit/entries/{entries[0]['event']['id']}").json()["index"] == entries[0]["index"]
        tail = cli(srv, "audit", "tail", "-n", "3", check=True).stdout.splitlines()
        assert len(tail) == 3 and "token.issue" in tail[-1] and "deny" in tail[-1]
        found = json.loads(cli(srv, "audit", "search", "--agent", a.id, "--action", "agent.suspend", "--json", check=True).stdout)
        assert len(found) == 1 and found[0]["event"]["actor"] == "admin:alice"


# --------------------------------------------------------------------------- tampering


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A stopped server's data directory with 31 entries and checkpoints at 10, 20 and 31."""
    work = tmp_path_factory.mktemp("pristine")
    with running_server(work) as srv:
        for n in (10, 20):
            while len(export_lines(srv)) < n:
                srv.admin("POST", "/admin/agents", {"name": "x", "owner": "o", "purpose": "p", "model_provider": "m",
                                                   "model": "m", "model_version": "1"})
            assert srv.admin("POST", "/admin/audit/checkpoint").status_code == 200
        while len(export_lines(srv)) < 31:
            srv.admin("POST", "/admin/agents", {"name": "y", "owner": "o", "purpose": "p", "model_provider": "m",
                                               "model": "m", "model_version": "1"})
    # Graceful shutdown signed the final checkpoint (31).
    r = verify(srv.data_dir, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["entries"] == 31 and report["latest_checkpoint_size"] == 31
    return srv.data_dir


def tampered(pristine: Path, tmp_path: Path, *statements: str) -> Path:
    target = tmp_path / "data"
    shutil.copytree(pristine, target)
    db = sqlite3.connect(target / "audit.sqlite")
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()
    return target


def event_id(data_dir: Path, idx: int) -> str:
    db = sqlite3.connect(data_dir / "audit.sqlite")
    (entry,) = db.execute("SELECT entry FROM audit_entries WHERE idx = ?", (idx,)).fetchone()
    db.close()
    return json.loads(entry)["event"]["id"]


def failed(data_dir: Path) -> dict:
    r = verify(data_dir, "--json")
    assert r.returncode == 1, f"verify should fail (exit 1), got {r.returncode}:\n{r.stdout}\n{r.stderr}"
    text = verify(data_dir)
    assert text.returncode == 1
    report = json.loads(r.stdout)
    assert not report["intact"]
    return report["problems"][0]


def test_an_untouched_copy_verifies(pristine, tmp_path):
    assert verify(tampered(pristine, tmp_path)).returncode == 0


def test_a_changed_field_is_named(pristine, tmp_path):
    d = tampered(pristine, tmp_path, "UPDATE audit_entries SET entry = replace(entry, '\"owner\"', '\"0wner\"') WHERE idx = 12",
                 "UPDATE audit_entries SET entry = replace(entry, 'registered by admin', 'registered by mallory') WHERE idx = 12")
    p = failed(d)
    assert p["kind"] == "modified" and p["index"] == 12 and p["event_id"] == event_id(d, 12), p


def test_a_changed_field_with_a_recomputed_leaf_hash_is_caught_by_the_signed_root(pristine, tmp_path):
    d = tampered(pristine, tmp_path)
    db = sqlite3.connect(d / "audit.sqlite")
    (entry,) = db.execute("SELECT entry FROM audit_entries WHERE idx = 14").fetchone()
    forged = entry.replace("registered by admin", "registered by nobody")
    db.execute("UPDATE audit_entries SET entry = ?, leaf_hash = ? WHERE idx = 14", (forged, ai.leaf_hash(forged.encode())))
    db.commit()
    db.close()
    p = failed(d)
    # Localized to the span between the last matching checkpoint (10) and the first failing one (20).
    assert p["kind"] == "modified" and p["index"] == 10 and "10…19" in p["message"], p


def test_a_search_column_that_disagrees_with_the_entry_is_named(pristine, tmp_path):
    d = tampered(pristine, tmp_path, "UPDATE audit_entries SET time_ns = time_ns + 1 WHERE idx = 17")
    p = failed(d)
    assert p["kind"] == "modified" and p["index"] == 17 and "search columns" in p["message"], p


def test_a_deleted_row_is_named(pristine, tmp_path):
    p = failed(tampered(pristine, tmp_path, "DELETE FROM audit_entries WHERE idx = 7"))
    assert p["kind"] == "deleted" and p["index"] == 7, p


def test_a_deletion_hidden_by_renumbering_is_named(pristine, tmp_path):
    d = tampered(pristine, tmp_path, "DELETE FROM audit_entries WHERE idx = 5",
                 "UPDATE audit_entries SET idx = -idx WHERE idx > 5", "UPDATE audit_entries SET idx = -idx - 1 WHERE idx < 0")
    p = failed(d)
    assert p["kind"] == "deleted" and p["index"] == 5, p


def test_an_inserted_row_is_named(pristine, tmp_path):
    d = tampered(pristine, tmp_path)
    db = sqlite3.connect(d / "audit.sqlite")
    db.execute("UPDATE audit_entries SET idx = -idx - 1 WHERE idx >= 9")
    db.execute("UPDATE audit_entries SET idx = -idx WHERE idx < 0")
    event = {"action": "agent.register", "actor": "admin", "decision": "allow", "delegation_chain": [],
             "determining_policies": [], "erroring_policies": [], "id": "evt_forged", "kind": "admin",
             "obligations": [], "resource": "agt_forged", "time_ns": 1}
    forged = ai.entry_bytes(event, 9)
    db.execute("INSERT INTO audit_entries(idx, entry, leaf_hash, time_ns) VALUES (9, ?, ?, 1)", (forged.decode(), ai.leaf_hash(forged)))
    db.commit()
    db.close()
    p = failed(d)
    assert p["kind"] == "inserted" and p["index"] == 9 and p["event_id"] == "evt_forged", p


def test_reordered_rows_are_named(pristine, tmp_path):
    d = tampered(pristine, tmp_path, "UPDATE audit_entries SET idx = 1000 WHERE idx = 3",
                 "UPDATE audit_entries SET idx = 3 WHERE idx = 6", "UPDATE audit_entries SET idx = 6 WHERE idx = 1000")
    p = failed(d)
    assert p["kind"] == "reordered" and p["index"] == 3, p


def test_a_truncated_tail_is_named(pristine, tmp_path):
    p = failed(tampered(pristine, tmp_path, "DELETE FROM audit_entries WHERE idx >= 25"))
    assert p["kind"] == "truncated" and p["index"] == 25 and "25…30" in p["message"], p


def test_a_truncation_that_also_deletes_the_checkpoints_is_caught_by_the_head_file(pristine, tmp_path):
    d = tampered(pristine, tmp_path, "DELETE FROM audit_entries WHERE idx >= 15", "DELETE FROM audit_checkpoints WHERE size > 10")
    problems = json.loads(verify(d, "--json").stdout)["problems"]
    kinds = {p["kind"] for p in problems}
    assert "truncated" in kinds and "checkpoint" in kinds, problems
    assert [p for p in problems if p["kind"] == "truncated"][0]["index"] == 15
    # ... and deleting the head file as well does not go unnoticed while any checkpoint remains.
    (d / "audit-checkpoint").unlink()
    assert "missing" in failed(d)["message"]


def test_a_forged_checkpoint_is_caught(pristine, tmp_path):
    d = tampered(pristine, tmp_path)
    db = sqlite3.connect(d / "audit.sqlite")
    (note,) = db.execute("SELECT note FROM audit_checkpoints WHERE size = 20").fetchone()
    origin, size, _ = ai.parse_checkpoint(note)
    forged_root = base64.b64encode(bytes(32)).decode()
    altered = note.replace(note.split("\n")[2], forged_root)
    db.execute("UPDATE audit_checkpoints SET note = ? WHERE size = 20", (altered,))
    db.commit()
    p = failed(d)
    assert p["kind"] == "checkpoint" and "size 20" in p["message"] and "signature" in p["message"], p
    # A checkpoint signed with another key under the same name is refused too.
    from cryptography.hazmat.primitives.asymmetric import ed25519
    other = ai.sign_note(ai.checkpoint_text(origin, 20, bytes(32)), origin, ed25519.Ed25519PrivateKey.generate())
    db.execute("UPDATE audit_checkpoints SET note = ? WHERE size = 20", (other,))
    db.commit()
    db.close()
    assert failed(d)["kind"] == "checkpoint"


def test_an_attacker_with_the_key_is_caught_by_a_pinned_witness_key(pristine, tmp_path):
    """Someone who can read audit-key can rewrite history consistently; a verifier key kept
    elsewhere (a witness's copy) is what catches a replaced key."""
    vkey = cli(None, "audit", "key", "--data-dir", str(pristine), check=True).stdout.strip()
    d = tampered(pristine, tmp_path)
    (d / "audit-key").unlink()
    # Re-sign everything with a new key of the same name: the default verify trusts the new key...
    from cryptography.hazmat.primitives.asymmetric import ed25519
    name = ai.Verifier.parse(vkey).name
    new = ed25519.Ed25519PrivateKey.generate()
    db = sqlite3.connect(d / "audit.sqlite")
    for size, note in db.execute("SELECT size, note FROM audit_checkpoints").fetchall():
        o, s, r = ai.parse_checkpoint(note)
        db.execute("UPDATE audit_checkpoints SET note = ? WHERE size = ?", (ai.sign_note(ai.checkpoint_text(o, s, r), name, new), size))
    head = db.execute("SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1").fetchone()[0]
    db.commit()
    db.close()
    (d / "audit-checkpoint").write_text(head)
    assert verify(d, "--vkey", vkey).returncode == 1


def test_a_log_written_by_the_independent_implementation_verifies(tmp_path):
    """Portcullis verifies (and exports) a log it did not write: the formats are the specifications'."""
    with running_server(tmp_path):
        pass
    d = tmp_path / "data"
    name, key = ai.signer_from_skey((d / "audit-key").read_text())
    db = sqlite3.connect(d / "audit.sqlite")
    db.execute("DELETE FROM audit_checkpoints")
    leaves = []
    kinds = [("decision", "call_tool", "allow"), ("decision", "call_tool", "deny"), ("decision", "tools/list", "pending"),
             ("alert", "alert.configuration_drift", None), ("admin", "policy.reload", "allow"), ("admin", "kill", "allow"),
             ("token", "token.issue", "allow"), ("admin", "agent.quarantine", "allow")]
    for i, (kind, action, decision) in enumerate(kinds * 3):
        event = {"action": action, "agent": {"id": f"agt_{i % 4}", "model": "m", "version": "1"},
                 "delegation_chain": [f"agt_{i % 4}"], "determining_policies": ["policy0"], "erroring_policies": [],
                 "id": f"evt_py_{i}", "kind": kind, "obligations": ["approval"] if decision == "pending" else [],
                 "on_behalf_of": "alice@example.com", "reasoning": "caf\u00e9 \u2014 \"quoted\"\n",
                 "resource": "time.get_current_time", "source_address": "127.0.0.1", "time_ns": 1_767_000_000_000_000_000 + i,
                 "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "outcome": {"bytes": 10, "status": "ok"}, "latency_ns": 2_000_000}
        if decision:
            event["decision"] = decision
        if kind == "admin":
            event["actor"] = "admin:alice"
        data = ai.entry_bytes(event, i)
        db.execute("INSERT INTO audit_entries(idx, entry, leaf_hash, time_ns, agent_id) VALUES (?, ?, ?, ?, ?)",
                   (i, data.decode(), ai.leaf_hash(data), event["time_ns"], event["agent"]["id"]))
        leaves.append(ai.leaf_hash(data))
    note = ai.sign_note(ai.checkpoint_text(name, len(leaves), ai.root(leaves)), name, key)
    db.execute("INSERT INTO audit_checkpoints(size, note, signed_at_ns) VALUES (?, ?, 0)", (len(leaves), note))
    db.commit()
    db.close()
    (d / "audit-checkpoint").write_text(note)
    r = verify(d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(leaves)} entries" in r.stdout
    out = tmp_path / "export.jsonl"
    cli(None, "audit", "export", "--data-dir", str(d), "--output", str(out), check=True)
    assert [ai.leaf_hash(l.encode()) for l in out.read_text().splitlines()] == leaves
    # Then the server opens it and appends on top, and it still verifies.
    with running_server(tmp_path) as srv:
        srv.new_agent()
    assert verify(d).returncode == 0
    validate_ocsf(d, tmp_path)


# --------------------------------------------------------------------------- OCSF


def validate_ocsf(data_dir: Path, tmp_path: Path) -> None:
    from ocsf.v1_7_0 import events
    from pydantic import BaseModel

    classes = {6003: events.ApiActivity, 3002: events.Authentication, 3001: events.AccountChange,
               3004: events.EntityManagement, 2004: events.DetectionFinding}
    out = tmp_path / "ocsf.jsonl"
    cli(None, "audit", "export", "--data-dir", str(data_dir), "--format", "ocsf", "--output", str(out), check=True)
    seen = set()

    def no_extras(model: BaseModel, path: str) -> None:
        extra = {k for k in (model.model_extra or {}) if path or k != "unmapped"}
        assert not extra, f"attributes the OCSF schema does not define at {path or 'top level'}: {extra}"
        for name in type(model).model_fields:
            if name == "unmapped":
                continue
            value = getattr(model, name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, BaseModel):
                    no_extras(item, f"{path}.{name}")

    for line in out.read_text().splitlines():
        event = json.loads(line)
        cls = classes[event["class_uid"]]
        model = cls.model_validate(event)
        no_extras(model, "")
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
        assert event["metadata"]["version"] == "1.7.0"
        assert event["unmapped"]["portcullis"]["log_index"] == event["metadata"]["sequence"]
        seen.add(event["class_uid"])
    assert seen == set(classes), f"not every mapped class was exported: {seen}"


def test_ocsf_rejects_what_the_schema_forbids():
    """The validator is not a rubber stamp: a missing required object and a wrong type fail."""
    from ocsf.v1_7_0 import events
    from pydantic import ValidationError

    good = {"class_uid": 6003, "category_uid": 6, "activity_id": 99, "type_uid": 600399, "severity_id": 1, "time": 1,
            "metadata": {"version": "1.7.0", "product": {"name": "Portcullis"}}, "actor": {}, "api": {"operation": "x"},
            "src_endpoint": {"ip": "127.0.0.1"}}
    events.ApiActivity.model_validate(good)
    with pytest.raises(ValidationError):
        events.ApiActivity.model_validate({k: v for k, v in good.items() if k != "api"})
    with pytest.raises(ValidationError):
        events.ApiActivity.model_validate(dict(good, time="yesterday"))


# --------------------------------------------------------------------------- fail closed


def test_when_the_audit_write_fails_nothing_is_granted(tmp_path):
    with running_server(tmp_path) as srv:
        agent = srv.new_agent(max_concurrent_sessions=100)
        agent.access_token()
        before = len(srv.admin("GET", "/admin/agents").json())
        db = sqlite3.connect(srv.data_dir / "audit.sqlite", timeout=10)
        db.execute("CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        db.commit()
        try:
            r = srv.admin("POST", "/admin/agents", {"name": "n", "owner": "o", "purpose": "p", "model_provider": "m",
                                                   "model": "m", "model_version": "1"})
            assert r.status_code == 503, r.text
            assert len(srv.admin("GET", "/admin/agents").json()) == before, "an unaudited registration took effect"
            r = srv.admin("POST", f"/admin/agents/{agent.id}/resume", {"reason": "x"})
            assert r.status_code in (409, 503)
            t = agent.token()
            assert t.status_code == 503 and "access_token" not in t.text, t.text
            # Taking standing away is never held back by the log: the suspension happens, and says it was not audited.
            r = srv.admin("POST", f"/admin/agents/{agent.id}/suspend", {"reason": "rogue"})
            assert r.status_code == 503 and "was done" in r.text, r.text
            assert srv.admin("GET", f"/admin/agents/{agent.id}").json()["status"] == "suspended"
        finally:
            db.execute("DROP TRIGGER audit_down")
            db.commit()
            db.close()
        r = srv.admin("POST", f"/admin/agents/{agent.id}/resume", {"reason": "back"})
        assert r.status_code == 200, r.text
        agent.access_token()
    assert verify(srv.data_dir).returncode == 0


# --------------------------------------------------------------------------- crash


def test_kill_9_under_load_loses_no_acknowledged_entry(tmp_path):
    srv = Server(tmp_path).start()
    agents = [srv.new_agent(name=f"load-{i}", max_concurrent_sessions=100000) for i in range(4)]
    acknowledged_jti: list[str] = []
    acknowledged_agents: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def issue(agent):
        s = requests.Session()
        while not stop.is_set():
            try:
                r = s.post(srv.token_endpoint, data=agent.form(), timeout=10)
            except requests.RequestException:
                return
            if r.status_code == 200:
                with lock:
                    acknowledged_jti.append(jwt_parts(r.json()["access_token"])[1]["jti"])

    def register(n):
        s = requests.Session()
        h = {"Authorization": f"Bearer {srv.admin_token}", "Content-Type": "application/json"}
        i = 0
        while not stop.is_set():
            i += 1
            body = {"name": f"r{n}-{i}", "owner": "o", "purpose": "p", "model_provider": "m", "model": "m", "model_version": "1"}
            try:
                r = s.post(srv.base + "/admin/agents", data=json.dumps(body), headers=h, timeout=10)
            except requests.RequestException:
                return
            if r.status_code == 201:
                with lock:
                    acknowledged_agents.append(r.json()["id"])

    threads = [threading.Thread(target=issue, args=(a,)) for a in agents] + \
              [threading.Thread(target=register, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(acknowledged_jti) + len(acknowledged_agents) < 400:
        time.sleep(0.05)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert len(acknowledged_jti) > 20 and len(acknowledged_agents) > 20, (len(acknowledged_jti), len(acknowledged_agents))

    r = verify(srv.data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    db = sqlite3.connect(srv.data_dir / "audit.sqlite")
    rows = [json.loads(e)["event"] for (e,) in db.execute("SELECT entry FROM audit_entries ORDER BY idx")]
    db.close()
    registered = {e["resource"] for e in rows if e["action"] == "agent.register"}
    issued = {e["reason"].split()[0][len("jti="):] for e in rows if e["action"] == "token.issue" and e.get("decision") == "allow"}
    missing_agents = set(acknowledged_agents) - registered
    missing_tokens = set(acknowledged_jti) - issued
    assert not missing_agents and not missing_tokens, (missing_agents, missing_tokens)

    # The server starts again on the crashed log, appends, signs at shutdown, and it verifies.
    with running_server(tmp_path) as again:
        again.new_agent()
    r = verify(srv.data_dir, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["uncovered_entries"] == 0, r.stdout
