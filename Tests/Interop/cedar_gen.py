"""Deterministic random generator of differential test cases for the Cedar engine.

Each case is a policy set (1-25 permits and forbids, Cedar text), an entity
store (Cedar entities JSON) and a list of requests in the format that
`portcullis cedar authorize --requests FILE` reads:

    {"principal": {"type": "User", "id": "alice"}, "action": {...},
     "resource": {...}, "context": {...}}

Case `i` of seed `s` depends only on (s, i) (it is drawn from
`random.Random(f"{s}:{i}")`), so one failing case can be regenerated alone.

How to run it:

    # Check the generator against cedarpy (every policy set parses, every
    # store loads, decisions are a healthy mix) and print feature coverage:
    python Tests/Interop/cedar_gen.py --self-check [--seed 20261123] [--cases 400]

    # Write cases to disk (one directory per case: policies.cedar,
    # entities.json, requests.json, expected.jsonl from cedarpy):
    python Tests/Interop/cedar_gen.py --dump /tmp/cases --cases 20

    # From Python:
    from cedar_gen import generate_case
    case = generate_case(seed=20261123, index=17)
    case.policies, case.entities, case.requests, case.features

The generator only needs the standard library; --self-check and --dump need
cedarpy (Tests/Interop/requirements.txt).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import random
import re
import sys
import time
from typing import Any

DEFAULT_SEED = 20261123

# ---------------------------------------------------------------------------
# Types of the generated expressions.
BOOL, LONG, STR, ENT = "bool", "long", "string", "entity"
SETL, SETS, SETE = "set<long>", "set<string>", "set<entity>"
REC, DEC, IP, DT, DUR = "record", "decimal", "ipaddr", "datetime", "duration"
ALL_TYPES = [BOOL, LONG, STR, ENT, SETL, SETS, SETE, REC, DEC, IP, DT, DUR]

# Attributes every entity may have (each present with some probability).
ENTITY_ATTRS: dict[str, str] = {
    "level": LONG,
    "name": STR,
    "active": BOOL,
    "tags": SETS,
    "nums": SETL,
    "owner": ENT,
    "friends": SETE,
    "info": REC,
    "score": DEC,
    "addr": IP,
    "created": DT,
    "ttl": DUR,
    "weird key": STR,  # needs `["weird key"]` / `has "weird key"`
}
# Fields of the `info` record attribute and the `rec` context attribute.
REC_FIELDS: dict[str, str] = {"flag": BOOL, "count": LONG, "label": STR, "inner": "inner"}
INNER_FIELDS: dict[str, str] = {"deep": LONG, "ok": BOOL}
# Context attributes.
CONTEXT_ATTRS: dict[str, str] = {
    "n": LONG,
    "s": STR,
    "flag": BOOL,
    "ip": IP,
    "when": DT,
    "amt": DEC,
    "dur": DUR,
    "ref": ENT,
    "rec": REC,
    "nums": SETL,
    "strs": SETS,
    "ents": SETE,
}
# Entity tags: key -> type of its value.
TAG_KEYS: dict[str, str] = {"env": STR, "tier": LONG, "k1": BOOL}

PRINCIPAL_TYPES = ["User", "App::Agent"]
GROUP_TYPES = ["Group", "Team"]
RESOURCE_TYPES = ["Doc", "App::Tool"]
CONTAINER_TYPES = ["Folder"]
ALL_ENTITY_TYPES = PRINCIPAL_TYPES + GROUP_TYPES + RESOURCE_TYPES + CONTAINER_TYPES

ACTIONS = ["view", "edit", "delete", "share", "comment"]
ACTION_GROUPS = ["read", "write", "all"]
ACTION_PARENTS = {
    "view": ["read"],
    "comment": ["read", "write"],
    "edit": ["write"],
    "delete": ["write"],
    "share": ["read"],
    "read": ["all"],
    "write": ["all"],
    "all": [],
}

# ---------------------------------------------------------------------------
# Value pools. Literals in policies are drawn from the same pools as the
# stored values so that comparisons are true reasonably often.
LONGS = [0, 1, 2, 3, 5, 7, 10, 42, -1, -7, 100]
BIG_LONGS = [9223372036854775807, -9223372036854775808, 4611686018427387904, 3037000500, -9223372036854775807]
STRINGS = [
    "alpha", "beta", "Alpha", "", "a*b", "x", "hello world",
    "caf\u00e9", "cafe\u0301",            # precomposed vs combining: different in Cedar
    "\u00c5", "A\u030a",                  # same
    "\u65e5\u672c\u8a9e", "emoji\U0001F600", 'quo"te', "back\\slash", "tab\there",
    "line\nbreak", "star*star", "**", "nul\u0000x",
]
ID_POOL = ["alice", "bob", "carol", "dave", "caf\u00e9", "cafe\u0301", "", "with space",
           'q"uote', "back\\slash", "\u00fcber", "emoji\U0001F600", "*", "new\nline", "x1", "x2", "x3"]
DECIMALS = ["0.0", "1.5", "1.50", "-2.25", "3.1415", "100.0", "-0.0001", "922337203685477.5807",
            "-922337203685477.5808", "2.0", "0.5"]
IPS = ["10.0.0.1", "10.0.0.0/8", "10.1.2.3", "192.168.1.10", "192.168.0.0/16", "127.0.0.1", "127.0.0.0/8",
       "127.5.6.7/8", "::1", "fe80::1", "ff02::1", "224.0.0.1", "2001:db8::/32", "2001:db8::5", "0.0.0.0/0",
       "::/0", "172.16.5.4/12", "10.0.0.1/32", "::", "239.255.255.250"]
DATETIMES = ["2024-06-01", "2024-06-01T12:00:00Z", "2024-06-01T08:30:00.250Z", "2024-05-31T23:59:59+0100",
             "2024-06-02T01:00:00-0230", "1969-12-31T23:00:00Z", "1969-12-31T23:59:59.999Z", "2024-02-29",
             "2000-01-01T00:00:00.001Z", "9999-12-31T23:59:59Z", "0001-01-01", "2024-06-01T00:00:00+0000",
             "1970-01-01"]
DURATIONS = ["1h", "30m", "2h30m", "1d", "-1h", "90s", "1d2h3m4s5ms", "500ms", "0ms", "-3d12h", "7d",
             "9223372036854775807ms", "12h", "-1ms", "24h", "1440m"]
BAD_EXT = {
    DEC: ["1.23456", "abc", "1.", ".5", "922337203685477.5808", "1e3"],
    IP: ["300.1.1.1", "::ffff:1.2.3.4", "10.0.0.1/33", "hello", "1.2.3"],
    DT: ["2023-02-29", "2024-13-01", "2024-06-01T25:00:00Z", "2024-6-1", "2024-06-01T12:00:00",
         "2024-06-01T12:00:00.5Z"],
    DUR: ["5x", "1h1d", "", "1.5h", "106751991168d", "h"],
}
EXT_FN = {DEC: "decimal", IP: "ip", DT: "datetime", DUR: "duration"}
EXT_POOL = {DEC: DECIMALS, IP: IPS, DT: DATETIMES, DUR: DURATIONS}


# ---------------------------------------------------------------------------
# Cedar text helpers.

def cedar_string(s: str, rng: random.Random | None = None) -> str:
    """Quote `s` as a Cedar string literal, varying the escape forms when `rng` is given."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        alt = rng is not None and rng.random() < 0.3
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\u{a}" if alt else "\\n")
        elif ch == "\t":
            out.append("\\x09" if alt else "\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\0":
            out.append("\\u{0}" if alt else "\\0")
        elif o < 0x20 or o == 0x7F:
            out.append("\\u{%x}" % o)
        elif o > 0x7F:
            out.append("\\u{%x}" % o if alt else ch)
        elif alt and ch.isalpha() and rng.random() < 0.2:
            out.append("\\u{%x}" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def cedar_uid(etype: str, eid: str, rng: random.Random | None = None) -> str:
    return f"{etype}::{cedar_string(eid, rng)}"


@dataclasses.dataclass
class Case:
    seed: int
    index: int
    policies: str
    entities: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    features: collections.Counter  # feature -> number of policies/objects using it
    ensure_ascii: bool = True
    policy_texts: list[str] = dataclasses.field(default_factory=list)  # policy{i} is policy_texts[i]

    @property
    def name(self) -> str:
        return f"case-{self.index:04d}"

    def entities_json(self) -> str:
        return json.dumps(self.entities, ensure_ascii=self.ensure_ascii, indent=1)

    def requests_json(self) -> str:
        return json.dumps(self.requests, ensure_ascii=self.ensure_ascii, indent=1)


class _Gen:
    """One case's generator: a small typed grammar over a random universe."""

    P_ERR = 0.035  # chance that a typed sub-expression is replaced by an erroring one
    P_GUARD = 0.6  # chance that an attribute access is guarded by `has`

    def __init__(self, rng: random.Random):
        self.r = rng
        self.feat: collections.Counter = collections.Counter()
        self.pfeat: set[str] = set()  # features of the policy being generated
        self.scope_consts: list[tuple[str, str]] = []  # uids used in scopes (for requests)
        self.policy_scopes: list[tuple[str, dict]] = []  # (effect, {var: scope}) per policy
        self.cur_scope: dict[str, tuple] = {}
        self._build_universe()

    # -- universe ----------------------------------------------------------
    def _ids(self, prefix: str, n: int) -> list[str]:
        ids = []
        for i in range(n):
            if self.r.random() < 0.25:
                ids.append(self.r.choice(ID_POOL))
            else:
                ids.append(f"{prefix}{i}")
        return list(dict.fromkeys(ids))

    def _build_universe(self) -> None:
        r = self.r
        # Groups/teams: a chain (depth up to 8) plus extra edges (DAG), only
        # pointing to earlier groups so the graph stays acyclic.
        self.groups: list[tuple[str, str]] = []
        for gt in GROUP_TYPES:
            for gid in self._ids(gt.lower()[0], r.randint(2, 6)):
                self.groups.append((gt, gid))
        r.shuffle(self.groups)
        chain_len = min(len(self.groups), r.randint(3, 9))
        self.absent: list[tuple[str, str]] = [
            (t, f"ghost{i}") for i, t in enumerate(r.sample(ALL_ENTITY_TYPES, 4))
        ] + [("Group", "nobody"), ("Folder", "lost")]
        parents: dict[tuple[str, str], list[tuple[str, str]]] = collections.defaultdict(list)
        for i, g in enumerate(self.groups):
            if 0 < i < chain_len:
                parents[g].append(self.groups[i - 1])
            elif i >= chain_len and r.random() < 0.7:
                parents[g].append(r.choice(self.groups[:i]))
            if i > 1 and r.random() < 0.35:
                extra = r.choice(self.groups[:i])
                if extra not in parents[g]:
                    parents[g].append(extra)
                    self.feat["entity_multi_parent"] += 1
            if r.random() < 0.15:
                parents[g].append(r.choice(self.absent))
                self.feat["parent_absent_entity"] += 1
        self.feat["max_chain_depth_%d" % chain_len] += 1
        # Principals.
        self.principals: list[tuple[str, str]] = []
        for pt in PRINCIPAL_TYPES:
            for pid in self._ids(pt.split("::")[-1].lower()[0], r.randint(2, 6)):
                self.principals.append((pt, pid))
        for p in self.principals:
            for _ in range(r.choice([0, 1, 1, 1, 2, 2, 3])):
                # Mostly deep groups (end of the chain) so `in` walks far.
                g = self.groups[min(len(self.groups) - 1, int(abs(r.gauss(chain_len - 1, 2))))]
                if g not in parents[p]:
                    parents[p].append(g)
            if len(parents[p]) > 1:
                self.feat["entity_multi_parent"] += 1
            if r.random() < 0.1:
                parents[p].append(r.choice(self.absent))
                self.feat["parent_absent_entity"] += 1
        # Containers (folders) with their own chain, resources inside.
        self.folders = [("Folder", fid) for fid in self._ids("f", r.randint(2, 5))]
        for i, f in enumerate(self.folders[1:], 1):
            parents[f].append(self.folders[i - 1] if r.random() < 0.8 else r.choice(self.folders[:i]))
        self.resources: list[tuple[str, str]] = []
        for rt in RESOURCE_TYPES:
            for rid in self._ids(rt.split("::")[-1].lower()[0], r.randint(2, 6)):
                self.resources.append((rt, rid))
        for res in self.resources:
            for _ in range(r.choice([0, 1, 1, 2])):
                f = r.choice(self.folders)
                if f not in parents[res]:
                    parents[res].append(f)
            if r.random() < 0.15:
                parents[res].append(r.choice(self.groups))
        # Uids that collide across types are distinct entities; dedupe keys.
        everything = list(dict.fromkeys(self.groups + self.principals + self.folders + self.resources))
        # A few entities are referenced (as parents, attrs, scopes, requests)
        # but left out of the store.
        dropped = [e for e in everything if r.random() < 0.06]
        self.absent.extend(dropped)
        if dropped:
            self.feat["referenced_entity_missing_from_store"] += len(dropped)
        self.everything = everything
        self.parents = parents
        self.actions = [("Action", a) for a in ACTIONS + ACTION_GROUPS]
        if r.random() < 0.3:
            self.actions.append(("App::Action", "call"))
        self.stored_keys = [e for e in everything if e not in dropped]
        self.stored_set = set(self.stored_keys)
        self.all_action_stored = r.random() >= 0.2

    def entity_json(self) -> list[dict[str, Any]]:
        r = self.r
        out = []
        for e in self.stored_keys:
            attrs = {}
            for name, ty in ENTITY_ATTRS.items():
                if r.random() < 0.8:
                    attrs[name] = self.json_value(ty)
            if r.random() < 0.05 and attrs:
                # Wrong-typed attribute: type errors at evaluation.
                k = r.choice(list(attrs))
                attrs[k] = self.json_value(r.choice([LONG, STR, BOOL]))
                self.feat["attr_wrong_type"] += 1
            if r.random() < 0.08:
                attrs["pair"] = {"type": "User", "id": "alice"}  # a record without schema, not an entity
                self.feat["attr_implicit_entity_record"] += 1
            ent: dict[str, Any] = {"uid": self.json_uid(e), "attrs": attrs,
                                   "parents": [self.json_uid(p) for p in self.parents.get(e, [])]}
            if r.random() < 0.6:
                tags = {}
                for k, ty in TAG_KEYS.items():
                    if r.random() < 0.6:
                        tags[k] = self.json_value(ty if r.random() < 0.95 else STR)
                if r.random() < 0.2:
                    tags["extra tag"] = self.json_value(r.choice([LONG, STR, SETS]))
                ent["tags"] = tags
                self.feat["entity_tags"] += 1
            out.append(ent)
        for a in self.actions:
            if a == ("Action", "all") and not self.all_action_stored:
                continue  # an action group referenced as parent but absent
            pa = [("Action", p) for p in ACTION_PARENTS.get(a[1], [])]
            out.append({"uid": self.json_uid(a), "attrs": {}, "parents": [self.json_uid(p) for p in pa]})
        r.shuffle(out)
        for attrs_ent in out:
            for v in attrs_ent["attrs"].values():
                self._note_json(v)
        return out

    def _note_json(self, v: Any) -> None:
        if isinstance(v, dict):
            if "__extn" in v:
                self.feat["json_extn_" + v["__extn"]["fn"]] += 1
                if "args" in v["__extn"]:
                    self.feat["json_extn_multi_arg"] += 1
            elif "__entity" in v:
                self.feat["json_entity_ref"] += 1
            else:
                for x in v.values():
                    self._note_json(x)
        elif isinstance(v, list):
            for x in v:
                self._note_json(x)

    def json_uid(self, e: tuple[str, str]) -> dict[str, Any]:
        if self.r.random() < 0.1:
            self.feat["json_uid_entity_escape"] += 1
            return {"__entity": {"type": e[0], "id": e[1]}}
        return {"type": e[0], "id": e[1]}

    def any_entity(self) -> tuple[str, str]:
        r = self.r.random()
        if r < 0.08:
            return self.r.choice(self.absent)
        if r < 0.5:
            return self.r.choice(self.principals)
        if r < 0.7:
            return self.r.choice(self.groups)
        return self.r.choice(self.resources + self.folders)

    def json_value(self, ty: str, depth: int = 0) -> Any:
        r = self.r
        if ty == BOOL:
            return r.random() < 0.5
        if ty == LONG:
            return r.choice(LONGS) if r.random() < 0.95 else r.choice(BIG_LONGS)
        if ty == STR:
            return r.choice(STRINGS)
        if ty == ENT:
            return {"__entity": dict(zip(("type", "id"), self.any_entity()))}
        if ty == SETL:
            return [r.choice(LONGS) for _ in range(r.randint(0, 4))]
        if ty == SETS:
            return [r.choice(STRINGS[:8]) for _ in range(r.randint(0, 4))]
        if ty == SETE:
            return [self.json_value(ENT) for _ in range(r.randint(0, 3))]
        if ty == REC:
            rec = {}
            for f, fty in REC_FIELDS.items():
                if r.random() < 0.8:
                    rec[f] = self.json_value(fty, depth + 1)
            return rec
        if ty == "inner":
            return {f: self.json_value(fty) for f, fty in INNER_FIELDS.items() if r.random() < 0.8}
        if ty in EXT_FN:
            if ty == DT and r.random() < 0.25:
                # The multi-argument constructor form: offset(datetime, duration).
                return {"__extn": {"fn": "offset", "args": [
                    {"__extn": {"fn": "datetime", "arg": r.choice(DATETIMES[:9])}},
                    {"__extn": {"fn": "duration", "arg": r.choice(DURATIONS[:11])}}]}}
            return {"__extn": {"fn": EXT_FN[ty], "arg": r.choice(EXT_POOL[ty])}}
        raise ValueError(ty)

    # -- features -----------------------------------------------------------
    def f(self, name: str) -> None:
        self.pfeat.add(name)

    # -- literals -------------------------------------------------------------
    def lit(self, ty: str) -> str:
        r = self.r
        if ty == BOOL:
            return r.choice(["true", "false"])
        if ty == LONG:
            if r.random() < 0.04:
                self.f("long_extreme_literal")
                return str(r.choice(BIG_LONGS))
            return str(r.choice(LONGS))
        if ty == STR:
            s = r.choice(STRINGS)
            txt = cedar_string(s, r)
            if "\\u{" in txt:
                self.f("string_unicode_escape")
            if any(ord(c) > 0x7F for c in s):
                self.f("string_non_ascii")
            if any(0x300 <= ord(c) <= 0x36F for c in s):
                self.f("string_combining_char")
            if re.search(r'\\[nt0"\\r]|\\x', txt):
                self.f("string_escape")
            return txt
        if ty == ENT:
            e = self.any_entity()
            return cedar_uid(*e, rng=r)
        if ty in (SETL, SETS, SETE):
            self.f("set_literal")
            el = {SETL: LONG, SETS: STR, SETE: ENT}[ty]
            return "[" + ", ".join(self.lit(el) for _ in range(r.randint(0, 3))) + "]"
        if ty == REC:
            self.f("record_literal")
            fields = []
            for f, fty in REC_FIELDS.items():
                if fty == "inner" or r.random() < 0.3:
                    continue
                key = f if r.random() < 0.7 else cedar_string(f)
                fields.append(f"{key}: {self.lit(fty)}")
            return "{" + ", ".join(fields) + "}"
        if ty in EXT_FN:
            self.f("ext_" + EXT_FN[ty])
            if r.random() < 0.03:
                self.f("err_bad_ext_literal")
                return f'{EXT_FN[ty]}("{r.choice(BAD_EXT[ty])}")'
            return f'{EXT_FN[ty]}("{r.choice(EXT_POOL[ty])}")'
        raise ValueError(ty)

    # -- attribute access -------------------------------------------------------
    def access(self, ty: str) -> tuple[str, str | None] | None:
        """An expression of type `ty` read from the request/store, with the
        `has` guard that makes it safe (None when there is no simple guard)."""
        r = self.r
        opts: list[tuple[str, str | None]] = []
        var = r.choice(["principal", "principal", "resource", "resource", "context"])
        if var == "context":
            for a, aty in CONTEXT_ATTRS.items():
                if aty == ty:
                    opts.append((f"context.{a}", f"context has {a}"))
            for fld, fty in REC_FIELDS.items():
                if fty == ty:
                    opts.append((f"context.rec.{fld}", f"context has rec.{fld}"))
            for fld, fty in INNER_FIELDS.items():
                if fty == ty:
                    opts.append((f'context["rec"].inner.{fld}', f"context has rec.inner.{fld}"))
        else:
            for a, aty in ENTITY_ATTRS.items():
                if aty == ty:
                    if " " in a:
                        opts.append((f'{var}["{a}"]', f'{var} has "{a}"'))
                    else:
                        opts.append((f"{var}.{a}", f"{var} has {a}"))
            for fld, fty in REC_FIELDS.items():
                if fty == ty:
                    opts.append((f"{var}.info.{fld}", f"{var} has info.{fld}"))
            for fld, fty in INNER_FIELDS.items():
                if fty == ty:
                    opts.append((f"{var}.info.inner.{fld}", f"{var} has info.inner.{fld}"))
            for k, kty in TAG_KEYS.items():
                if kty == ty:
                    opts.append((f'{var}.getTag("{k}")', f'{var}.hasTag("{k}")'))
            if ty in (LONG, STR, BOOL) and r.random() < 0.3:
                a = r.choice([a for a, aty in ENTITY_ATTRS.items() if aty == ty and " " not in a])
                opts.append((f"{var}.owner.{a}", f"{var} has owner && {var}.owner has {a}"))
        if not opts:
            return None
        expr, guard = r.choice(opts)
        if ".getTag(" in expr:
            self.f("getTag")
        if ".owner." in expr:
            self.f("attr_of_entity_attr")
        return expr, guard

    # -- errors -------------------------------------------------------------------
    def err(self, ty: str) -> str:
        r = self.r
        kinds = ["missing_attr", "missing_entity", "type_error", "missing_tag", "missing_record_field"]
        if ty == LONG:
            kinds += ["overflow"] * 5
        if ty in EXT_FN:
            kinds += ["bad_ext_literal"] * 4
        if ty == DT:
            kinds += ["ext_overflow"]
        k = r.choice(kinds)
        self.f("err_" + k)
        if k == "missing_attr":
            return r.choice(["principal.nope", "resource.missing", "context.absent", "principal.info.nope"])
        if k == "missing_entity":
            e = r.choice(self.absent)
            a = r.choice([a for a, aty in ENTITY_ATTRS.items() if aty == ty] or ["level"])
            if " " in a:
                return f'{cedar_uid(*e)}["{a}"]'
            return f"{cedar_uid(*e)}.{a}"
        if k == "missing_tag":
            return r.choice(['resource.getTag("nope")', 'principal.getTag("missing tag")'])
        if k == "missing_record_field":
            return r.choice(["context.rec.nope", '{a: 1}["b"]', "principal.info.inner.zzz"])
        if k == "overflow":
            return r.choice([
                f"(9223372036854775807 + {self.expr(LONG, 0)})",
                f"({self.expr(LONG, 0)} * 4611686018427387904)",
                f"(-9223372036854775808 - {self.expr(LONG, 0)})",
                "(-(-9223372036854775807 - 1))",
                f"(3037000500 * 3037000500 + {self.expr(LONG, 0)})",
                "(9223372036854775807 + 1)",
            ])
        if k == "bad_ext_literal":
            return f'{EXT_FN[ty]}("{r.choice(BAD_EXT[ty])}")'
        if k == "ext_overflow":
            return 'datetime("9999-12-31").offset(duration("106751991167d"))'
        # type errors: an operand of the wrong type
        if ty == BOOL:
            return r.choice([
                f"({self.lit(LONG)} && true)",
                f"(if {self.lit(LONG)} then true else false)",
                f"{self.lit(STR)} < {self.lit(LONG)}",
                f"principal in {self.lit(LONG)}",
                f"principal.level like \"1*\"",
                f"{self.lit(STR)}.contains(1)",
                f"{self.lit(LONG)}.isIpv4()",
                f"!{self.lit(STR)}",
                f"{self.lit(DEC)} < {self.lit(DEC)}",
                f"User::\"a\" < User::\"b\"",
                f"{self.lit(DUR)} == {self.lit(DUR)}.offset({self.lit(DUR)})",
            ])
        if ty == LONG:
            return r.choice([f'("s" + {self.lit(LONG)})', f"({self.lit(STR)} * 2)", f"-{self.lit(BOOL)}",
                             f"({self.lit(DUR)} - {self.lit(LONG)})"])
        wrong = r.choice([t for t in (LONG, STR, BOOL, SETL, DEC, IP) if t != ty])
        return r.choice([f"(if {self.lit(LONG)} then {self.lit(ty)} else {self.lit(ty)})", self.lit(wrong)])

    # -- typed expressions ---------------------------------------------------------
    def expr(self, ty: str, d: int) -> str:
        """A (mostly) well-typed expression of type `ty` of depth <= d."""
        r = self.r
        if r.random() < self.P_ERR:
            e = self.err(ty)
            return f"({e})" if ty == BOOL else e
        if ty == BOOL:
            return f"({self.bool_expr(d)})"
        roll = r.random()
        if roll < 0.35:
            return self.lit(ty)
        if roll < 0.75 or d <= 0:
            a = self.access(ty)
            return a[0] if a else self.lit(ty)
        # Compound forms by type.
        if ty == LONG:
            op = r.choice(["+", "-", "*", "neg", "ite", "dur"])
            if op == "neg":
                self.f("arith_neg")
                return f"-({self.expr(LONG, d - 1)})"
            if op == "ite":
                return self.ite(LONG, d)
            if op == "dur":
                m = r.choice(["toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays"])
                self.f("duration_" + m)
                return f"{self.expr(DUR, d - 1)}.{m}()"
            self.f("arith_" + {"+": "add", "-": "sub", "*": "mul"}[op])
            return f"({self.expr(LONG, d - 1)} {op} {self.expr(LONG, d - 1)})"
        if ty == STR:
            return self.ite(STR, d)
        if ty == ENT:
            if r.random() < 0.5:
                return r.choice(["principal", "resource", "action"])
            return self.ite(ENT, d)
        if ty in (SETL, SETS, SETE):
            el = {SETL: LONG, SETS: STR, SETE: ENT}[ty]
            self.f("set_literal")
            return "[" + ", ".join(self.expr(el, d - 1) for _ in range(r.randint(0, 3))) + "]"
        if ty == REC:
            self.f("record_literal")
            fields = [f"{f}: {self.expr(fty, d - 1)}" for f, fty in REC_FIELDS.items()
                      if fty != "inner" and r.random() < 0.7]
            return "{" + ", ".join(fields) + "}"
        if ty == DT:
            op = r.choice(["offset", "toDate", "ite", "overflow"])
            if op == "ite":
                return self.ite(DT, d)
            if op == "overflow":
                # offset() overflows for far datetimes and long durations.
                self.f("datetime_offset")
                self.f("err_ext_overflow")
                return f'{self.expr(DT, d - 1)}.offset(duration("{r.choice(["106751991167d", "-106751991167d", "9223372036854775807ms"])}"))'
            self.f("datetime_" + op)
            if op == "offset":
                return f"{self.expr(DT, d - 1)}.offset({self.expr(DUR, d - 1)})"
            return f"{self.expr(DT, d - 1)}.toDate()"
        if ty == DUR:
            op = r.choice(["durationSince", "toTime", "lit"])
            if op == "lit":
                return self.lit(DUR)
            self.f("datetime_" + op)
            if op == "durationSince":
                return f"{self.expr(DT, d - 1)}.durationSince({self.expr(DT, d - 1)})"
            return f"{self.expr(DT, d - 1)}.toTime()"
        if ty in (DEC, IP):
            if r.random() < 0.3:
                return self.ite(ty, d)
            return self.lit(ty)
        raise ValueError(ty)

    def ite(self, ty: str, d: int) -> str:
        self.f("if_then_else")
        return f"(if {self.bool_expr(d - 1)} then {self.expr(ty, d - 1)} else {self.expr(ty, d - 1)})"

    def guarded(self, ty: str) -> tuple[str, str | None]:
        """An access of type ty and (maybe) its guard."""
        a = self.access(ty)
        if a is None:
            return self.lit(ty), None
        expr, guard = a
        if guard and self.r.random() < self.P_GUARD:
            self.f("has")
            if re.search(r" has [\w]+\.", guard):
                self.f("has_nested")
            if 'has "' in guard:
                self.f("has_quoted_attr")
            if "hasTag" in guard:
                self.f("hasTag")
            return expr, guard
        return expr, None

    def with_guard(self, guard: str | None, body: str) -> str:
        if guard:
            self.f("short_circuit_and_guard")
            return f"({guard} && {body})"
        return body

    def bool_expr(self, d: int) -> str:
        r = self.r
        if d <= 0:
            return r.choice([self.cmp_long, self.bool_attr, self.str_eq, self.is_in, self.lit_bool])()
        prods = [
            (self.cmp_long, 10), (self.bool_attr, 5), (self.str_eq, 5), (self.like, 5), (self.has, 5),
            (self.is_in, 10), (self.set_op, 8), (self.decimal_op, 4), (self.ip_op, 4), (self.datetime_op, 5),
            (self.duration_op, 3), (self.tag_op, 4), (self.and_or, 10), (self.not_, 3), (self.ite_bool, 3),
            (self.eq_misc, 4), (self.short_circuit, 4), (self.arith_cmp, 5),
        ]
        fn = r.choices([p for p, _ in prods], weights=[w for _, w in prods])[0]
        return fn(d)

    def lit_bool(self) -> str:
        return self.lit(BOOL)

    def bool_attr(self, d: int = 0) -> str:
        e, g = self.guarded(BOOL)
        if self.r.random() < 0.3:
            return self.with_guard(g, f"!{e}") if g else f"!{e}"
        return self.with_guard(g, e)

    def cmp_long(self, d: int = 1) -> str:
        e, g = self.guarded(LONG)
        op = self.r.choice(["==", "!=", "<", "<=", ">", ">="])
        rhs = self.expr(LONG, max(0, d - 1)) if self.r.random() < 0.5 else self.lit(LONG)
        if self.r.random() < 0.5:
            e, rhs = rhs, e
        self.f("cmp_long")
        return self.with_guard(g, f"{e} {op} {rhs}")

    def arith_cmp(self, d: int = 1) -> str:
        """Arithmetic on stored values, sometimes with operands near the Int64 limits."""
        r = self.r
        e, g = self.guarded(LONG)
        op = r.choice(["+", "-", "*"])
        self.f("arith_" + {"+": "add", "-": "sub", "*": "mul"}[op])
        if r.random() < 0.3:
            self.f("long_extreme_literal")
            other = str(r.choice(BIG_LONGS))
        else:
            other = self.expr(LONG, max(0, d - 1))
        lhs = f"{e} {op} {other}" if r.random() < 0.5 else f"{other} {op} {e}"
        if r.random() < 0.3:
            self.f("arith_neg")
            lhs = f"-({lhs})"
        cmp = r.choice(["==", "!=", "<", "<=", ">", ">="])
        return self.with_guard(g, f"{lhs} {cmp} {self.lit(LONG)}")

    def str_eq(self, d: int = 0) -> str:
        e, g = self.guarded(STR)
        op = self.r.choice(["==", "!="])
        self.f("string_eq")
        return self.with_guard(g, f"{e} {op} {self.expr(STR, 0)}")

    def like_pattern(self) -> str:
        """A `like` pattern built from a pool string: parts replaced by `*`,
        literal stars escaped as `\\*`."""
        r = self.r
        s = r.choice(STRINGS)
        out = []
        i = 0
        while i < len(s):
            if r.random() < 0.25:
                out.append("*")
                i += r.randint(0, 3)
                continue
            ch = s[i]
            out.append("\\*" if ch == "*" else ch)
            i += 1
        if r.random() < 0.2:
            out.append("*")
        pat = "".join(out)
        # Quote everything but our `*`/`\*` tokens through cedar_string.
        parts = re.split(r"(\\\*|\*)", pat)
        txt = '"'
        for p in parts:
            if p in ("*", "\\*"):
                txt += p
                if p == "\\*":
                    self.f("like_escaped_star")
                else:
                    self.f("like_wildcard")
            elif p:
                txt += cedar_string(p, r)[1:-1]
        return txt + '"'

    def like(self, d: int = 0) -> str:
        self.f("like")
        if self.r.random() < 0.1:
            return f"{self.lit(STR)} like {self.like_pattern()}"
        e, g = self.guarded(STR)
        return self.with_guard(g, f"{e} like {self.like_pattern()}")

    def has(self, d: int = 0) -> str:
        r = self.r
        self.f("has")
        var = r.choice(["principal", "resource", "context", "principal.owner", "context.ref"])
        if var.endswith("owner") or var.endswith("ref"):
            base = "principal has owner && " if var == "principal.owner" else "context has ref && "
            self.f("short_circuit_and_guard")
            attr = r.choice(["level", "info.inner", "name", '"weird key"'])
            return f"({base}{var} has {attr})"
        if var == "context":
            attr = r.choice(list(CONTEXT_ATTRS) + ["rec.flag", "rec.inner.deep", "nope", "rec.nope.deep"])
        else:
            attr = r.choice(list(ENTITY_ATTRS) + ["info.inner", "info.inner.deep", "info.count", "nope",
                                                  "info.nope.x"])
            if " " in attr:
                attr = f'"{attr}"'
                self.f("has_quoted_attr")
        if "." in attr:
            self.f("has_nested")
        return f"{var} has {attr}"

    def entity_const(self, kinds: list[list[tuple[str, str]]]) -> tuple[str, str]:
        pool = [e for k in kinds for e in k]
        if self.r.random() < 0.1:
            pool = self.absent
        return self.r.choice(pool)

    def is_in(self, d: int = 0) -> str:
        r = self.r
        form = r.choice(["in", "in", "in_set", "is", "is_in", "action_in", "in_attr"])
        var = r.choice(["principal", "resource"])
        kinds = [self.groups] if var == "principal" else [self.folders, self.groups]
        if form == "in":
            self.f("in_entity")
            e = self.entity_const(kinds + ([self.principals] if var == "principal" else [self.resources]))
            return f"{var} in {cedar_uid(*e, rng=r)}"
        if form == "in_set":
            self.f("in_set")
            es = [self.entity_const(kinds) for _ in range(r.randint(0, 3))]
            return f"{var} in [{', '.join(cedar_uid(*e, rng=r) for e in es)}]"
        if form == "is":
            self.f("is")
            t = r.choice(ALL_ENTITY_TYPES + ["Action"])
            return f"{var} is {t}"
        if form == "is_in":
            self.f("is_in")
            t = r.choice(PRINCIPAL_TYPES if var == "principal" else RESOURCE_TYPES + ["Folder"])
            e = self.entity_const(kinds)
            return f"{var} is {t} in {cedar_uid(*e, rng=r)}"
        if form == "action_in":
            self.f("action_in_cond")
            acts = r.sample(self.actions, r.randint(1, 3))
            if len(acts) == 1 and r.random() < 0.5:
                return f"action in {cedar_uid(*acts[0])}"
            return f"action in [{', '.join(cedar_uid(*a) for a in acts)}]"
        # in an attribute (entity or set of entities)
        self.f("in_attr")
        src, g = self.guarded(r.choice([ENT, SETE]))
        lhs = r.choice(["principal", "principal", "resource", "context.ref"])
        if lhs == "context.ref":
            g = "context has ref" + (f" && {g}" if g else "")
        return self.with_guard(g, f"{lhs} in {src}")

    def set_op(self, d: int = 1) -> str:
        r = self.r
        sty = r.choice([SETL, SETS, SETE])
        el = {SETL: LONG, SETS: STR, SETE: ENT}[sty]
        s, g = self.guarded(sty) if r.random() < 0.7 else (self.expr(sty, d - 1), None)
        op = r.choice(["contains", "containsAll", "containsAny", "isEmpty"])
        self.f("set_" + op)
        if op == "contains":
            body = f"{s}.contains({self.expr(el, d - 1)})"
        elif op == "isEmpty":
            body = f"{s}.isEmpty()"
        else:
            other = self.expr(sty, d - 1) if r.random() < 0.5 else self.lit(sty)
            body = f"{s}.{op}({other})"
        return self.with_guard(g, body)

    def ext_operand(self, ty: str) -> tuple[str, str | None]:
        if self.r.random() < 0.55:
            return self.guarded(ty)
        return self.expr(ty, 1), None

    def decimal_op(self, d: int = 0) -> str:
        a, g = self.ext_operand(DEC)
        self.f("ext_decimal")
        op = self.r.choice(["lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual", "==", "!=", "<"])
        b = self.lit(DEC) if self.r.random() < 0.7 else self.expr(DEC, 0)
        if op in ("==", "!=", "<"):
            if op == "<":
                self.f("decimal_lt_operator_type_error")
            return self.with_guard(g, f"{a} {op} {b}")
        self.f("decimal_" + op)
        return self.with_guard(g, f"{a}.{op}({b})")

    def ip_op(self, d: int = 0) -> str:
        a, g = self.ext_operand(IP)
        self.f("ext_ip")
        op = self.r.choice(["isInRange", "isInRange", "isLoopback", "isMulticast", "isIpv4", "isIpv6", "=="])
        self.f("ip_" + op)
        if op == "isInRange":
            return self.with_guard(g, f"{a}.isInRange({self.lit(IP)})")
        if op == "==":
            return self.with_guard(g, f"{a} == {self.lit(IP)}")
        return self.with_guard(g, f"{a}.{op}()")

    def datetime_op(self, d: int = 1) -> str:
        a, g = self.ext_operand(DT)
        self.f("ext_datetime")
        op = self.r.choice(["<", "<=", ">", ">=", "==", "!="])
        self.f("datetime_cmp")
        b = self.expr(DT, max(0, d - 1))
        return self.with_guard(g, f"{a} {op} {b}")

    def duration_op(self, d: int = 1) -> str:
        a, g = self.ext_operand(DUR)
        self.f("ext_duration")
        self.f("duration_cmp")
        if self.r.random() < 0.4:
            m = self.r.choice(["toMilliseconds", "toSeconds", "toMinutes", "toHours", "toDays"])
            self.f("duration_" + m)
            return self.with_guard(g, f"{a}.{m}() {self.r.choice(['<', '>=', '=='])} {self.lit(LONG)}")
        op = self.r.choice(["<", "<=", ">", ">=", "==", "!="])
        return self.with_guard(g, f"{a} {op} {self.expr(DUR, max(0, d - 1))}")

    def tag_op(self, d: int = 0) -> str:
        r = self.r
        var = r.choice(["principal", "resource"])
        k, kty = r.choice(list(TAG_KEYS.items()) + [("extra tag", STR), ("nope", STR)])
        key = cedar_string(k) if r.random() < 0.8 else "context.s"
        self.f("hasTag")
        if r.random() < 0.35:
            return f"{var}.hasTag({key})"
        self.f("getTag")
        body = f"{var}.getTag({key}) == {self.lit(kty)}" if kty != BOOL else f"{var}.getTag({key})"
        if r.random() < 0.7:
            self.f("short_circuit_and_guard")
            return f"({var}.hasTag({key}) && {body})"
        return body

    def and_or(self, d: int) -> str:
        op = self.r.choice(["&&", "||"])
        self.f("and" if op == "&&" else "or")
        n = self.r.randint(2, 3)
        return "(" + f" {op} ".join(self.bool_expr(d - 1) for _ in range(n)) + ")"

    def not_(self, d: int) -> str:
        self.f("not")
        return f"!({self.bool_expr(d - 1)})"

    def ite_bool(self, d: int) -> str:
        self.f("if_then_else")
        return f"(if {self.bool_expr(d - 1)} then {self.bool_expr(d - 1)} else {self.bool_expr(d - 1)})"

    def eq_misc(self, d: int = 1) -> str:
        r = self.r
        ty = r.choice([ENT, SETL, SETS, REC, STR, "mixed", "record_access"])
        self.f("eq_" + ty)
        if ty == "mixed":
            # Equality across types is false, never an error.
            return f"{self.expr(r.choice(ALL_TYPES), 0)} {r.choice(['==', '!='])} {self.expr(r.choice(ALL_TYPES), 0)}"
        if ty == "record_access":
            self.f("record_literal")
            v = self.expr(LONG, 0)
            key = r.choice(["a", '"a b"', '"\\u{e9}"'])
            acc = f"[{key}]" if key.startswith('"') else f".{key}"
            return f"{{{key}: {v}, other: {self.lit(STR)}}}{acc} == {self.lit(LONG)}"
        if ty == ENT:
            a = r.choice(["principal", "resource", "action", "principal.owner", "context.ref"])
            return f"{a} {r.choice(['==', '!='])} {self.expr(ENT, 0)}"
        e, g = self.guarded(ty)
        return self.with_guard(g, f"{e} == {self.expr(ty, max(0, d - 1))}")

    def short_circuit(self, d: int) -> str:
        """Constructs whose erroring operand must not be evaluated."""
        r = self.r
        self.f("short_circuit_explicit")
        bad = self.err(BOOL)
        return r.choice([
            f"(false && {bad})",
            f"(true || {bad})",
            f"(if true then {self.bool_expr(d - 1)} else {bad})",
            f"(if false then {bad} else {self.bool_expr(d - 1)})",
            f"({self.bool_expr(d - 1)} && {bad})",   # errors only when the first operand holds
            f"({self.bool_expr(d - 1)} || {bad})",
        ])

    # -- policies -------------------------------------------------------------------
    def scope_entity(self, pool: list[tuple[str, str]]) -> tuple[str, str]:
        e = self.r.choice(pool) if self.r.random() > 0.08 else self.r.choice(self.absent)
        self.scope_consts.append(e)
        return e

    def principal_scope(self, var: str) -> str:
        """A principal or resource scope; its meaning is kept in self.cur_scope[var]
        as (form, entity type or None, [entities]) so requests can target it."""
        r = self.r
        if var == "principal":
            members, containers, types = self.principals, self.groups, PRINCIPAL_TYPES
        else:
            members, containers, types = self.resources, self.folders + self.groups, RESOURCE_TYPES + ["Folder"]
        form = r.choices(["any", "eq", "in", "is", "is_in"], weights=[3, 3, 3, 1.5, 1.5])[0]
        self.f(f"scope_{var}_{form}")
        if form == "any":
            self.cur_scope[var] = ("any", None, [])
            return var
        if form == "eq":
            e = self.scope_entity(members)
            self.cur_scope[var] = ("eq", None, [e])
            return f"{var} == {cedar_uid(*e, rng=r)}"
        if form == "in":
            e = self.scope_entity(containers if r.random() < 0.8 else members)
            self.cur_scope[var] = ("in", None, [e])
            return f"{var} in {cedar_uid(*e, rng=r)}"
        t = r.choice(types)
        if form == "is":
            self.cur_scope[var] = ("is", t, [])
            return f"{var} is {t}"
        e = self.scope_entity(containers)
        self.cur_scope[var] = ("in", t, [e])
        return f"{var} is {t} in {cedar_uid(*e, rng=r)}"

    def action_scope(self) -> str:
        r = self.r
        form = r.choices(["any", "eq", "in", "in_list"], weights=[3, 3, 2, 2])[0]
        self.f(f"scope_action_{form}")
        if form == "any":
            self.cur_scope["action"] = ("any", None, [])
            return "action"
        if form == "eq":
            a = r.choice(self.actions)
            self.cur_scope["action"] = ("eq", None, [a])
            return f"action == {cedar_uid(*a)}"
        if form == "in":
            a = r.choice(self.actions)
            self.cur_scope["action"] = ("in", None, [a])
            return f"action in {cedar_uid(*a)}"
        acts = r.sample(self.actions, r.randint(1, 3))
        self.cur_scope["action"] = ("in", None, acts)
        return f"action in [{', '.join(cedar_uid(*a) for a in acts)}]"

    def ancestors(self, e: tuple[str, str]) -> set[tuple[str, str]]:
        """Ancestors of `e` in the store that entity_json() writes."""
        if e[0].endswith("Action"):
            todo = [("Action", p) for p in ACTION_PARENTS.get(e[1], [])] if e in self.actions else []
            seen: set[tuple[str, str]] = set()
            while todo:
                a = todo.pop()
                if a not in seen:
                    seen.add(a)
                    if a != ("Action", "all") or self.all_action_stored:
                        todo.extend(("Action", p) for p in ACTION_PARENTS.get(a[1], []))
            return seen
        seen = set()
        todo = list(self.parents.get(e, [])) if e in self.stored_set else []
        while todo:
            a = todo.pop()
            if a not in seen:
                seen.add(a)
                if a in self.stored_set:
                    todo.extend(self.parents.get(a, []))
        return seen

    def matching(self, var: str, scope: tuple[str, str | None, list]) -> tuple[str, str] | None:
        """An entity satisfying a scope, or None to fall back to a random one."""
        form, etype, ents = scope
        if var == "action":
            pool = self.actions
        else:
            pool = self.everything + self.absent
        if form == "any":
            return None
        if form == "eq":
            return ents[0]
        if form == "is":
            cands = [e for e in pool if e[0] == etype]
        else:
            cands = [e for e in pool if (e in ents or ents and set(ents) & self.ancestors(e))
                     and (etype is None or e[0] == etype)]
        return self.r.choice(cands) if cands else None

    def policy(self, idx: int) -> str:
        r = self.r
        self.pfeat = set()
        effect = "permit" if r.random() < 0.72 else "forbid"
        self.f(effect)
        head = ""
        if r.random() < 0.25:
            head += f'@id("rule-{idx}")\n'
            self.f("annotation")
        if r.random() < 0.1:
            head += '@advice("see \\"docs\\"")\n'
        if r.random() < 0.15:
            head += f"// policy number {idx}\n"
        self.cur_scope = {}
        scope = ", ".join([self.principal_scope("principal"), self.action_scope(), self.principal_scope("resource")])
        self.policy_scopes.append((effect, dict(self.cur_scope)))
        nconds = r.choices([0, 1, 2, 3, 4], weights=[3, 5, 3, 1.5, 1])[0]
        if effect == "forbid":
            nconds = max(1, nconds)  # forbids are conditional, or decisions are mostly deny
        conds = []
        for _ in range(nconds):
            kw = "when" if r.random() < 0.7 else "unless"
            self.f(kw)
            conds.append(f"{kw} {{ {self.bool_expr(r.randint(1, 3))} }}")
        if nconds >= 2:
            self.f("multiple_conditions")
        sep = r.choice([" ", "\n  "])
        body = f"{head}{effect} ({scope})" + "".join(sep + c for c in conds) + ";"
        for name in self.pfeat:
            self.feat[name] += 1
        return body

    def context(self) -> dict[str, Any]:
        ctx = {}
        for a, ty in CONTEXT_ATTRS.items():
            if self.r.random() < 0.85:
                ctx[a] = self.json_value(ty)
        return ctx

    def request_entity(self, members: list[tuple[str, str]], others: list[tuple[str, str]]) -> tuple[str, str]:
        r = self.r.random()
        if r < 0.55:
            return self.r.choice(members)
        if r < 0.8 and self.scope_consts:
            return self.r.choice(self.scope_consts)
        if r < 0.9:
            return self.r.choice(self.absent)
        return self.r.choice(others)

    def request(self) -> dict[str, Any]:
        r = self.r
        p = self.request_entity(self.principals, self.groups + self.resources)
        a = r.choice(self.actions) if r.random() < 0.95 else ("Action", "undefinedAction")
        res = self.request_entity(self.resources, self.folders + self.principals)
        if self.policy_scopes and r.random() < 0.7:
            # Aim at one policy's scope (mostly permits) so that decisions are
            # not all deny and conditions actually get evaluated.
            permits = [s for eff, s in self.policy_scopes if eff == "permit"]
            scopes = permits if permits and r.random() < 0.75 else [s for _, s in self.policy_scopes]
            scope = r.choice(scopes)
            self.feat["requests_targeted"] += 1
            p = self.matching("principal", scope["principal"]) or p
            a = self.matching("action", scope["action"]) or a
            res = self.matching("resource", scope["resource"]) or res
        return {"principal": {"type": p[0], "id": p[1]}, "action": {"type": a[0], "id": a[1]},
                "resource": {"type": res[0], "id": res[1]}, "context": self.context()}


def generate_case(seed: int = DEFAULT_SEED, index: int = 0) -> Case:
    """Generate case number `index` for `seed` (independent of other indices)."""
    rng = random.Random(f"{seed}:{index}")
    g = _Gen(rng)
    n = rng.randint(1, 25)
    policies = [g.policy(i) for i in range(n)]
    sep = rng.choice(["\n", "\n\n"])
    text = sep.join(policies) + "\n"
    entities = g.entity_json()
    requests = [g.request() for _ in range(rng.randint(8, 30))]
    g.feat["policies"] += n
    g.feat["requests"] += len(requests)
    return Case(seed=seed, index=index, policies=text, entities=entities, requests=requests,
                features=g.feat, ensure_ascii=rng.random() < 0.5, policy_texts=policies)


def generate_cases(seed: int = DEFAULT_SEED, count: int = 400) -> list[Case]:
    return [generate_case(seed, i) for i in range(count)]


# ---------------------------------------------------------------------------
# Running cedarpy on a case (shared with the pytest module).

_POLICY_ID = re.compile(r"policy `([^`]+)`")


def error_policy_id(msg: str) -> str:
    """The policy id an error message of cedarpy names (or the whole message)."""
    m = _POLICY_ID.search(msg)
    return m.group(1) if m else msg


def cedarpy_results(case: Case) -> list[dict[str, Any]]:
    """cedarpy's answers for every request of `case`, in the CLI's output shape."""
    import cedarpy

    ps = cedarpy.PolicySet.from_str(case.policies)
    ents = cedarpy.Entities.from_json_str(case.entities_json())
    results = cedarpy.is_authorized_batch(case.requests, ps, ents)
    out = []
    for res in results:
        out.append({
            "decision": res.decision.value.lower(),
            "reasons": sorted(res.diagnostics.reasons),
            "errors": sorted({error_policy_id(e) for e in res.diagnostics.errors}),
            "error_messages": list(res.diagnostics.errors),
        })
    return out


def classify_error(msg: str) -> str:
    if "integer overflow" in msg:
        return "integer_overflow"
    if "overflow" in msg.lower():
        return "extension_overflow"
    if "extension function" in msg:
        return "bad_extension_literal"
    if "does not exist" in msg:
        return "missing_entity"
    if "does not have the attribute" in msg:
        return "missing_attribute"
    if "does not have the tag" in msg:
        return "missing_tag"
    if "type error" in msg:
        return "type_error"
    return "other"


def self_check(seed: int, count: int) -> dict[str, Any]:
    """Generate `count` cases, check each with cedarpy and return statistics."""
    import cedarpy

    t0 = time.perf_counter()
    feats: collections.Counter = collections.Counter()
    cases_with: collections.Counter = collections.Counter()
    err_kinds: collections.Counter = collections.Counter()
    decisions: collections.Counter = collections.Counter()
    n_req = n_req_err = n_req_err_allow = 0
    gen_time = eval_time = 0.0
    for i in range(count):
        t = time.perf_counter()
        case = generate_case(seed, i)
        gen_time += time.perf_counter() - t
        try:
            cedarpy.PolicySet.from_str(case.policies)
        except Exception as e:  # pragma: no cover - a generator bug
            raise AssertionError(f"{case.name}: policy set does not parse in cedarpy: {e}\n{case.policies}")
        try:
            cedarpy.Entities.from_json_str(case.entities_json())
        except Exception as e:  # pragma: no cover
            raise AssertionError(f"{case.name}: entities do not load in cedarpy: {e}")
        t = time.perf_counter()
        results = cedarpy_results(case)
        eval_time += time.perf_counter() - t
        for res in results:
            n_req += 1
            decisions[res["decision"]] += 1
            if res["errors"]:
                n_req_err += 1
                if res["decision"] == "allow":
                    n_req_err_allow += 1
            for msg in res["error_messages"]:
                if not _POLICY_ID.search(msg):
                    raise AssertionError(f"{case.name}: an error that names no policy: {msg}")
                err_kinds[classify_error(msg)] += 1
        feats.update(case.features)
        for k in case.features:
            cases_with[k] += 1
    stats = {
        "seed": seed, "cases": count, "policies": feats["policies"], "requests": n_req,
        "decisions": dict(decisions), "requests_with_errors": n_req_err,
        "allow_with_errors": n_req_err_allow,
        "error_kinds": dict(err_kinds), "features": dict(feats), "cases_with_feature": dict(cases_with),
        "seconds_total": round(time.perf_counter() - t0, 2), "seconds_generate": round(gen_time, 2),
        "seconds_cedarpy": round(eval_time, 2),
    }
    return stats


REQUIRED_FEATURES = [
    "permit", "forbid", "when", "unless", "multiple_conditions", "annotation",
    "scope_principal_any", "scope_principal_eq", "scope_principal_in", "scope_principal_is", "scope_principal_is_in",
    "scope_action_any", "scope_action_eq", "scope_action_in", "scope_action_in_list",
    "scope_resource_any", "scope_resource_eq", "scope_resource_in", "scope_resource_is", "scope_resource_is_in",
    "entity_multi_parent", "parent_absent_entity", "referenced_entity_missing_from_store", "entity_tags",
    "json_extn_decimal", "json_extn_ip", "json_extn_datetime", "json_extn_duration", "json_extn_offset",
    "json_extn_multi_arg", "json_entity_ref", "json_uid_entity_escape", "attr_wrong_type",
    "attr_implicit_entity_record",
    "has", "has_nested", "has_quoted_attr", "hasTag", "getTag", "like", "like_wildcard", "like_escaped_star",
    "is", "is_in", "in_entity", "in_set", "in_attr", "action_in_cond", "if_then_else", "and", "or", "not",
    "short_circuit_and_guard", "short_circuit_explicit",
    "arith_add", "arith_sub", "arith_mul", "arith_neg", "long_extreme_literal", "cmp_long",
    "set_contains", "set_containsAll", "set_containsAny", "set_isEmpty", "set_literal", "record_literal",
    "eq_record_access", "eq_mixed",
    "string_escape", "string_unicode_escape", "string_non_ascii", "string_combining_char",
    "ext_decimal", "decimal_lessThan", "decimal_lessThanOrEqual", "decimal_greaterThan",
    "decimal_greaterThanOrEqual",
    "ext_ip", "ip_isInRange", "ip_isLoopback", "ip_isMulticast", "ip_isIpv4", "ip_isIpv6",
    "ext_datetime", "datetime_offset", "datetime_durationSince", "datetime_toDate", "datetime_toTime",
    "datetime_cmp", "ext_duration", "duration_cmp", "duration_toMilliseconds", "duration_toSeconds",
    "duration_toMinutes", "duration_toHours", "duration_toDays",
    "err_missing_attr", "err_missing_entity", "err_type_error", "err_overflow", "err_bad_ext_literal",
    "err_missing_tag", "err_missing_record_field", "err_ext_overflow",
]
REQUIRED_ERROR_KINDS = ["integer_overflow", "extension_overflow", "bad_extension_literal", "missing_entity",
                        "missing_attribute", "missing_tag", "type_error"]


def check_stats(stats: dict[str, Any]) -> list[str]:
    """Problems with the statistics of a self-check run (empty when healthy)."""
    problems = []
    missing = [f for f in REQUIRED_FEATURES if not stats["features"].get(f)]
    if missing:
        problems.append(f"features never generated: {missing}")
    missing_err = [k for k in REQUIRED_ERROR_KINDS if not stats["error_kinds"].get(k)]
    if missing_err:
        problems.append(f"error kinds never produced by cedarpy: {missing_err}")
    n = stats["requests"]
    allow = stats["decisions"].get("allow", 0) / n
    if not 0.2 <= allow <= 0.8:
        problems.append(f"allow share {allow:.2f} outside [0.2, 0.8]")
    err = stats["requests_with_errors"] / n
    if not 0.15 <= err <= 0.85:
        problems.append(f"share of requests with erroring policies {err:.2f} outside [0.15, 0.85]")
    if not stats["allow_with_errors"]:
        problems.append("no request is allowed while another policy errors")
    return problems


def dump_case(case: Case, directory: str, expected: list[dict[str, Any]] | None = None) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "policies.cedar"), "w", encoding="utf-8") as fh:
        fh.write(case.policies)
    with open(os.path.join(directory, "entities.json"), "w", encoding="utf-8") as fh:
        fh.write(case.entities_json())
    with open(os.path.join(directory, "requests.json"), "w", encoding="utf-8") as fh:
        fh.write(case.requests_json())
    if expected is not None:
        with open(os.path.join(directory, "expected.jsonl"), "w", encoding="utf-8") as fh:
            for e in expected:
                fh.write(json.dumps({k: e[k] for k in ("decision", "reasons", "errors")}) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CEDAR_DIFF_SEED", DEFAULT_SEED)))
    ap.add_argument("--cases", type=int, default=int(os.environ.get("CEDAR_DIFF_CASES", 400)))
    ap.add_argument("--self-check", action="store_true", help="verify with cedarpy and print coverage")
    ap.add_argument("--json", help="with --self-check: also write the statistics to this file")
    ap.add_argument("--dump", metavar="DIR", help="write the cases (with cedarpy's answers) under DIR")
    ap.add_argument("--show", type=int, metavar="INDEX", help="print one case")
    args = ap.parse_args(argv)
    if args.show is not None:
        case = generate_case(args.seed, args.show)
        print(case.policies)
        print(case.entities_json())
        print(case.requests_json())
        return 0
    if args.dump:
        for i in range(args.cases):
            case = generate_case(args.seed, i)
            dump_case(case, os.path.join(args.dump, case.name), cedarpy_results(case))
        print(f"wrote {args.cases} cases under {args.dump}")
        return 0
    if args.self_check:
        stats = self_check(args.seed, args.cases)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(stats, fh, indent=1, sort_keys=True)
        n = stats["requests"]
        print(f"seed {stats['seed']}: {stats['cases']} cases, {stats['policies']} policies, {n} requests "
              f"({stats['seconds_total']} s; cedarpy {stats['seconds_cedarpy']} s)")
        for k, v in sorted(stats["decisions"].items()):
            print(f"  {k}: {v} ({v / n:.1%})")
        print(f"  requests with >=1 erroring policy: {stats['requests_with_errors']} "
              f"({stats['requests_with_errors'] / n:.1%}); allowed despite errors: {stats['allow_with_errors']}")
        print("  error kinds (policy x request):", json.dumps(stats["error_kinds"], sort_keys=True))
        print("  features (count / cases containing):")
        for k in sorted(stats["features"]):
            print(f"    {k:42} {stats['features'][k]:6} / {stats['cases_with_feature'][k]}")
        problems = check_stats(stats)
        for p in problems:
            print("PROBLEM:", p)
        return 1 if problems else 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
