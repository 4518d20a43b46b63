"""Scale-out (issue #14): three `portcullis serve` replicas on one PostgreSQL, driven with the official `mcp` SDK.

The module starts its own PostgreSQL (scripts/postgres-test-server, Debian's `postgresql` package) so that a test
can stop and restart it; it is stopped by PID at the end. Without PostgreSQL installed the module is skipped, unless
PORTCULLIS_REQUIRE_POSTGRES=1 (as in `.ci/run`), where that is a failure.

Every replica has its own data directory holding the same signing key, admin token and vault key (what a deployment
would mount from one secret), the same issuer (the load balancer's URL) and the same policy directory.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from mcp.shared.exceptions import MCPError

from mcp_fixtures import SCENARIO_TOOLS, call_tools, run, scenario_agent, scenario_config, mcp_client
from oauth_fixtures import IdentityProvider, Server, free_port
from response_fixtures import APPROVER_POLICIES, add_approver, wait_for_pending, with_token

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postgres-test-server"

POLICY = r'''
@id("connect") permit (principal, action in [Action::"connect", Action::"list_tools"], resource);
@id("tools") permit (principal, action == Action::"call_tool", resource);
'''
NO_MAIL_WHEN_TAINTED = r'''
@id("no-mail-when-tainted") forbid (principal, action == Action::"call_tool", resource == Tool::"mail.send_email")
when { context.session.tainted };
'''
REFUNDS_NEED_APPROVAL = r'''
@id("refunds-need-approval") @obligation("approval")
permit (principal, action == Action::"call_tool", resource == Tool::"payments.refund");
'''
NO_INVOICES = r'''
@id("no-invoices") forbid (principal, action == Action::"call_tool", resource == Tool::"payments.get_invoice");
'''
SHARED_FILES = ["signing-key.jwk", "admin.token", "vault.key", "metrics.token", "audit-key"]


def postgres_available() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/postgres")) if Path("/usr/lib/postgresql").exists() else False


if not postgres_available():
    if os.environ.get("PORTCULLIS_REQUIRE_POSTGRES") == "1":
        raise RuntimeError("PORTCULLIS_REQUIRE_POSTGRES=1 but PostgreSQL is not installed")
    pytest.skip("PostgreSQL is not installed", allow_module_level=True)


class Postgres:
    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()

    def start(self) -> str:
        out = subprocess.run([str(SCRIPT), "start", str(self.directory), str(self.port)], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def stop(self) -> None:
        subprocess.run([str(SCRIPT), "stop", str(self.directory)], check=True, timeout=60)

    def psql(self, url: str, sql: str) -> str:
        out = subprocess.run(["psql", url, "-At", "-c", sql], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()


class PausableProxy:
    """A TCP proxy in front of PostgreSQL for one replica: pausing it partitions that replica (its connections stay
    open and silent, as behind a broken network path) while the others keep working."""

    def __init__(self, target_port: int):
        import socket
        import threading
        self.target_port = target_port
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()  # PostgreSQL is down: the replica sees a refused connection, as without the proxy
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(2)
                except OSError:
                    pass

    def pause(self):
        self.flowing.clear()

    def resume(self):
        self.flowing.set()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import tempfile
    # A directory the `postgres` user can reach (pytest's may sit under a private one).
    pg = Postgres(Path(tempfile.mkdtemp(prefix="portcullis-pg-")))
    os.chmod(pg.directory, 0o755)
    admin_url = pg.start()
    try:
        name = "scale_" + uuid.uuid4().hex[:8]
        pg.psql(admin_url, f"CREATE DATABASE {name}")
        url = admin_url.replace("/postgres?", f"/{name}?")
        work = tmp_path_factory.mktemp("scale")
        (work / "policies").mkdir()
        (work / "policies" / "base.cedar").write_text(POLICY + REFUNDS_NEED_APPROVAL + NO_MAIL_WHEN_TAINTED + APPROVER_POLICIES)
        state = work / "state"
        idp = IdentityProvider(work / "idp")
        ports = [free_port() for _ in range(3)]
        # Replica 2 reaches PostgreSQL through a proxy a test can pause.
        proxy = PausableProxy(pg.port)
        proxied_url = url.replace(f":{pg.port}/", f":{proxy.port}/")
        issuer = f"http://127.0.0.1:{ports[0]}"
        replicas = []
        for i, port in enumerate(ports):
            config = scenario_config(idp, state, ("mail", "files", "payments"), SCENARIO_TOOLS, work / "policies")
            config["issuer"] = issuer
            config["store"] = {"postgres": {"url": proxied_url if i == 1 else url, "node": f"replica-{i + 1}", "pool": 8,
                                            "heartbeatMs": 100, "staleAfterMs": 500}}
            config["gateway"]["rateLimit"] = {"perMinute": 1_000_000, "burst": 100_000}
            # One tool limited to 6 calls a minute: the deployment's limit, not each replica's.
            config["gateway"]["toolRateLimits"] = {"mail.list_inbox": {"perMinute": 6, "burst": 6}}
            # Mail bodies are third-party content: reading the inbox taints; invoices are not.
            config["gateway"]["tools"]["mail.read_email"] = {"effect": "read", "untrustedResults": True}
            config["gateway"]["tools"]["payments.get_invoice"] = {"effect": "read", "untrustedResults": False}
            (work / f"r{i + 1}").mkdir()
            server = Server(work / f"r{i + 1}", config)
            server.port = port
            if i > 0:
                server.data_dir.mkdir(parents=True)
                for f in SHARED_FILES:
                    shutil.copy2(replicas[0].data_dir / f, server.data_dir / f)
            server.start()
            replicas.append(server)
        try:
            _PROXY["replica-2"] = proxy
            yield pg, url, replicas, idp, work
        finally:
            codes = [r.stop() for r in replicas]
            assert all(c in (0, -9) for c in codes), codes
    finally:
        pg.stop()


class Load:
    """Token issuance (and optionally registrations) against replicas from threads, recording what was
    acknowledged: the `jti` of every token issued and the id of every agent registered."""

    def __init__(self, replicas, *, register: bool):
        import threading
        self.jti: list[str] = []
        self.agents: list[str] = []
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        issuers = [replicas[0].new_agent(name=f"load-{uuid.uuid4().hex[:6]}", max_concurrent_sessions=100000)
                   for _ in replicas]
        self.threads = [threading.Thread(target=self._issue, args=(a, srv)) for a, srv in zip(issuers, replicas)]
        if register:
            self.threads += [threading.Thread(target=self._register, args=(srv,)) for srv in replicas]
        for t in self.threads:
            t.start()

    def _issue(self, agent, server):
        import base64
        import json
        s = requests.Session()
        while not self.stop_event.is_set():
            try:
                r = s.post(server.token_endpoint, data=agent.form(), timeout=10)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if r.status_code == 200:
                payload = r.json()["access_token"].split(".")[1]
                with self.lock:
                    self.jti.append(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])

    def _register(self, server):
        import json
        s = requests.Session()
        h = {"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"}
        i = 0
        while not self.stop_event.is_set():
            i += 1
            body = {"name": f"k{i}", "owner": "o", "purpose": "p", "model_provider": "m", "model": "m", "model_version": "1"}
            try:
                r = s.post(server.base + "/admin/agents", data=json.dumps(body), headers=h, timeout=10)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if r.status_code == 201:
                with self.lock:
                    self.agents.append(r.json()["id"])

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=30)


def logged(pg, url) -> tuple[set, set]:
    """The token `jti`s and agent ids the deployment's audit log records as issued and registered."""
    import json
    rows = [json.loads(e)["event"] for e in pg.psql(url, "SELECT entry FROM audit_entries ORDER BY idx").splitlines()]
    issued = {e["reason"].split()[0][len("jti="):] for e in rows if e["action"] == "token.issue" and e.get("decision") == "allow"}
    registered = {e["resource"] for e in rows if e["action"] == "agent.register"}
    return issued, registered


def wait_for(condition, timeout: float = 10.0, step: float = 0.01) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - start


def call(server, token, tool="payments.get_invoice", args=None):
    """The call's result, or the error that refused it (a refused connection raises out of the SDK's session)."""
    try:
        return run(call_tools(server, token, [(tool, args or {"id": "INV-2026-0043"})]))[0]
    except BaseException as e:  # noqa: BLE001 - an ExceptionGroup from the SDK's task group is a refusal too
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return e


def refused(result) -> bool:
    return isinstance(result, BaseException)


def test_every_replica_serves_an_agent_registered_on_one(cluster):
    _, _, replicas, idp, _ = cluster
    agent, token = scenario_agent(replicas[0], idp, "alice@example.test")
    for r in replicas:
        result = call(r, token)
        assert not refused(result), (r.base, result)


def test_a_kill_on_replica_1_stops_the_agent_on_replicas_2_and_3(cluster):
    _, _, replicas, idp, _ = cluster
    agent, token = scenario_agent(replicas[0], idp, "bob@example.test")
    for r in replicas[1:]:
        assert not refused(call(r, token))
    r = replicas[0].admin("POST", "/admin/kill", {"agent": agent.id, "reason": "scale-out test"})
    assert r.status_code == 200, r.text
    for other in replicas[1:]:
        result = call(other, token)
        assert refused(result), f"{other.base} still served a killed agent: {result}"
    # And a new token is refused everywhere (the store says killed).
    assert agent.exchange(idp.user_token("bob@example.test"), "urn:ietf:params:oauth:token-type:jwt",
                          [("resource", replicas[0].base + "/mcp"), ("scope", "mcp")]).status_code != 200


def test_a_token_revoked_on_one_replica_is_refused_on_the_others(cluster):
    _, _, replicas, idp, _ = cluster
    _, token = scenario_agent(replicas[0], idp, "carol@example.test")
    assert not refused(call(replicas[2], token))
    r = replicas[1].revoke(token)
    assert r.status_code == 200, r.text
    for other in (replicas[0], replicas[2]):
        assert refused(call(other, token)), other.base


def test_an_approval_granted_on_one_replica_releases_a_call_waiting_on_another(cluster):
    import threading
    _, _, replicas, idp, work = cluster
    agent, token = scenario_agent(replicas[0], idp, "grace@example.test")
    approver = add_approver(replicas[0], "rita-" + uuid.uuid4().hex[:6])
    invoice = "INV-" + uuid.uuid4().hex[:8]
    out = {}

    def waiting_call():
        out["result"] = call(replicas[1], token, "payments.refund", {"invoice": invoice, "amount": 5})
        out["at"] = time.monotonic()

    thread = threading.Thread(target=waiting_call)
    thread.start()
    pending = wait_for_pending(replicas[2], agent.id)
    assert pending["tool"] == "payments.refund", pending
    r = with_token(replicas[0], approver, "POST", f"/admin/approvals/{pending['id']}/approve", {"reason": "checked"})
    approved = time.monotonic()
    assert r.status_code == 200, r.text
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert not refused(out["result"]), out["result"]
    # Released by the feed, not at the end of the wait: well under the 250 ms fallback read plus the call.
    assert out["at"] - approved < 2.0, out["at"] - approved
    from mcp_fixtures import scenario_actions
    assert [a["amount"] for a in scenario_actions(work / "state", "payments", "refund") if a["invoice"] == invoice] == [5]


def test_taint_follows_the_agent_to_another_replica(cluster):
    _, _, replicas, idp, _ = cluster
    mail = ("mail.send_email", {"to": "bob@company.example", "subject": "hello", "body": "hi"})
    # Untainted, the agent may send mail on replica 3.
    _, clean = scenario_agent(replicas[0], idp, "heidi@example.test")
    assert not refused(call(replicas[2], clean, *mail))
    # Another agent reads an e-mail (untrusted content) on replica 2, then tries to send mail on replica 3.
    _, token = scenario_agent(replicas[0], idp, "ivan@example.test")
    assert not refused(call(replicas[1], token, "mail.read_email", {"id": "1"}))
    # The next call, on another replica, is decided on the taint (a new MCP session takes longer than the feed).
    for other in (replicas[2], replicas[0]):
        result = call(other, token, *mail)
        assert refused(result), f"{other.base} let a tainted agent send mail: {result}"


def test_a_policy_reload_on_one_replica_is_in_force_on_all(cluster):
    _, _, replicas, idp, work = cluster
    _, token = scenario_agent(replicas[0], idp, "dave@example.test")
    assert not any(refused(call(r, token)) for r in replicas)
    path = work / "policies" / "no-invoices.cedar"
    path.write_text(NO_INVOICES)
    try:
        r = replicas[0].admin("POST", "/admin/policies/reload")
        assert r.status_code == 200, r.text
        # Announced on the feed: the others reload now, not at their next look at the directory.
        for other in replicas[1:]:
            wait_for(lambda: refused(call(other, token)), timeout=1.5, step=0.05)
    finally:
        path.unlink()
        replicas[0].admin("POST", "/admin/policies/reload")
    for other in replicas:
        wait_for(lambda: not refused(call(other, token)), timeout=5, step=0.1)


def test_a_rate_limit_holds_across_the_three_replicas(cluster):
    """6 calls a minute admits about 6 across three replicas, not 18 (docs/scale-out.md: no overshoot, a bounded
    undershoot from tokens a replica leased and did not spend)."""
    _, _, replicas, idp, _ = cluster
    _, token = scenario_agent(replicas[0], idp, "frank@example.test")
    results = []
    for _ in range(6):
        for r in replicas:
            results += run(call_tools(r, token, [("mail.list_inbox", {})]))
    admitted = [x for x in results if not refused(x)]
    limited = [x for x in results if refused(x) and "rate limit" in str(x).lower()]
    # The test runs for a few seconds: at 6/min at most one more token drips in.
    assert 6 <= len(admitted) <= 7, (len(admitted), results)
    assert len(admitted) + len(limited) == 18, results


def propagation(replicas, work, what: str, trials: int) -> str:
    """From sending a kill (or a revocation) to replica 1 until replicas 2 and 3 refuse an agent's token they had just
    accepted (so had cached). The request is sent from another thread while this one polls both replicas: the
    figure is the time to stop the agent everywhere, not the time replica 1 takes to answer (which includes its
    audit record and store update)."""
    import threading
    delays, answered = [], []
    for trial in range(trials):
        agent = replicas[0].new_agent(scopes=["mcp"], audiences=[replicas[0].base + "/mcp"], trust_level=3)
        token = agent.access_token([("scope", "mcp"), ("resource", replicas[0].base + "/mcp")])
        for other in replicas[1:]:
            # Authenticated (the answer is about the missing session, not the token): the replica caches the agent.
            assert ping(other, token) not in (401, 403, 503)
        result = {}

        def act():
            if what == "kill":
                r = replicas[0].admin("POST", "/admin/kill", {"agent": agent.id, "reason": f"trial {trial}"})
            else:
                r = replicas[0].revoke(token)
            result["status"], result["at"] = r.status_code, time.monotonic()

        thread = threading.Thread(target=act)
        sent = time.monotonic()
        thread.start()
        stopped = {}
        while len(stopped) < 2:
            assert time.monotonic() - sent < 5, f"a replica still accepts the token 5 s after the {what}"
            for i, other in enumerate(replicas[1:]):
                if i not in stopped and ping(other, token) in (401, 403):
                    stopped[i] = time.monotonic() - sent
        thread.join()
        assert result["status"] == 200
        delays += stopped.values()
        answered.append(result["at"] - sent)
    delays.sort()
    answered.sort()

    def pct(xs, p):
        return xs[max(0, int(round(len(xs) * p)) - 1)] * 1000

    line = (f"{what} propagation, 3 replicas, {trials} trials ({len(delays)} replica-trials): refused on replicas 2 and 3 "
            f"median {statistics.median(delays) * 1000:.1f} ms, p99 {pct(delays, 0.99):.1f} ms, max {delays[-1] * 1000:.1f} ms; "
            f"answered by replica 1 median {statistics.median(answered) * 1000:.1f} ms, p99 {pct(answered, 0.99):.1f} ms")
    print("\n" + line)
    if out := os.environ.get("PORTCULLIS_SCALE_REPORT"):
        with open(out, "a") as f:
            f.write(line + "\n")
    # The target is 100 ms at p99 (BENCHMARKS.md has the figures); the assertion leaves room for a loaded CI machine
    # running three replicas, PostgreSQL and this client on two cores, and still fails on a replica that waits for
    # its next resynchronisation or cache expiry instead of hearing the change.
    assert pct(delays, 0.99) < 250, delays[-10:]
    return line


def test_kill_propagation_across_replicas(cluster):
    _, _, replicas, _, work = cluster
    propagation(replicas, work, "kill", int(os.environ.get("PORTCULLIS_SCALE_TRIALS", "100")))


def test_revocation_propagation_across_replicas(cluster):
    _, _, replicas, _, work = cluster
    propagation(replicas, work, "revocation", int(os.environ.get("PORTCULLIS_SCALE_TRIALS", "100")))


_SESSIONS: dict[str, requests.Session] = {}


def ping(server, token) -> int:
    """One authenticated MCP request (kept-alive connection per replica, so polling is fine-grained)."""
    session = _SESSIONS.setdefault(server.base, requests.Session())
    r = session.post(server.base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                      headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
                               "MCP-Protocol-Version": "2025-06-18"}, timeout=5)
    return r.status_code


def test_a_replica_partitioned_from_postgres_refuses_instead_of_serving_stale_state(cluster):
    """Replica 2's path to PostgreSQL goes silent; a kill on replica 1 cannot reach it, and within its staleness
    bound (500 ms here) it refuses the agent, as it refuses everyone, rather than serve it from its cache."""
    _, _, replicas, idp, _ = cluster
    proxy = cluster_proxy()
    agent, token = scenario_agent(replicas[0], idp, "mallory@example.test")
    assert ping(replicas[1], token) not in (401, 403, 503)
    proxy.pause()
    try:
        r = replicas[0].admin("POST", "/admin/kill", {"agent": agent.id, "reason": "partition test"})
        assert r.status_code == 200, r.text
        # Past its staleness bound (500 ms) the cut-off replica serves nobody from memory: every request is refused
        # at once, before anything waits on PostgreSQL.
        time.sleep(1.0)
        for _ in range(10):
            started = time.monotonic()
            status = ping(replicas[1], token)
            assert status == 503, status
            assert time.monotonic() - started < 1.0
            time.sleep(0.05)
        body = requests.post(replicas[1].base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                             headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
                                      "MCP-Protocol-Version": "2025-06-18"}, timeout=5).text
        assert "cannot vouch" in body, body
    finally:
        proxy.resume()
    # Reconnected: the kill is in force there too, and other agents are served again.
    _, fresh = scenario_agent(replicas[0], idp, "niaj@example.test")
    wait_for(lambda: ping(replicas[1], fresh) not in (401, 403, 503), timeout=15, step=0.1)
    assert ping(replicas[1], token) in (401, 403)


_PROXY: dict[str, PausableProxy] = {}


def cluster_proxy() -> PausableProxy:
    return _PROXY["replica-2"]


def test_postgres_down_every_call_is_refused_and_service_resumes(cluster):
    """PostgreSQL stopped while the replicas issue tokens: calls are refused, every token acknowledged before (or
    during) the stop is in the audit log afterwards, and service resumes when PostgreSQL is back."""
    pg, url, replicas, idp, _ = cluster
    _, token = scenario_agent(replicas[0], idp, "erin@example.test")
    assert not refused(call(replicas[1], token))
    load = Load(replicas, register=False)
    acknowledged = load.jti
    wait_for(lambda: len(acknowledged) > 30, timeout=20, step=0.05)
    pg.stop()
    try:
        # Within the staleness bound every replica refuses, with a reason, instead of serving from memory.
        for r in replicas:
            wait_for(lambda: replicas_refuse_or_unavailable(r, token), timeout=5, step=0.05)
        resp = requests.post(replicas[2].base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                             headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
                                      "MCP-Protocol-Version": "2025-06-18"}, timeout=10)
        assert resp.status_code in (401, 503), resp.text
        during = len(acknowledged)
        time.sleep(0.5)
        assert len(acknowledged) == during, "a token was acknowledged while PostgreSQL was down"
    finally:
        pg.start()
        load.stop()
    last = {}

    def served(r):
        last[r.base] = call(r, token)
        return not refused(last[r.base])

    for r in replicas:
        try:
            wait_for(lambda: served(r), timeout=20, step=0.2)
        except BaseException:
            raw = requests.post(r.base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}, timeout=10)
            raise AssertionError(f"{r.base} did not serve again: {last.get(r.base)!r} {raw.status_code} {raw.text}")
    issued, _ = logged(pg, url)
    assert not set(acknowledged) - issued, set(acknowledged) - issued


def replicas_refuse_or_unavailable(server, token) -> bool:
    try:
        r = requests.post(server.base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                          headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
                                   "MCP-Protocol-Version": "2025-06-18"}, timeout=10)
    except requests.RequestException:
        return False
    return r.status_code in (401, 403, 503)


# --------------------------------------------------------------------------- one audit log for the deployment


def audit_verify(url: str, data_dir: Path) -> subprocess.CompletedProcess:
    from oauth_fixtures import require_portcullis
    return subprocess.run([str(require_portcullis()), "audit", "verify", "--postgres", url, "--data-dir", str(data_dir),
                           "--json"], capture_output=True, text=True, timeout=300)


def test_one_audit_log_for_the_deployment(cluster):
    """Every replica appends to one Merkle log in PostgreSQL; any replica serves any entry and its proof."""
    import json
    _, url, replicas, idp, _ = cluster
    agent, token = scenario_agent(replicas[0], idp, "judy@example.test")
    for r in replicas:
        assert not refused(call(r, token))
    r = replicas[2].admin("GET", f"/admin/audit/entries?agent={agent.id}&kind=decision&limit=100")
    assert r.status_code == 200, r.text
    decisions = [e for e in r.json() if e["event"].get("action") == "call_tool"]
    assert len(decisions) >= 3, decisions
    index = decisions[0]["index"]
    # A checkpoint signed by replica 1 is the default tree of a proof served by replica 2.
    signed = replicas[0].admin("POST", "/admin/audit/checkpoint")
    assert signed.status_code == 200, signed.text
    proof = replicas[1].admin("GET", f"/admin/audit/proof/inclusion?index={index}")
    assert proof.status_code == 200, proof.text
    assert proof.json()["tree_size"] > index and proof.json().get("checkpoint"), proof.json()
    out = audit_verify(url, replicas[0].data_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["intact"] and report["entries"] > index, report


def test_a_replica_killed_under_load_loses_no_acknowledged_entry(cluster):
    """kill -9 one replica while all three append (token issuance, registrations): every acknowledged event is in
    the log, the log verifies, and the replica starts again on it."""
    import signal
    pg, url, replicas, _, _ = cluster
    victim = replicas[2]
    load = Load(replicas, register=True)
    acknowledged_jti, acknowledged_agents = load.jti, load.agents
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(acknowledged_jti) + len(acknowledged_agents) < 300:
        time.sleep(0.05)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    time.sleep(0.5)
    load.stop()
    assert len(acknowledged_jti) > 20 and len(acknowledged_agents) > 20, (len(acknowledged_jti), len(acknowledged_agents))
    out = audit_verify(url, replicas[0].data_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    issued, registered = logged(pg, url)
    assert not set(acknowledged_agents) - registered, set(acknowledged_agents) - registered
    assert not set(acknowledged_jti) - issued, set(acknowledged_jti) - issued
    # The killed replica starts again and appends to the same log.
    victim.proc = None
    victim.start()
    victim.new_agent(name="after-restart")
    assert audit_verify(url, replicas[0].data_dir).returncode == 0
