"""The newcomer path without Python (issue #15): `agent register --generate-key --mcp` writes the agent's private key
(0600) and registers it, `agent token` obtains a token with private_key_jwt (and DPoP), `agent connect` prints the
MCP client configurations. The token is checked with PyJWT against the server's JWKS and used with the official
`mcp` SDK; the DPoP-bound one with proofs signed by the key the CLI wrote.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess

import jwt
import pytest

from mcp_fixtures import HTTPUpstream
from oauth_fixtures import key_from_private_jwk, running_server, thumbprint
from response_fixtures import CONNECT_AND_READ, call_once, cli, expect_ok, gateway_config, write_policies
from conftest import require_portcullis


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    upstream = HTTPUpstream(tmp_path_factory.mktemp("newcomer-web"), "web")
    yield upstream
    upstream.stop()


@pytest.fixture()
def server(tmp_path, web):
    config = gateway_config(web, policyDirectory=str(write_policies(tmp_path / "policies", CONNECT_AND_READ)))
    (tmp_path / "srv").mkdir()
    with running_server(tmp_path / "srv", config) as s:
        yield s


def agent_cli(server, *args: str) -> subprocess.CompletedProcess:
    """An agent-side command: no admin token anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    return subprocess.run([str(require_portcullis()), *args, "--server", server.base], capture_output=True, text=True,
                          timeout=60, env=env, cwd=server.workdir, stdin=subprocess.DEVNULL)


def register(server, key_file, *extra: str) -> dict:
    r = cli(server, "agent", "register", "--name", "try-it", "--owner", "me@example.test", "--purpose", "trying",
            "--model-provider", "acme", "--model", "m", "--model-version", "1", "--generate-key", str(key_file), "--mcp",
            *extra, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_generate_key_token_and_call(server, tmp_path):
    key_file = tmp_path / "agent.jwk"
    record = register(server, key_file)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    private = json.loads(key_file.read_text())
    assert private["kty"] == "EC" and "d" in private
    # The registered key is the public half of the file, and the agent may use the MCP gateway.
    public = record["public_keys"][0] if isinstance(record["public_keys"][0], dict) else json.loads(record["public_keys"][0])
    assert public["x"] == private["x"] and "d" not in public
    assert "mcp" in record["allowed_scopes"] and server.base + "/mcp" in record["allowed_audiences"]

    # A second registration never overwrites a key file, and registers nothing.
    before = len(server.admin("GET", "/admin/agents").json())
    r = cli(server, "agent", "register", "--name", "again", "--owner", "me@example.test", "--purpose", "p",
            "--model-provider", "acme", "--model", "m", "--model-version", "1", "--generate-key", str(key_file))
    assert r.returncode != 0 and "already exists" in r.stderr
    assert len(server.admin("GET", "/admin/agents").json()) == before
    assert json.loads(key_file.read_text())["d"] == private["d"]

    r = agent_cli(server, "agent", "token", record["id"], "--key", str(key_file))
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    # An independent verifier: PyJWT with the server's published key.
    jwks = jwt.PyJWKSet.from_dict(server.jwks())
    header = jwt.get_unverified_header(token)
    signing = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims = jwt.decode(token, signing.key, algorithms=["ES256", "EdDSA"], audience=server.base + "/mcp",
                        issuer=server.base)
    assert claims["client_id"] == record["id"] and "mcp" in claims["scope"].split()
    assert "hi" in expect_ok(call_once(server.base + "/mcp", token, "web.echo", {"text": "hi"}))

    # `--output headers` is what a client that runs a command for its headers reads.
    r = agent_cli(server, "agent", "token", record["id"], "--key", str(key_file), "--output", "headers")
    assert json.loads(r.stdout)["Authorization"].startswith("Bearer ")


def test_dpop_bound_token(server, tmp_path):
    key_file = tmp_path / "agent.jwk"
    record = register(server, key_file, "--require-dpop")
    plain = agent_cli(server, "agent", "token", record["id"], "--key", str(key_file))
    assert plain.returncode != 0 and "DPoP" in plain.stderr
    r = agent_cli(server, "agent", "token", record["id"], "--key", str(key_file), "--dpop", "--output", "json")
    assert r.returncode == 0, r.stderr
    response = json.loads(r.stdout)
    assert response["token_type"] == "DPoP"
    claims = jwt.decode(response["access_token"], options={"verify_signature": False})
    key = key_from_private_jwk(json.loads(key_file.read_text()))
    assert claims["cnf"]["jkt"] == thumbprint(key.public_jwk)
    # Used with proofs from the same key, through the SDK.
    from mcp_fixtures import mcp_client, run
    from response_fixtures import try_call

    async def go():
        async with mcp_client(server.base + "/mcp", response["access_token"], dpop_key=key) as c:
            return await try_call(c, "web.echo", {"text": "bound"})
    assert "bound" in expect_ok(run(go()))


def test_wrong_key_and_connect(server, tmp_path):
    key_file = tmp_path / "agent.jwk"
    record = register(server, key_file)
    other = tmp_path / "other.jwk"
    register(server, other)
    r = agent_cli(server, "agent", "token", record["id"], "--key", str(other))
    assert r.returncode != 0 and "invalid_client" in r.stderr, r.stderr
    (tmp_path / "junk.jwk").write_text("{not a key")
    r = agent_cli(server, "agent", "token", record["id"], "--key", str(tmp_path / "junk.jwk"))
    assert r.returncode != 0 and "not a private key" in r.stderr

    r = agent_cli(server, "agent", "connect", record["id"], "--key", str(key_file), "--client", "vscode")
    assert r.returncode == 0, r.stderr
    vscode = json.loads(r.stdout)
    assert vscode["servers"]["portcullis"]["url"] == server.base + "/mcp"
    assert vscode["servers"]["portcullis"]["headers"]["Authorization"] == "Bearer ${input:portcullis-token}"
    r = agent_cli(server, "agent", "connect", record["id"], "--key", str(key_file), "--client", "cursor")
    assert json.loads(r.stdout)["mcpServers"]["portcullis"]["url"] == server.base + "/mcp"
    r = agent_cli(server, "agent", "connect", record["id"], "--key", str(key_file))
    assert r.returncode == 0 and "claude mcp add --transport http portcullis" in r.stdout
    assert f"portcullis agent token {record['id']} --key {key_file}" in r.stdout
