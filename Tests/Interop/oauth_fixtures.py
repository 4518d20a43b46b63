"""Helpers and fixtures for the OAuth tests that drive a real `portcullis serve`.

Nothing here talks to the token service in-process: every test starts the built
executable (see conftest.require_portcullis) on 127.0.0.1 with a fresh data
directory, waits for `GET /healthz`, and stops it with SIGTERM, asserting a
graceful exit 0. JWTs for attacks are assembled byte by byte here (`compact`),
so a test controls every header, claim and signature bit; the well-behaved
paths go through independent client libraries in the test modules.

Environment (besides conftest's PORTCULLIS_BIN):
  PORTCULLIS_TEST_START_TIMEOUT   seconds to wait for /healthz (default 30)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conftest import require_portcullis

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TT_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
TT_JWT = "urn:ietf:params:oauth:token-type:jwt"
TT_ID = "urn:ietf:params:oauth:token-type:id_token"

IDP_ISSUER = "https://idp.example.test"
IDP_AUDIENCE = "https://portcullis.example.test"

MAIL = "https://mail.example.test"
PAY = "https://pay.example.test"
TOOLS = "https://tools.example.test"

START_TIMEOUT = float(os.environ.get("PORTCULLIS_TEST_START_TIMEOUT", "30"))


# --------------------------------------------------------------------------- JOSE bits


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64u_json(value: Any) -> str:
    return b64u(json.dumps(value, separators=(",", ":")).encode())


def jwt_parts(token: str) -> tuple[dict, dict]:
    """Header and claims of a compact JWS, NOT verified."""
    h, p, _ = token.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p))


def thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    if jwk["kty"] == "EC":
        members = {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
    elif jwk["kty"] == "OKP":
        members = {"crv": jwk["crv"], "kty": "OKP", "x": jwk["x"]}
    else:
        raise ValueError(jwk["kty"])
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64u(hashlib.sha256(canonical).digest())


class Key:
    """An asymmetric key pair (ES256 on P-256 or EdDSA on Ed25519) with its JWK forms."""

    def __init__(self, alg: str = "ES256", kid: str | None = None):
        self.alg = alg
        if alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            numbers = self.private.public_key().public_numbers()
            self._members = {"kty": "EC", "crv": "P-256", "x": b64u(numbers.x.to_bytes(32, "big")),
                             "y": b64u(numbers.y.to_bytes(32, "big"))}
            self._d = b64u(self.private.private_numbers().private_value.to_bytes(32, "big"))
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self._members = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
            self._d = b64u(self.private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                      serialization.NoEncryption()))
        else:
            raise ValueError(alg)
        self.kid = kid or thumbprint(self._members)

    @property
    def public_jwk(self) -> dict:
        return dict(self._members, kid=self.kid, alg=self.alg, use="sig")

    @property
    def private_jwk(self) -> dict:
        return dict(self.public_jwk, d=self._d)

    @property
    def thumbprint(self) -> str:
        return thumbprint(self._members)

    def private_pem(self) -> str:
        return self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode()

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature: raw r || s for ES256, the 64 bytes for EdDSA."""
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.private.sign(signing_input)


def compact(header: dict, claims: Any, key: Key | None = None, *, signature: bytes | None = None,
            raw_payload: bytes | None = None) -> str:
    """A compact JWS with exactly this header and payload, signed by `key` unless `signature` is given."""
    signing_input = b64u_json(header) + "." + (b64u(raw_payload) if raw_payload is not None else b64u_json(claims))
    if signature is None:
        signature = key.sign(signing_input.encode()) if key is not None else b""
    return signing_input + "." + b64u(signature)


def resign(token: str, key: Key, *, header: dict | None = None, claims: dict | None = None) -> str:
    """The same token with header and claims changed as given, signed again by `key`."""
    h, c = jwt_parts(token)
    if header:
        h.update(header)
    if claims:
        c.update(claims)
    h = {k: v for k, v in h.items() if v is not None}
    c = {k: v for k, v in c.items() if v is not None}
    return compact(h, c, key)


def key_from_private_jwk(jwk: dict) -> Key:
    """Wraps a private JWK (the server's own signing-key.jwk) as a Key."""
    k = Key.__new__(Key)
    d = int.from_bytes(b64u_decode(jwk["d"]), "big")
    if jwk["kty"] == "EC":
        k.alg = "ES256"
        k.private = ec.derive_private_key(d, ec.SECP256R1())
        k._members = {"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]}
    else:
        k.alg = "EdDSA"
        k.private = ed25519.Ed25519PrivateKey.from_private_bytes(b64u_decode(jwk["d"]))
        k._members = {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}
    k._d = jwk["d"]
    k.kid = jwk.get("kid") or thumbprint(k._members)
    return k


def dpop_proof(key: Key, htm: str, htu: str, *, ath: str | None = None, jti: str | None = None,
               iat: int | None = None, header: dict | None = None, claims: dict | None = None,
               jwk: dict | None = None) -> str:
    """A DPoP proof (RFC 9449 §4.2) signed by `key`, with overrides for attacks."""
    h = {"typ": "dpop+jwt", "alg": key.alg, "jwk": jwk if jwk is not None else key.public_jwk}
    h.update(header or {})
    c = {"jti": jti or str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": iat if iat is not None else int(time.time())}
    if ath:
        c["ath"] = ath
    c.update(claims or {})
    return compact({k: v for k, v in h.items() if v is not None}, {k: v for k, v in c.items() if v is not None}, key)


def ath(access_token: str) -> str:
    return b64u(hashlib.sha256(access_token.encode()).digest())


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `portcullis serve` process on 127.0.0.1 with its own data directory."""

    def __init__(self, workdir: Path, config: dict | None = None, env: dict | None = None):
        self.binary = require_portcullis()
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.config = config
        self.env = env or {}
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "server.log"
        self.session = requests.Session()

    # -- process

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    issuer = base

    @property
    def token_endpoint(self) -> str:
        return self.base + "/oauth/token"

    def command(self) -> list[str]:
        cmd = [str(self.binary), "serve", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}"]
        if self.config is not None:
            path = self.workdir / "portcullis.json"
            path.write_text(json.dumps(self.config, indent=2))
            cmd += ["--config", str(path)]
        return cmd

    def start(self) -> "Server":
        last = ""
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = self.port or free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
            env.update(self.env)
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir)
            log.close()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if requests.get(self.base + "/healthz", timeout=1).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            last = self.log_tail()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"portcullis serve did not answer /healthz within {START_TIMEOUT}s:\n{last}", pytrace=False)
            if "in use" not in last.lower():
                break
            self.port = 0
        pytest.fail(f"portcullis serve exited with {self.proc.returncode} before answering /healthz:\n{last}",
                    pytrace=False)

    def stop(self) -> int:
        """SIGTERM by PID; returns the exit status (killing it after 15 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def signing_key(self) -> Key:
        """The server's private signing key, read from its data directory (as its operator could)."""
        return key_from_private_jwk(json.loads((self.data_dir / "signing-key.jwk").read_text()))

    def healthy(self) -> bool:
        try:
            return requests.get(self.base + "/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    # -- HTTP

    def admin(self, method: str, path: str, json_body: Any = None, *, data: bytes | str | None = None,
              token: str | None = "admin", headers: dict | None = None) -> requests.Response:
        h = dict(headers or {})
        if token == "admin":
            token = self.admin_token
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            data = json.dumps(json_body)
            h.setdefault("Content-Type", "application/json")
        return self.session.request(method, self.base + path, data=data, headers=h, timeout=30)

    def register(self, **fields: Any) -> dict:
        r = self.admin("POST", "/admin/agents", fields)
        assert r.status_code == 201, f"registration failed: {r.status_code} {r.text}"
        return r.json()

    def post_form(self, path: str, form: list[tuple[str, str]] | dict | str | bytes,
                  headers: dict | None = None) -> requests.Response:
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.session.post(self.base + path, data=form, headers=h, timeout=30)

    def token(self, form, headers: dict | None = None) -> requests.Response:
        return self.post_form("/oauth/token", form, headers)

    def introspect(self, token: str, *, admin: bool = True, form: list | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}"} if admin else {}
        return self.post_form("/oauth/introspect", [("token", token)] + (form or []), headers)

    def is_active(self, token: str) -> bool:
        r = self.introspect(token)
        assert r.status_code == 200, r.text
        body = r.json()
        assert isinstance(body.get("active"), bool), body
        if not body["active"]:
            assert body == {"active": False}, f"an inactive answer must say nothing else: {body}"
        return body["active"]

    def revoke(self, token: str) -> requests.Response:
        return self.post_form("/oauth/revoke", [("token", token)], {"Authorization": f"Bearer {self.admin_token}"})

    def events(self, agent_id: str) -> list[dict]:
        r = self.admin("GET", f"/admin/agents/{agent_id}/events")
        assert r.status_code == 200, r.text
        return r.json()

    def jwks(self) -> dict:
        return requests.get(self.base + "/oauth/jwks", timeout=10).json()

    # -- agents

    def new_agent(self, *, scopes=("mail.read",), audiences=(MAIL,), alg: str = "ES256", key: Key | None = None,
                  name: str | None = None, **extra: Any) -> "Agent":
        key = key or Key(alg)
        record = self.register(
            name=name or f"agent-{uuid.uuid4().hex[:8]}", owner="team-interop@example.test",
            purpose="interop testing", model_provider="example-ai", model="example-model", model_version="2026-01",
            public_keys=[key.public_jwk], scopes=list(scopes), audiences=list(audiences), **extra)
        return Agent(self, record["id"], key, record)


@contextlib.contextmanager
def running_server(workdir: Path, config: dict | None = None, env: dict | None = None) -> Iterator[Server]:
    """A started server; on exit it is stopped with SIGTERM and must exit 0."""
    server = Server(workdir, config, env).start()
    try:
        yield server
    finally:
        code = server.stop()
    assert code == 0, f"portcullis serve did not shut down gracefully on SIGTERM (exit {code}):\n{server.log_tail()}"


@dataclass
class Agent:
    server: Server
    id: str
    key: Key
    record: dict
    config_digest: str | None = None

    def claims(self, **overrides: Any) -> dict:
        now = int(time.time())
        c = {"iss": self.id, "sub": self.id, "aud": self.server.token_endpoint, "iat": now, "exp": now + 120,
             "jti": str(uuid.uuid4())}
        if self.config_digest:
            c["agent_config_digest"] = self.config_digest
        c.update(overrides)
        return {k: v for k, v in c.items() if v is not None}

    def assertion(self, header: dict | None = None, key: Key | None = None, **claims: Any) -> str:
        key = key or self.key
        h = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
        h.update(header or {})
        return compact({k: v for k, v in h.items() if v is not None}, self.claims(**claims), key)

    def form(self, assertion: str | None = None, grant: str = "client_credentials",
             extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        return [("grant_type", grant), ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion or self.assertion())] + (extra or [])

    def token(self, extra: list[tuple[str, str]] | None = None, *, assertion: str | None = None,
              dpop: str | None = None, grant: str = "client_credentials") -> requests.Response:
        return self.server.token(self.form(assertion, grant, extra), {"DPoP": dpop} if dpop else None)

    def access_token(self, extra: list[tuple[str, str]] | None = None, **kw: Any) -> str:
        r = self.token(extra, **kw)
        assert r.status_code == 200, f"token request failed: {r.status_code} {r.text}"
        return r.json()["access_token"]

    def exchange(self, subject_token: str, subject_type: str = TT_ACCESS,
                 extra: list[tuple[str, str]] | None = None, dpop: str | None = None) -> requests.Response:
        return self.token([("subject_token", subject_token), ("subject_token_type", subject_type)] + (extra or []),
                          grant=TOKEN_EXCHANGE, dpop=dpop)


def expect_error(r: requests.Response, status: int, error: str) -> dict:
    """Asserts an OAuth error response (RFC 6749 §5.2): status, JSON body, exact `error` code."""
    assert r.status_code == status, f"expected HTTP {status} {error}, got {r.status_code}: {r.text[:500]}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body.get("error") == error, f"expected error {error!r}, got {body}"
    assert "access_token" not in body
    return body


def expect_invalid_client(r: requests.Response) -> dict:
    body = expect_error(r, 401, "invalid_client")
    assert "WWW-Authenticate" in r.headers, "a 401 must carry WWW-Authenticate (RFC 6749 §5.2)"
    return body


# --------------------------------------------------------------------------- a user identity provider


class IdentityProvider:
    """A user IdP: an ES256 key whose JWKS is in a file named by the server configuration."""

    def __init__(self, directory: Path, issuer: str = IDP_ISSUER, audience: str = IDP_AUDIENCE):
        from joserfc import jwk as joserfc_jwk

        self.issuer = issuer
        self.audience = audience
        self.key = joserfc_jwk.ECKey.generate_key("P-256", parameters={"kid": "idp-key-1", "alg": "ES256",
                                                                        "use": "sig"}, private=True)
        directory.mkdir(parents=True, exist_ok=True)
        self.jwks_file = directory / "idp-jwks.json"
        self.jwks_file.write_text(json.dumps({"keys": [self.key.as_dict(private=False)]}))

    def config_entry(self) -> dict:
        return {"issuer": self.issuer, "jwksFile": str(self.jwks_file), "audience": self.audience}

    def user_token(self, sub: str = "alice@example.test", *, scope: str | None = None, lifetime: int = 600,
                   header: dict | None = None, **claims: Any) -> str:
        from joserfc import jwt as joserfc_jwt

        now = int(time.time())
        c = {"iss": self.issuer, "sub": sub, "aud": self.audience, "iat": now, "exp": now + lifetime,
             "jti": str(uuid.uuid4())}
        if scope is not None:
            c["scope"] = scope
        c.update(claims)
        h = {"alg": "ES256", "kid": "idp-key-1", "typ": "JWT"}
        h.update(header or {})
        return joserfc_jwt.encode(h, {k: v for k, v in c.items() if v is not None}, self.key)


@pytest.fixture(scope="module")
def idp(tmp_path_factory) -> IdentityProvider:
    return IdentityProvider(tmp_path_factory.mktemp("idp"))


# --------------------------------------------------------------------------- a tiny HTTP server of ours


class RecordingHTTPServer:
    """A 127.0.0.1 http.server that answers from a route table and records every request it gets."""

    def __init__(self, routes: dict | None = None):
        self.requests: list[tuple[str, str, dict]] = []
        self.routes: dict = routes or {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.requests.append((self.command, self.path, dict(self.headers)))
                route = outer.routes.get(self.path.split("?")[0])
                if callable(route):
                    status, headers, body = route(self)
                elif route is not None:
                    status, headers, body = 200, {"Content-Type": "application/json"}, json.dumps(route).encode()
                else:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "RecordingHTTPServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
