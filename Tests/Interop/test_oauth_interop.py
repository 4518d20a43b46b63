"""Interop: independent OAuth/JOSE libraries against a real `portcullis serve`.

requests-oauth2client (discovery, private_key_jwt, DPoP, token exchange,
introspection, revocation), PyJWT and joserfc (verifying issued tokens from the
published JWKS), authlib (private_key_jwt), and the official MCP Python SDK
(private-key-JWT client credentials after RFC 9728 discovery) each talk to the
executable over HTTP; so do the `portcullis agent …` and `portcullis config …`
commands. One server serves the module; a few tests start their own for a
special configuration.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import time

import jwskate
import jwt as pyjwt
import pytest
import requests
import requests_oauth2client as roc

from oauth_fixtures import (
    MAIL,
    PAY,
    TOOLS,
    TT_ACCESS,
    Key,
    RecordingHTTPServer,
    Server,
    expect_error,
    expect_invalid_client,
    free_port,
    idp,  # noqa: F401  (fixture)
    jwt_parts,
    running_server,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory, idp):  # noqa: F811
    config = {"trustedIdentityProviders": [idp.config_entry()], "accessTokenTTL": 600}
    with running_server(tmp_path_factory.mktemp("interop"), config) as s:
        yield s


def verify_pyjwt(server: Server, token: str, audience: str, algorithms=("ES256",)) -> dict:
    """Verifies an access token with PyJWT, keys fetched by PyJWKClient from the published jwks_uri."""
    client = pyjwt.PyJWKClient(server.base + "/oauth/jwks", cache_keys=False)
    signing_key = client.get_signing_key_from_jwt(token)
    return pyjwt.decode(token, signing_key.key, algorithms=list(algorithms), audience=audience, issuer=server.base,
                        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]})


def roc_client(server: Server, agent, **kw) -> roc.OAuth2Client:
    """requests-oauth2client configured by discovery, authenticating with private_key_jwt."""
    auth = roc.PrivateKeyJwt(agent.id, jwskate.Jwk(agent.key.private_jwk), alg=agent.key.alg,
                             aud=kw.pop("aud", None))
    return roc.OAuth2Client.from_discovery_endpoint(
        server.base + "/.well-known/oauth-authorization-server", issuer=server.base, auth=auth, testing=True, **kw)


# --------------------------------------------------------------------------- data directory and process


def test_first_start_creates_private_data_directory_and_shuts_down_gracefully(tmp_path):
    workdir = tmp_path
    s = Server(workdir).start()
    try:
        data = s.data_dir
        for name in ("portcullis.sqlite", "signing-key.jwk", "admin.token"):
            assert (data / name).is_file(), f"{name} missing after first start"
        for name in ("signing-key.jwk", "admin.token"):
            mode = stat.S_IMODE(os.stat(data / name).st_mode)
            assert mode == 0o600, f"{name} has mode {oct(mode)}, expected 0o600"
        dir_mode = stat.S_IMODE(os.stat(data).st_mode)
        assert dir_mode & 0o077 == 0, f"data directory is readable by others: {oct(dir_mode)}"
        token = s.admin_token
        assert len(token) >= 32
        kid = s.jwks()["keys"][0]["kid"]
        assert s.admin("GET", "/admin/agents").status_code == 200
    finally:
        code = s.stop()
    assert code == 0, f"SIGTERM must shut down gracefully (exit 0), got {code}:\n{s.log_tail()}"
    # A second start on the same directory keeps the admin token and the signing key.
    s2 = Server(workdir).start()
    try:
        assert s2.admin_token == token
        assert s2.jwks()["keys"][0]["kid"] == kid
    finally:
        assert s2.stop() == 0


# --------------------------------------------------------------------------- metadata and JWKS


def test_authorization_server_metadata(server):
    r = requests.get(server.base + "/.well-known/oauth-authorization-server", timeout=10)
    assert r.status_code == 200
    m = r.json()
    assert m["issuer"] == server.base
    assert m["token_endpoint"] == server.base + "/oauth/token"
    assert m["jwks_uri"] == server.base + "/oauth/jwks"
    assert m["introspection_endpoint"] == server.base + "/oauth/introspect"
    assert m["revocation_endpoint"] == server.base + "/oauth/revoke"
    assert m["authorization_endpoint"].startswith(server.base)
    assert "client_credentials" in m["grant_types_supported"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in m["grant_types_supported"]
    assert m["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "none" not in [a.lower() for a in m["token_endpoint_auth_signing_alg_values_supported"]]


def test_jwks_is_public_only_with_a_single_content_type(server):
    r = requests.get(server.base + "/oauth/jwks", timeout=10)
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert len(keys) >= 1
    for k in keys:
        assert not ({"d", "p", "q", "dp", "dq", "qi", "k"} & set(k)), f"private member published: {k}"
        assert k["use"] == "sig" and k["kid"] and k["alg"] == "ES256"
    # RFC 9110 §8.3: Content-Type is a singleton field; two values make the media type undefined.
    content_types = r.raw.headers.getlist("Content-Type")
    assert len(content_types) == 1, f"JWKS response carries {len(content_types)} Content-Type fields: {content_types}"


# --------------------------------------------------------------------------- requests-oauth2client


def test_roc_client_credentials_private_key_jwt_via_discovery(server):
    agent = server.new_agent(scopes=["mail.read", "mail.send"], audiences=[MAIL, PAY])
    client = roc_client(server, agent)
    assert client.token_endpoint == server.token_endpoint
    token = client.client_credentials(scope="mail.read admin.everything", resource=MAIL)
    assert token.token_type.lower() == "bearer"
    assert token.scope == "mail.read", "requested scopes are intersected with the allowed ones"
    header, _ = jwt_parts(token.access_token)
    assert header["typ"] == "at+jwt"
    claims = verify_pyjwt(server, token.access_token, MAIL)
    assert claims["sub"] == agent.id and claims["client_id"] == agent.id
    assert claims["scope"] == "mail.read"
    assert claims["exp"] - claims["iat"] <= 600
    assert claims["agent"]["purpose"] == "interop testing"
    assert claims["agent"]["model_provider"] == "example-ai"
    assert claims["agent"]["model"] == "example-model"
    assert claims["agent"]["model_version"] == "2026-01"
    assert "act" not in claims and "cnf" not in claims

    # Several audiences: `resource` is required, and must be one of them.
    with pytest.raises(roc.InvalidTarget):
        client.client_credentials(scope="mail.read")
    with pytest.raises(roc.InvalidTarget):
        client.client_credentials(scope="mail.read", resource=TOOLS)
    with pytest.raises(roc.InvalidScope):
        client.client_credentials(scope="admin.everything", resource=MAIL)


def test_roc_dpop_bound_token(server):
    agent = server.new_agent(scopes=["mail.read"], audiences=[MAIL])
    client = roc_client(server, agent)
    dpop_key = roc.DPoPKey.generate(alg="ES256")
    token = client.client_credentials(scope="mail.read", resource=MAIL, dpop=True, dpop_key=dpop_key)
    assert isinstance(token, roc.DPoPToken)
    claims = verify_pyjwt(server, token.access_token, MAIL)
    assert claims["cnf"] == {"jkt": dpop_key.dpop_jkt}
    info = server.introspect(token.access_token).json()
    assert info["active"] is True and info["token_type"] == "DPoP"


def test_roc_token_exchange_user_to_agent_to_agent(server, idp):  # noqa: F811
    assistant = server.new_agent(scopes=["mail.read", "mail.send", "pay", "calendar.read"], audiences=[MAIL, PAY],
                                 name="assistant")
    payer = server.new_agent(scopes=["pay", "mail.read"], audiences=[PAY], name="payer")
    user_token = idp.user_token("alice@example.test", scope="mail.read mail.send pay")

    details = [
        {"type": "payment", "recipient": "acme-gmbh", "max_amount": 100, "currency": "EUR"},
        {"type": "email", "recipients": ["bob@example.test", "carol@example.test"]},
    ]
    a_client = roc_client(server, assistant)
    # calendar.read is the agent's but not the user's: asking for it is a widening, refused.
    with pytest.raises(roc.InvalidScope):
        a_client.token_exchange(subject_token=user_token, subject_token_type="jwt", resource=PAY,
                                scope="mail.read calendar.read")
    delegated = a_client.token_exchange(subject_token=user_token, subject_token_type="jwt", resource=PAY,
                                        scope="mail.read pay", authorization_details=json.dumps(details))
    assert delegated.kwargs.get("issued_token_type") == TT_ACCESS
    a_claims = verify_pyjwt(server, delegated.access_token, PAY)
    assert a_claims["sub"] == "alice@example.test"
    assert a_claims["on_behalf_of"] == "alice@example.test"
    assert a_claims["client_id"] == assistant.id
    assert a_claims["act"] == {"sub": assistant.id}
    assert set(a_claims["scope"].split()) == {"mail.read", "pay"}
    assert a_claims["authorization_details"] == details

    narrowed = [{"type": "payment", "recipient": "acme-gmbh", "max_amount": 40, "currency": "EUR"}]
    b_client = roc_client(server, payer)
    second = b_client.token_exchange(subject_token=delegated, resource=PAY, scope="pay",
                                     authorization_details=json.dumps(narrowed))
    b_claims = verify_pyjwt(server, second.access_token, PAY)
    assert b_claims["sub"] == "alice@example.test"
    assert b_claims["on_behalf_of"] == "alice@example.test"
    assert b_claims["client_id"] == payer.id
    assert b_claims["act"] == {"sub": payer.id, "act": {"sub": assistant.id}}
    assert b_claims["scope"] == "pay"
    assert b_claims["authorization_details"] == narrowed
    assert b_claims["exp"] <= a_claims["exp"], "a delegated token must not outlive its subject token"

    # Scopes only narrow: the payer may not get what the subject token does not hold.
    with pytest.raises(roc.EndpointError) as e:
        b_client.token_exchange(subject_token=delegated, resource=PAY, scope="mail.send")
    assert e.value.error == "invalid_scope"


def test_the_users_intent_is_signed_into_the_delegation_and_only_from_the_users_token(server, idp):  # noqa: F811
    """Issue #17: the task statement comes from the user's token, is carried unchanged along the chain, and a token
    request cannot set or change it (requests-oauth2client as the agents, PyJWT verifying)."""
    assistant = server.new_agent(scopes=["mail.read", "pay"], audiences=[MAIL, PAY], name="intent-assistant")
    payer = server.new_agent(scopes=["pay"], audiences=[PAY], name="intent-payer")
    task = "Pay Acme's invoice INV-2026-0042 (1250 EUR) to Acme's verified account."
    user_token = idp.user_token("alice@example.test", scope="mail.read pay", intent=task)
    a_client = roc_client(server, assistant)
    # An `intent` the agent puts in its request is not a parameter Portcullis reads.
    delegated = a_client.token_exchange(subject_token=user_token, subject_token_type="jwt", resource=PAY, scope="pay",
                                        intent="Pay everything to GB82 WEST 1234 5698 7654 32")
    assert verify_pyjwt(server, delegated.access_token, PAY)["intent"] == task
    second = roc_client(server, payer).token_exchange(subject_token=delegated, resource=PAY, scope="pay",
                                                      intent="something else")
    assert verify_pyjwt(server, second.access_token, PAY)["intent"] == task
    # Without an intent in the user's token there is none; an agent's own token never has one.
    plain = a_client.token_exchange(subject_token=idp.user_token("bob@example.test", scope="pay"),
                                    subject_token_type="jwt", resource=PAY, scope="pay", intent="made up")
    assert "intent" not in verify_pyjwt(server, plain.access_token, PAY)
    assert "intent" not in verify_pyjwt(server, a_client.client_credentials(scope="pay", resource=PAY).access_token, PAY)
    # An intent that is not a string of at most 4,096 bytes is refused.
    for bad in (42, "", "x" * 5000):
        with pytest.raises(roc.EndpointError) as e:
            a_client.token_exchange(subject_token=idp.user_token("carol@example.test", scope="pay", intent=bad),
                                    subject_token_type="jwt", resource=PAY, scope="pay")
        assert e.value.error == "invalid_grant" and "intent" in str(e.value.description)


def test_roc_introspection_and_revocation(server):
    agent = server.new_agent(scopes=["mail.read"], audiences=[MAIL])
    other = server.new_agent(scopes=["mail.read"], audiences=[MAIL])
    # Audience = issuer: the token endpoint is the other audience the server accepts.
    client = roc_client(server, agent, aud=server.base)
    token = client.client_credentials(scope="mail.read", resource=MAIL)

    info = client.introspect_token(token)
    assert info["active"] is True
    assert info["sub"] == agent.id and info["aud"] == MAIL and info["scope"] == "mail.read"
    assert info["token_type"] == "Bearer"

    class AdminBearer(requests.auth.AuthBase):
        def __call__(self, r):
            r.headers["Authorization"] = f"Bearer {server.admin_token}"
            return r

    admin_client = roc.OAuth2Client.from_discovery_endpoint(
        server.base + "/.well-known/oauth-authorization-server", issuer=server.base, auth=AdminBearer(),
        testing=True)
    assert admin_client.introspect_token(token)["active"] is True

    # Another agent may not revoke this agent's token.
    other_client = roc_client(server, other, aud=server.base)
    with pytest.raises(roc.EndpointError) as e:
        other_client.revoke_access_token(token)
    assert e.value.error == "unauthorized_client"
    assert client.introspect_token(token)["active"] is True

    assert client.revoke_access_token(token) is True
    assert client.introspect_token(token) == {"active": False}
    assert admin_client.introspect_token(token) == {"active": False}
    # Revoking again, or revoking garbage, is not an error (RFC 7009 §2.2).
    assert client.revoke_access_token(token) is True
    assert admin_client.revoke_access_token("not-a-token") is True


# --------------------------------------------------------------------------- PyJWT, joserfc, EdDSA


def test_pyjwt_and_joserfc_verify_issued_token(server):
    from joserfc import jwk as jjwk
    from joserfc import jwt as jjwt

    agent = server.new_agent(scopes=["mail.read"], audiences=[MAIL])
    token = agent.access_token([("resource", MAIL)])
    header = pyjwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    jwks = server.jwks()
    assert header["kid"] in [k["kid"] for k in jwks["keys"]]
    claims = verify_pyjwt(server, token, MAIL)
    assert claims["nbf"] <= claims["iat"] + 1

    keyset = jjwk.KeySet.import_key_set(jwks)
    decoded = jjwt.decode(token, keyset, algorithms=["ES256"])
    jjwt.JWTClaimsRegistry(iss={"essential": True, "value": server.base},
                           aud={"essential": True, "value": MAIL},
                           sub={"essential": True, "value": agent.id}).validate(decoded.claims)
    assert decoded.header["typ"] == "at+jwt"
    # A token verified against the wrong audience fails in PyJWT: aud is really bound.
    with pytest.raises(pyjwt.InvalidAudienceError):
        verify_pyjwt(server, token, PAY)


def test_eddsa_server_variant_and_env_override(tmp_path):
    """signingAlgorithm EdDSA in the file; PORTCULLIS_ACCESS_TOKEN_TTL in the environment wins over the file."""
    config = {"signingAlgorithm": "EdDSA", "accessTokenTTL": 900}
    with running_server(tmp_path, config, env={"PORTCULLIS_ACCESS_TOKEN_TTL": "120"}) as s:
        jwks = s.jwks()
        assert [(k["kty"], k["crv"], k["alg"]) for k in jwks["keys"]] == [("OKP", "Ed25519", "EdDSA")]
        # An agent with an Ed25519 key authenticates with an EdDSA client assertion.
        agent = s.new_agent(scopes=["mail.read"], audiences=[MAIL], alg="EdDSA")
        r = agent.token([("resource", MAIL)])
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["expires_in"] == 120
        claims = verify_pyjwt(s, body["access_token"], MAIL, algorithms=("EdDSA",))
        assert claims["exp"] - claims["iat"] == 120
        assert pyjwt.get_unverified_header(body["access_token"])["alg"] == "EdDSA"
        assert s.is_active(body["access_token"])


# --------------------------------------------------------------------------- authlib


def test_authlib_client_credentials_private_key_jwt(server):
    from authlib.integrations.requests_client import OAuth2Session, OAuthError
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
    from joserfc import jwk as jjwk

    agent = server.new_agent(scopes=["mail.read", "mail.send"], audiences=[MAIL])
    private = jjwk.ECKey.import_key(agent.key.private_jwk)

    class FiveMinutePrivateKeyJWT(PrivateKeyJWT):
        """authlib's assertions live an hour by default; the server accepts at most ten minutes."""

        def sign(self, auth, token_endpoint):
            return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
                                        alg=self.alg, header=self.headers, expires_in=300)

    session = OAuth2Session(agent.id, private, token_endpoint_auth_method="private_key_jwt", scope="mail.send")
    session.register_client_auth_method(FiveMinutePrivateKeyJWT(server.token_endpoint, alg="ES256"))
    token = session.fetch_token(server.token_endpoint, grant_type="client_credentials", resource=MAIL)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "mail.send"
    claims = verify_pyjwt(server, token["access_token"], MAIL)
    assert claims["sub"] == agent.id

    # authlib's default one-hour assertion is refused (exp more than 10 minutes ahead).
    default = OAuth2Session(agent.id, private, token_endpoint_auth_method="private_key_jwt")
    default.register_client_auth_method(PrivateKeyJWT(server.token_endpoint, alg="ES256"))
    with pytest.raises(OAuthError) as e:
        default.fetch_token(server.token_endpoint, grant_type="client_credentials", resource=MAIL)
    assert e.value.error == "invalid_client"


# --------------------------------------------------------------------------- the MCP Python SDK


def test_mcp_sdk_private_key_jwt_provider_discovers_and_obtains_token(server):
    import httpx2
    from mcp.client.auth.extensions.client_credentials import PrivateKeyJWTOAuthProvider, SignedJWTParameters

    seen_tokens: list[str] = []

    def mcp_endpoint(handler):
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            seen_tokens.append(auth[len("Bearer "):])
            return 200, {"Content-Type": "application/json"}, b'{"jsonrpc":"2.0","id":1,"result":{}}'
        www = f'Bearer resource_metadata="{rs.base}/.well-known/oauth-protected-resource/mcp"'
        return 401, {"WWW-Authenticate": www, "Content-Type": "application/json"}, b'{"error":"unauthorized"}'

    with RecordingHTTPServer() as rs:
        resource = rs.base + "/mcp"
        prm = {"resource": resource, "authorization_servers": [server.base], "scopes_supported": ["mail.read"],
               "bearer_methods_supported": ["header"]}
        rs.routes.update({"/mcp": mcp_endpoint, "/.well-known/oauth-protected-resource/mcp": prm,
                          "/.well-known/oauth-protected-resource": prm})
        agent = server.new_agent(scopes=["mail.read", "mail.send"], audiences=[resource])

        class MemoryStorage:
            def __init__(self):
                self.tokens = None
                self.client_info = None

            async def get_tokens(self):
                return self.tokens

            async def set_tokens(self, tokens):
                self.tokens = tokens

            async def get_client_info(self):
                return self.client_info

            async def set_client_info(self, info):
                self.client_info = info

        storage = MemoryStorage()
        signer = SignedJWTParameters(issuer=agent.id, subject=agent.id, signing_key=agent.key.private_pem(),
                                     signing_algorithm="ES256", lifetime_seconds=120)
        sign = signer.create_assertion_provider()
        audiences: list[str] = []

        async def assertion_provider(audience: str) -> str:
            audiences.append(audience)
            return await sign(audience)

        provider = PrivateKeyJWTOAuthProvider(server_url=resource, storage=storage, client_id=agent.id,
                                              assertion_provider=assertion_provider, issuer=server.base)

        async def call() -> int:
            async with httpx2.AsyncClient(auth=provider, timeout=30) as client:
                r = await client.post(resource, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
                return r.status_code

        status = asyncio.run(call())
        assert status == 200, f"MCP request failed after OAuth ({status}); resource server saw {rs.requests}"
        assert seen_tokens, "the provider never sent a bearer token"
        assert storage.tokens is not None and storage.tokens.access_token == seen_tokens[-1]
        claims = verify_pyjwt(server, seen_tokens[-1], resource)
        assert claims["sub"] == agent.id
        assert claims["scope"] == "mail.read"
        assert audiences == [server.base], "the SDK's client assertion is addressed to the issuer identifier"
        paths = [p for _, p, _ in rs.requests]
        assert any(p.startswith("/.well-known/oauth-protected-resource") for p in paths)


# --------------------------------------------------------------------------- lifecycle via the CLI


def cli(server: Server, *args: str, check: bool = True, token_env: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    if token_env:
        env["PORTCULLIS_ADMIN_TOKEN"] = server.admin_token
    p = subprocess.run([str(server.binary), *args], capture_output=True, text=True, env=env, timeout=60,
                       stdin=subprocess.DEVNULL, cwd=server.workdir)
    if check:
        assert p.returncode == 0, f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def test_lifecycle_through_the_cli(server, tmp_path):
    key = Key()
    key_file = tmp_path / "agent.jwk"
    key_file.write_text(json.dumps(key.public_jwk))
    srv = ["--server", server.base, "--json"]
    p = cli(server, "agent", "register", "--name", "cli-agent", "--owner", "ops@example.test", "--purpose",
            "triage mail", "--model-provider", "example-ai", "--model", "example-model", "--model-version", "1",
            "--public-key", str(key_file), "--scope", "mail.read", "--audience", MAIL, *srv)
    record = json.loads(p.stdout)
    agent_id = record["id"]
    assert record["status"] == "active" and record["name"] == "cli-agent"
    assert record.get("client_id", agent_id) == agent_id

    listed = json.loads(cli(server, "agent", "list", *srv).stdout)
    assert agent_id in [a["id"] for a in listed]
    active = json.loads(cli(server, "agent", "list", "--status", "active", *srv).stdout)
    assert agent_id in [a["id"] for a in active]
    # --token-file instead of the environment.
    p = cli(server, "agent", "list", "--token-file", str(server.data_dir / "admin.token"), *srv, token_env=False)
    assert agent_id in [a["id"] for a in json.loads(p.stdout)]

    shown = json.loads(cli(server, "agent", "show", agent_id, *srv).stdout)
    assert shown["id"] == agent_id and [e["kind"] for e in shown["events"]] == ["registered"]

    updated = json.loads(cli(server, "agent", "update", agent_id, "--purpose", "triage and answer mail",
                             "--reason", "scope review", *srv).stdout)
    assert updated["purpose"] == "triage and answer mail"

    from oauth_fixtures import Agent

    agent = Agent(server, agent_id, key, updated)
    token = agent.access_token([("resource", MAIL)])
    assert jwt_parts(token)[1]["agent"]["purpose"] == "triage and answer mail"
    assert server.is_active(token)

    suspended = json.loads(cli(server, "agent", "suspend", agent_id, "--reason", "incident 42", *srv).stdout)
    assert suspended["status"] == "suspended"
    expect_invalid_client(agent.token([("resource", MAIL)]))
    assert not server.is_active(token), "suspension must revoke outstanding tokens"

    resumed = json.loads(cli(server, "agent", "resume", agent_id, "--reason", "incident closed", *srv).stdout)
    assert resumed["status"] == "active"
    fresh = agent.access_token([("resource", MAIL)])
    assert server.is_active(fresh)
    assert not server.is_active(token), "tokens revoked by the suspension stay revoked"

    gone = json.loads(cli(server, "agent", "decommission", agent_id, "--reason", "retired", *srv).stdout)
    assert gone["status"] == "decommissioned"
    assert not server.is_active(fresh)
    expect_invalid_client(agent.token([("resource", MAIL)]))
    p = cli(server, "agent", "resume", agent_id, "--reason", "oops", *srv, check=False)
    assert p.returncode != 0
    assert "decommissioned" in (p.stdout + p.stderr)

    kinds = [e["kind"] for e in server.events(agent_id)]
    assert kinds == ["registered", "updated", "suspended", "resumed", "decommissioned"], kinds
    decommissioned = json.loads(cli(server, "agent", "list", "--status", "decommissioned", *srv).stdout)
    assert agent_id in [a["id"] for a in decommissioned]

    # No admin credential at all: the CLI refuses.
    p = cli(server, "agent", "list", "--token-file", str(tmp_path / "missing.token"), *srv, check=False,
            token_env=False)
    assert p.returncode != 0


def test_quarantine_revokes_and_refuses(server):
    agent = server.new_agent()
    token = agent.access_token()
    r = server.admin("POST", f"/admin/agents/{agent.id}/quarantine", {"reason": "anomalous tool use"})
    assert r.status_code == 200 and r.json()["status"] == "quarantined"
    assert not server.is_active(token)
    expect_invalid_client(agent.token())
    r = server.admin("POST", f"/admin/agents/{agent.id}/suspend", {})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input", "a transition needs a reason"


# --------------------------------------------------------------------------- configuration


def run_cli(binary, *args, env=None, timeout=20) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    base.update(env or {})
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=base, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_config_show_masks_secrets(server, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"accessTokenTTL": 300, "maxDelegationDepth": 3}))
    p = run_cli(server.binary, "config", "show", "--config", str(config), "--data-dir", str(server.data_dir))
    assert p.returncode == 0, p.stderr
    shown = json.loads(p.stdout)
    assert shown["accessTokenTTL"] == 300 and shown["maxDelegationDepth"] == 3
    assert shown["dataDirectory"] == str(server.data_dir)
    secret_jwk = json.loads((server.data_dir / "signing-key.jwk").read_text())
    assert server.admin_token not in p.stdout and server.admin_token not in p.stderr
    assert secret_jwk["d"] not in p.stdout
    assert shown["adminToken"].startswith("***") and shown["signingKey"].startswith("***")


def test_unknown_config_key_refuses_to_start(tmp_path):
    from conftest import require_portcullis

    binary = require_portcullis()
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"accessTokenTTL": 300, "acessTokenTTL": 301}))
    port = free_port()
    p = run_cli(binary, "serve", "--config", str(config), "--data-dir", str(tmp_path / "d"), "--listen",
                f"127.0.0.1:{port}")
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "unknown configuration key" in out and "acessTokenTTL" in out, out
    assert not (tmp_path / "d" / "admin.token").exists(), "nothing is created for a refused configuration"

    config.write_text(json.dumps({"signingAlgorithm": "HS256"}))
    p = run_cli(binary, "serve", "--config", str(config), "--data-dir", str(tmp_path / "d"), "--listen",
                f"127.0.0.1:{port}")
    assert p.returncode != 0 and "signingAlgorithm" in p.stdout + p.stderr

    config.write_text("{not json")
    p = run_cli(binary, "config", "show", "--config", str(config))
    assert p.returncode != 0 and "configuration file" in p.stdout + p.stderr


def test_environment_overrides_file_and_flags_override_environment(tmp_path):
    from conftest import require_portcullis

    binary = require_portcullis()
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"accessTokenTTL": 300, "maxDelegationDepth": 3, "signingAlgorithm": "ES256",
                                  "port": 1111, "issuer": "https://file.example.test"}))
    env = {"PORTCULLIS_ACCESS_TOKEN_TTL": "77", "PORTCULLIS_MAX_DELEGATION_DEPTH": "1",
           "PORTCULLIS_SIGNING_ALG": "EdDSA", "PORTCULLIS_ISSUER": "https://env.example.test",
           "PORTCULLIS_LISTEN": "127.0.0.1:2222", "PORTCULLIS_DATA_DIR": str(tmp_path / "env-data")}
    p = run_cli(binary, "config", "show", "--config", str(config), env=env)
    assert p.returncode == 0, p.stderr
    shown = json.loads(p.stdout)
    assert shown["accessTokenTTL"] == 77
    assert shown["maxDelegationDepth"] == 1
    assert shown["signingAlgorithm"] == "EdDSA"
    assert shown["issuer"] == "https://env.example.test"
    assert shown["port"] == 2222
    assert shown["dataDirectory"] == str(tmp_path / "env-data")

    p = run_cli(binary, "config", "show", "--config", str(config), "--listen", "127.0.0.1:3333", "--data-dir",
                str(tmp_path / "flag-data"), env=env)
    assert p.returncode == 0, p.stderr
    shown = json.loads(p.stdout)
    assert shown["port"] == 3333 and shown["dataDirectory"] == str(tmp_path / "flag-data")

    p = run_cli(binary, "config", "show", env={"PORTCULLIS_ACCESS_TOKEN_TTL": "soon"})
    assert p.returncode != 0 and "PORTCULLIS_ACCESS_TOKEN_TTL" in p.stdout + p.stderr


# --------------------------------------------------------------------------- sessions and reviews


def test_max_concurrent_sessions(server):
    agent = server.new_agent(max_concurrent_sessions=2)
    first = agent.access_token()
    second = agent.access_token()
    expect_error(agent.token(), 400, "unauthorized_client")
    assert server.revoke(first).status_code == 200
    third = agent.access_token()
    expect_error(agent.token(), 400, "unauthorized_client")
    assert server.is_active(second) and server.is_active(third) and not server.is_active(first)


def test_max_session_seconds_caps_token_lifetime(server):
    agent = server.new_agent(max_session_seconds=60)
    r = agent.token()
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 60
    claims = jwt_parts(r.json()["access_token"])[1]
    assert claims["exp"] - claims["iat"] == 60


def test_overdue_review_blocks_tokens_until_reviewed(tmp_path):
    """Time cannot be moved, so the stopped server's database gets a past `next_review_at`
    (agents.next_review_at, REAL unix seconds, per the store schema) before it starts again."""
    with running_server(tmp_path) as s:
        agent = s.new_agent(review_cadence_days=1)
        assert agent.token().status_code == 200
        port = s.port
    db = sqlite3.connect(tmp_path / "data" / "portcullis.sqlite")
    with db:
        n = db.execute("UPDATE agents SET next_review_at = ? WHERE id = ?", (time.time() - 3600, agent.id)).rowcount
    db.close()
    assert n == 1
    s2 = Server(tmp_path)
    s2.port = port
    s2.start()
    try:
        agent.server = s2
        expect_error(agent.token(), 400, "unauthorized_client")
        r = s2.admin("PATCH", f"/admin/agents/{agent.id}", {"reviewed": True, "reason": "quarterly review"})
        assert r.status_code == 200, r.text
        assert agent.token().status_code == 200
    finally:
        assert s2.stop() == 0


def test_identity_provider_jwks_from_url(tmp_path, idp):  # noqa: F811
    """An IdP configured by JWKS URL: the keys are fetched at start, and its user tokens can be exchanged;
    an unreachable JWKS URL stops the start (no provider without keys)."""
    jwks = json.loads(idp.jwks_file.read_text())
    with RecordingHTTPServer({"/jwks.json": jwks}) as keys:
        entry = {"issuer": idp.issuer, "jwksURL": keys.base + "/jwks.json", "audience": idp.audience}
        (tmp_path / "url-idp").mkdir()
        with running_server(tmp_path / "url-idp", {"trustedIdentityProviders": [entry]}) as s:
            assert [r[1] for r in keys.requests] == ["/jwks.json"], "the JWKS is fetched once, at start"
            agent = s.new_agent()
            r = agent.exchange(idp.user_token(), subject_type="urn:ietf:params:oauth:token-type:jwt",
                               extra=[("resource", MAIL)])
            assert r.status_code == 200, r.text
            claims = jwt_parts(r.json()["access_token"])[1]
            assert claims["sub"] == "alice@example.test"
            assert claims["act"] == {"sub": agent.id}
    dead = {"issuer": idp.issuer, "jwksURL": f"http://127.0.0.1:{free_port()}/jwks.json", "audience": idp.audience}
    (tmp_path / "dead-idp").mkdir()
    srv = Server(tmp_path / "dead-idp", {"trustedIdentityProviders": [dead]})
    proc = subprocess.run(srv.command(), capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert b"cannot fetch the JWKS" in proc.stderr


def test_an_identity_provider_without_an_audience_is_refused_at_start(tmp_path, idp):  # noqa: F811
    """A user token minted for any application at the provider must not become a delegation: the
    provider's `audience` is required, and the server refuses to start without it."""
    entry = {"issuer": idp.issuer, "jwksFile": str(idp.jwks_file)}
    (tmp_path / "no-aud").mkdir()
    srv = Server(tmp_path / "no-aud", {"trustedIdentityProviders": [entry]})
    proc = subprocess.run(srv.command(), capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert b"needs an `audience`" in proc.stderr, proc.stderr
