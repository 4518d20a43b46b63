"""OpenTelemetry traces (issue #15, docs/observability.md "Traces"), end to end: `portcullis serve` exports its spans
over OTLP/HTTP to a receiver started here, which decodes them with the OpenTelemetry project's own protobuf
definitions (`opentelemetry-proto`). The agent (the official `mcp` SDK) sends a W3C `traceparent`, in the HTTP
header or in the message's `_meta`; every stage of its call is a span under one trace id, the call's span is a child
of the agent's, and the upstream receives the trace context with the gateway's span as parent. JSON logs too.
"""

from __future__ import annotations

import asyncio
import gzip
import http.server
import json
import secrets
import threading
import time

import httpx2
import pytest
import requests
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from mcp_fixtures import HTTPUpstream, TokenAuth, modern_meta, rpc, text_of
from oauth_fixtures import running_server
from response_fixtures import CONNECT_AND_READ, gateway_config, make_agent, mcp_token, write_policies

STAGES = {"kill", "inspect-arguments", "provenance", "decide", "arguments-dlp", "automatic-response", "obligations",
          "rate-limit", "approval", "history"}


class OTLPReceiver:
    """An OTLP/HTTP traces endpoint on 127.0.0.1 (POST /v1/traces, protobuf, gzip or not) that keeps every span."""

    def __init__(self) -> None:
        self.spans: list = []
        self.requests = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(415 if self.path == "/v1/traces" else 404)
                    self.end_headers()
                    return
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                with outer.lock:
                    outer.requests += 1
                    for resource in request.resource_spans:
                        service = {a.key: a.value.string_value for a in resource.resource.attributes}.get("service.name")
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                outer.spans.append((service, span))
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trace(self, trace_id: str, *, count: int, timeout: float = 15) -> list:
        """The spans of one trace, once at least `count` have arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [(svc, s) for svc, s in self.spans if s.trace_id.hex() == trace_id]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{len(found)} spans of trace {trace_id} within {timeout}s (wanted {count}); "
                             f"{self.requests} export requests, {len(self.spans)} spans in all")

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def receiver():
    r = OTLPReceiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    upstream = HTTPUpstream(tmp_path_factory.mktemp("traces-web"), "web")
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, receiver, web):
    work = tmp_path_factory.mktemp("traces")
    config = gateway_config(web, monitoring={"enabled": False},
                            policyDirectory=str(write_policies(work / "policies", CONNECT_AND_READ)))
    config["observability"] = {"logFormat": "json",
                               "traces": {"otlpEndpoint": receiver.url, "serviceName": "portcullis-test",
                                          "exportDelayMs": 100}}
    with running_server(work, config) as s:
        s.mcp = s.base + "/mcp"
        yield s


def new_context() -> tuple[str, str, str]:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent, f"00-{trace_id}-{parent}-01"


def upstream_traceparents(web) -> list[str]:
    """The `_meta.traceparent` of every tools/call the upstream received."""
    path = web.state / "bodies.jsonl"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            message = json.loads(json.loads(line)["body"])
        except ValueError:
            continue
        for m in message if isinstance(message, list) else [message]:
            if isinstance(m, dict) and m.get("method") == "tools/call":
                tp = ((m.get("params") or {}).get("_meta") or {}).get("traceparent")
                if tp:
                    out.append(tp)
    return out


def call_spans(receiver, trace_id: str, tool: str, timeout: float = 15) -> list:
    """The trace's spans once the call's span and all of its children have arrived. (A session's `initialize` and
    `tools/list` carry the same trace context and arrive as spans of their own, in other batches.)"""
    deadline = time.monotonic() + timeout
    wanted = len(STAGES) + 4  # the stages, the upstream, inspect-result, audit-record, audit-outcome
    spans: list = []
    while time.monotonic() < deadline:
        spans = receiver.trace(trace_id, count=1)
        calls = [s for _, s in spans if s.name == f"call_tool {tool}"]
        if calls and len([s for _, s in spans if s.parent_span_id == calls[0].span_id]) >= wanted:
            return spans
        time.sleep(0.1)
    raise AssertionError(f"the call's spans did not all arrive within {timeout}s: {sorted(s.name for _, s in spans)}")


def check_call_trace(receiver, web, trace_id: str, parent: str, tool: str):
    spans = call_spans(receiver, trace_id, tool)
    assert {svc for svc, _ in spans} == {"portcullis-test"}
    calls = [s for _, s in spans if s.name == f"call_tool {tool}"]
    assert len(calls) == 1, sorted(s.name for _, s in spans)
    call = calls[0]
    # The call's span continues the agent's trace: its parent is the span the agent named.
    assert call.parent_span_id.hex() == parent and call.kind == call.SPAN_KIND_SERVER
    attributes = {a.key: a.value.string_value for a in call.attributes}
    assert attributes["portcullis.action"] == "call_tool" and attributes["portcullis.decision"] == "allow"
    # One span per stage under the call's span, inside its time. (A session's other messages, `initialize` and
    # `tools/list`, carried the same header: they are spans of their own in the same trace.)
    children = {s.name: s for _, s in spans if s.parent_span_id == call.span_id}
    for stage in STAGES:
        span = children.get(stage)
        assert span is not None, f"no span for stage {stage} under the call: {sorted(children)}"
        assert call.start_time_unix_nano <= span.start_time_unix_nano <= span.end_time_unix_nano <= call.end_time_unix_nano
    upstream = children["upstream web"]
    assert upstream.kind == upstream.SPAN_KIND_CLIENT
    assert {"audit-record", "audit-outcome", "inspect-result"} <= set(children)
    # The upstream joined the trace, with the gateway's upstream span as its parent (not the agent's span).
    expected = f"00-{trace_id}-{upstream.span_id.hex()}-01"
    assert expected in upstream_traceparents(web), upstream_traceparents(web)[-3:]


def test_traceparent_header_spans_every_stage(server, receiver, web):
    token = mcp_token(make_agent(server))
    trace_id, parent, header = new_context()

    async def go():
        http = httpx2.AsyncClient(auth=TokenAuth(token, None), timeout=60, headers={"traceparent": header})
        async with Client(streamable_http_client(server.mcp, http_client=http), mode="legacy") as c:
            return await c.call_tool("web.echo", {"text": "traced"})
    result = asyncio.run(go())
    assert "traced" in text_of(result)
    check_call_trace(receiver, web, trace_id, parent, "web.echo")


def test_traceparent_in_meta(server, receiver, web):
    """A stateless (2026-07-28) tools/call carrying `_meta.traceparent`, no header."""
    token = mcp_token(make_agent(server))
    trace_id, parent, header = new_context()
    meta = dict(modern_meta(), traceparent=header)
    body = rpc("tools/call", {"name": "web.echo", "arguments": {"text": "meta"}, "_meta": meta})
    r = requests.post(server.mcp, data=json.dumps(body), timeout=30, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call", "Mcp-Name": "web.echo"})
    assert r.status_code == 200 and "meta" in r.text, r.text
    check_call_trace(receiver, web, trace_id, parent, "web.echo")
    # The audit record carries the same trace id.
    entries = server.admin("GET", "/admin/audit/entries?action=call_tool&limit=50").json()
    assert any(e["event"].get("trace_id") == trace_id for e in entries), entries[:2]


def test_refused_call_span_and_malformed_context(server, receiver):
    """A denied call is traced too (its span names the refusal); a malformed traceparent starts a new trace."""
    token = mcp_token(make_agent(server))
    trace_id, parent, header = new_context()
    body = rpc("tools/call", {"name": "web.save_note", "arguments": {"text": "x"},
                              "_meta": dict(modern_meta(), traceparent=header)})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": "web.save_note"}
    r = requests.post(server.mcp, data=json.dumps(body), timeout=30, headers=headers)
    assert "error" in r.json(), r.text  # a write no policy permits (hidden: it answers as an unknown tool)
    deadline = time.monotonic() + 15
    spans: dict = {}
    while "call_tool web.save_note" not in spans and time.monotonic() < deadline:
        spans = {s.name: s for _, s in receiver.trace(trace_id, count=1)}
        time.sleep(0.1)
    call = spans["call_tool web.save_note"]
    assert call.status.code == call.status.STATUS_CODE_ERROR and call.parent_span_id.hex() == parent
    assert spans["decide"].status.code == call.status.STATUS_CODE_ERROR
    assert "upstream web" not in spans  # nothing went upstream

    bad = f"00-{'0' * 32}-{secrets.token_hex(8)}-01"  # an all-zero trace id is invalid
    body = rpc("tools/call", {"name": "web.echo", "arguments": {"text": "y"}, "_meta": dict(modern_meta(), traceparent=bad)})
    headers["Mcp-Name"] = "web.echo"
    r = requests.post(server.mcp, data=json.dumps(body), timeout=30, headers=headers)
    assert r.status_code == 200 and "result" in r.json(), r.text
    time.sleep(0.5)
    with receiver.lock:
        assert not [s for _, s in receiver.spans if s.trace_id.hex() == "0" * 32]


def test_json_logs(server):
    lines = [line for line in server.log_tail(200_000).splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    assert parsed, lines[:5]
    assert len(parsed) >= len(lines) - 2, [line for line in lines if not line.startswith("{")][:5]
    for entry in parsed:
        assert {"time", "level", "label", "message"} <= set(entry), entry
    assert any(e["message"] == "portcullis serving" for e in parsed)
