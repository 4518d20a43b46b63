"""`/metrics` read by the Prometheus project's own parser of the text format (prometheus_client), after real calls
through `portcullis serve` with the official `mcp` SDK.
"""
from __future__ import annotations

import uuid

import requests
from prometheus_client.parser import text_string_to_metric_families

from mcp_fixtures import SCENARIO_TOOLS, call_tools, run, scenario_agent, scenario_config
from oauth_fixtures import IdentityProvider, running_server


def scrape(server, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(server.base + "/metrics", headers=headers, timeout=10)


def samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_after_real_calls(tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(
        '@id("reads") permit (principal, action in [Action::"connect", Action::"list_tools"], resource);\n'
        '@id("tools") permit (principal, action == Action::"call_tool", resource) when { resource.effect == "read" };\n')
    idp = IdentityProvider(tmp_path / "idp")
    config = scenario_config(idp, tmp_path / "state", ("mail", "payments"), SCENARIO_TOOLS, tmp_path / "policies")
    with running_server(tmp_path, config) as server:
        token = (server.data_dir / "metrics.token").read_text().strip()
        assert scrape(server, None).status_code == 401
        assert scrape(server, "wrong").status_code == 401
        # The metrics token opens nothing else.
        assert requests.get(server.base + "/admin/agents", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code in (401, 403)

        _, agent_token = scenario_agent(server, idp, "alice@example.test", "metrics")
        marker = uuid.uuid4().hex[:8]
        results = run(call_tools(server, agent_token, [
            ("mail.list_inbox", {}),
            ("payments.get_invoice", {"id": "INV-2026-0043"}),
            ("payments.refund", {"invoice": f"INV-{marker}", "amount": 5}),  # a write: no policy permits it
        ]))
        assert len(results) == 3
        r = scrape(server, token)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        m = samples(r.text)
        allowed = m[("portcullis_decisions_total", (("action", "call_tool"), ("decision", "allow")))]
        denied = m[("portcullis_decisions_total", (("action", "call_tool"), ("decision", "deny")))]
        assert allowed == 2 and denied == 1, (allowed, denied)
        assert m[("portcullis_refusals_total", (("reason", "denied"),))] >= 1
        assert m[("portcullis_tokens_issued_total", (("grant", "token_exchange"),))] >= 1
        # Histograms: a count per stage, cumulative buckets that end at +Inf with the count.
        decide_count = m[("portcullis_stage_duration_seconds_count", (("stage", "decide"),))]
        assert decide_count >= 3
        inf = m[("portcullis_stage_duration_seconds_bucket", (("le", "+Inf"), ("stage", "decide")))]
        assert inf == decide_count
        buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in m.items()
                         if name == "portcullis_stage_duration_seconds_bucket" and dict(labels)["stage"] == "decide")
        assert buckets[0][0] == 5e-05
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "buckets are cumulative"
        assert m[("portcullis_audit_append_duration_seconds_count", (("kind", "decision"),))] >= 3
