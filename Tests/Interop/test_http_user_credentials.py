"""Per-user credentials and token exchange through the HTTP gateway (issue #13), end to end.

Peers: `requests` as the agent and as the user's browser (it follows every redirect of the consent flow), an
independent authorization server for the upstream built with Authlib on Flask (authorization code with PKCE required,
refresh tokens rotated on use, and an RFC 8693 token-exchange grant that verifies Portcullis's user assertions with
joserfc against Portcullis's published JWKS), a user identity provider (joserfc), and a REST upstream that records
every request and answers as the user its bearer token belongs to.

What is checked: a user connects once; an agent acting for that user gets that user's access and nothing else; an
agent acting for another user, or for nobody, gets none and the upstream sees nothing; the flow is single use, bound
to the browser that began it, refuses a forged confirmation and a denied consent; refresh tokens are refreshed and
rotated against the real server; disconnecting ends the access; token exchange names the user and the agents.
"""
from __future__ import annotations

import html
import http.server
import json
import re
import secrets
import threading
import time
import uuid

import pytest
import requests

from conftest import require_portcullis
from oauth_fixtures import TT_JWT, IdentityProvider, running_server
from response_fixtures import NO_RATE_LIMIT
from test_http_gateway import vault_put

MAIL_CLIENT_SECRET = "mail-client-secret-5c1d9e7a"
ERP_CLIENT_SECRET = "erp-client-secret-0b4f8a2c"
ACCESS_LIFETIME = 32  # seconds: Portcullis refreshes 30 s before expiry, so tokens are reused for about 2 s


class UpstreamAuthorizationServer:
    """The upstream's own authorization server (Authlib + Flask), with two confidential clients:
    `portcullis-mail` (authorization code + PKCE, refresh tokens) and `portcullis-erp` (token exchange)."""

    def __init__(self):
        from authlib.integrations.flask_oauth2 import AuthorizationServer as AS
        from authlib.oauth2.rfc6749 import ClientMixin, grants
        from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
        from authlib.oauth2.rfc7636 import CodeChallenge
        from flask import Flask, request as flask_request
        from werkzeug.serving import make_server

        outer = self
        self.tokens: dict[str, dict] = {}  # access token -> {user, grant, actors}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.codes: dict[str, dict] = {}
        self.grants_seen: list[str] = []
        self.assertions: list[dict] = []
        self.redirect_uri: str | None = None
        self.portcullis: str | None = None  # issuer, set once the server runs

        class Client(ClientMixin):
            def __init__(self, client_id, secret, grant_types):
                self.client_id, self.secret, self.grant_types = client_id, secret, grant_types

            def get_client_id(self):
                return self.client_id

            def get_default_redirect_uri(self):
                return outer.redirect_uri

            def get_allowed_scope(self, scope):
                return " ".join(s for s in (scope or "").split() if s in ("mail.read", "orders"))

            def check_redirect_uri(self, redirect_uri):
                return redirect_uri == outer.redirect_uri

            def check_client_secret(self, client_secret):
                return secrets.compare_digest(client_secret, self.secret)

            def check_endpoint_auth_method(self, method, endpoint):
                return method == "client_secret_basic"

            def check_response_type(self, response_type):
                return response_type == "code" and "authorization_code" in self.grant_types

            def check_grant_type(self, grant_type):
                return grant_type in self.grant_types

        clients = {
            "portcullis-mail": Client("portcullis-mail", MAIL_CLIENT_SECRET, ("authorization_code", "refresh_token")),
            "portcullis-erp": Client("portcullis-erp", ERP_CLIENT_SECRET,
                                     ("urn:ietf:params:oauth:grant-type:token-exchange",)),
        }

        class Code:
            def __init__(self, **kw):
                self.__dict__.update(kw)

            def get_redirect_uri(self):
                return self.redirect_uri

            def get_scope(self):
                return self.scope

        class User:
            def __init__(self, name):
                self.name = name

            def get_user_id(self):
                return self.name

        class AuthorizationCode(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def save_authorization_code(self, code, request):
                outer.codes[code] = Code(code=code, client_id=request.client.client_id, user=request.user.name,
                                         redirect_uri=request.payload.redirect_uri, scope=request.payload.scope,
                                         code_challenge=request.payload.data.get("code_challenge"),
                                         code_challenge_method=request.payload.data.get("code_challenge_method"))

            def query_authorization_code(self, code, client):
                c = outer.codes.get(code)
                return c if c and c.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code):
                outer.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return User(authorization_code.user)

        class Refresh(grants.RefreshTokenGrant):
            INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh spends the old token
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def authenticate_refresh_token(self, refresh_token):
                user = outer.refresh_tokens.get(refresh_token)
                if user is None:
                    return None

                class Stored:
                    def __init__(self):
                        self.user, self.token = user, refresh_token

                    def check_client(self, client):
                        return client.client_id == "portcullis-mail"

                    def get_scope(self):
                        return "mail.read"

                    def is_expired(self):
                        return False

                    def is_revoked(self):
                        return False

                return Stored()

            def authenticate_user(self, credential):
                return User(credential.user)

            def revoke_old_credential(self, credential):
                outer.refresh_tokens.pop(credential.token, None)

        class TokenExchange(grants.BaseGrant, grants.TokenEndpointMixin):
            """RFC 8693: a Portcullis user assertion (signed JWT, verified against Portcullis's JWKS) for a token."""
            GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def validate_token_request(self):
                from joserfc import jwt as joserfc_jwt
                from joserfc.jwk import KeySet
                client = self.authenticate_token_endpoint_client()
                if not client.check_grant_type(self.GRANT_TYPE):
                    raise InvalidGrantError("client may not exchange tokens")
                data = self.request.payload.data
                if data.get("subject_token_type") != TT_JWT:
                    raise InvalidRequestError("subject_token_type must be a JWT")
                jwks = requests.get(outer.portcullis + "/oauth/jwks", timeout=10).json()
                try:
                    token = joserfc_jwt.decode(data.get("subject_token", ""), KeySet.import_key_set(jwks),
                                               algorithms=["ES256", "EdDSA"])
                    joserfc_jwt.JWTClaimsRegistry(iss={"essential": True, "value": outer.portcullis},
                                                  aud={"essential": True, "value": outer.base},
                                                  sub={"essential": True}, exp={"essential": True}).validate(token.claims)
                except Exception as e:  # noqa: BLE001 - any verification failure is invalid_grant
                    raise InvalidGrantError(f"subject token refused: {e}")
                if token.claims["exp"] - token.claims["iat"] > 120:
                    raise InvalidGrantError("subject token lives too long")
                outer.assertions.append(token.claims)
                self.request.client = client
                self.request.user = User(token.claims["sub"])

            def create_token_response(self):
                token = self.generate_token(user=self.request.user, scope=self.request.payload.scope,
                                            include_refresh_token=False)
                token["issued_token_type"] = "urn:ietf:params:oauth:token-type:access_token"
                self.save_token(token)
                return 200, token, self.TOKEN_RESPONSE_HEADER

        app = Flask("upstream-as")
        app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": ACCESS_LIFETIME, "refresh_token": ACCESS_LIFETIME,
                                                 TokenExchange.GRANT_TYPE: 600}

        def save_token(token, req):
            user = req.user.name if getattr(req, "user", None) else None
            outer.grants_seen.append(req.payload.grant_type)
            outer.tokens[token["access_token"]] = {"user": user, "grant": req.payload.grant_type}
            if token.get("refresh_token"):
                outer.refresh_tokens[token["refresh_token"]] = user

        server = AS(app, query_client=clients.get, save_token=save_token)
        server.register_grant(AuthorizationCode, [CodeChallenge(required=True)])
        server.register_grant(Refresh)
        server.register_grant(TokenExchange)

        @app.route("/authorize", methods=["GET"])
        def authorize():
            # The browser is "signed in" at the authorization server by a cookie; `as_consent=deny` refuses.
            user = flask_request.cookies.get("as_user")
            grant = server.get_consent_grant(end_user=User(user) if user else None)
            granted = User(user) if user and flask_request.cookies.get("as_consent") != "deny" else None
            return server.create_authorization_response(grant_user=granted, grant=grant)

        @app.route("/token", methods=["POST"])
        def token():
            return server.create_token_response()

        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def revoke_all_refresh_tokens(self):
        self.refresh_tokens.clear()

    def close(self):
        self.http.shutdown()


class UserAPI:
    """A REST API that answers as the user its bearer token (from the authorization server) belongs to."""

    def __init__(self, auth: UpstreamAuthorizationServer):
        self.requests: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append({"path": self.path, "headers": headers})
                token = headers.get("authorization", "").removeprefix("Bearer ")
                owner = auth.tokens.get(token)
                status, payload = (200, {"user": owner["user"], "grant": owner["grant"], "path": self.path}) if owner \
                    else (401, {"error": "invalid_token"})
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    auth = UpstreamAuthorizationServer()
    api = UserAPI(auth)
    idp = IdentityProvider(tmp_path_factory.mktemp("idp"))
    workdir = tmp_path_factory.mktemp("usercreds")
    config = {
        "trustedIdentityProviders": [idp.config_entry()],
        "gateway": {
            "rateLimit": NO_RATE_LIMIT, "agentRateLimit": NO_RATE_LIMIT,
            "approvals": {"waitSeconds": 0, "expirySeconds": 600},
            "httpUpstreams": [
                {"name": "mail", "baseURL": api.base + "/mail", "dataClass": "internal",
                 "credentials": {"read": "vault:mail.user"}},
                {"name": "erp", "baseURL": api.base + "/erp", "dataClass": "internal",
                 "credentials": {"read": "vault:erp.exchange"}},
            ]}}
    with running_server(workdir, config) as server:
        auth.redirect_uri = server.base + "/connect/callback"
        auth.portcullis = server.base
        for name, kind, secret, params in [
            ("mail.user", "oauth_user", MAIL_CLIENT_SECRET,
             [f"authorize_url={auth.base}/authorize", f"token_url={auth.base}/token", "client_id=portcullis-mail",
              "scope=mail.read"]),
            ("erp.exchange", "oauth_token_exchange", ERP_CLIENT_SECRET,
             [f"token_url={auth.base}/token", "client_id=portcullis-erp", f"audience={auth.base}", "scope=orders"]),
        ]:
            r = vault_put(server, name, kind, secret, *params)
            assert r.returncode == 0, r.stderr + r.stdout
        yield server, auth, api, idp
    api.close()
    auth.close()


def agent_for(server, idp, user: str | None, upstream: str) -> str:
    """An agent token for `upstream`, exchanged from `user`'s identity-provider token (or for nobody)."""
    agent = server.new_agent(scopes=["http"], audiences=[f"{server.base}/http/{upstream}"],
                             name=f"user-agent-{uuid.uuid4().hex[:8]}", trust_level=1)
    resource = [("scope", "http"), ("resource", f"{server.base}/http/{upstream}")]
    if user is None:
        return agent.access_token(resource)
    r = agent.exchange(idp.user_token(user), TT_JWT, resource)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def connect(server, idp, user: str, upstream_account: str, *, consent: str = "allow") -> requests.Response:
    """Drives the consent flow as a browser: the user's link, the confirmation page, the authorization server."""
    r = requests.post(f"{server.base}/connect/mail", headers={"Authorization": f"Bearer {idp.user_token(user)}"}, timeout=10)
    assert r.status_code == 201, r.text
    link = r.json()["url"]
    browser = requests.Session()
    browser.cookies.set("as_user", upstream_account)
    browser.cookies.set("as_consent", consent)
    page = browser.get(link, timeout=10)
    assert page.status_code == 200 and html.escape(user) in page.text, page.text
    form = dict(re.findall(r'name="(ticket|confirm)" value="([^"]+)"', page.text))
    return browser.post(f"{server.base}/connect/mail/begin", data=form, timeout=20)


def get(server, token: str, path: str) -> requests.Response:
    return requests.get(server.base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_user_connects_once_and_only_their_agents_use_it(world):
    server, auth, api, idp = world
    done = connect(server, idp, "alice@example.test", "alice-at-mail")
    assert done.status_code == 200 and "is connected for" in done.text, done.text
    assert "alice@example.test" in done.text
    # The redirect chain went through the authorization server with PKCE and back.
    assert [h.status_code for h in done.history] == [303, 302]
    assert "code_challenge_method=S256" in done.history[0].headers["Location"]

    alice = agent_for(server, idp, "alice@example.test", "mail")
    api.requests.clear()
    r = get(server, alice, "/http/mail/inbox")
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "alice-at-mail" and r.json()["grant"] == "refresh_token"
    (seen,) = api.requests
    assert alice not in json.dumps(seen["headers"])

    # Bob has not connected: his agent gets nothing, with a link to connect; nothing reaches the API.
    bob = agent_for(server, idp, "bob@example.test", "mail")
    api.requests.clear()
    r = get(server, bob, "/http/mail/inbox")
    assert r.status_code == 403 and r.json()["error"] == "credential_unavailable", r.text
    assert r.json()["connect"] == server.base + "/connect/mail"
    # An agent acting for nobody gets nothing either.
    nobody = agent_for(server, idp, None, "mail")
    r = get(server, nobody, "/http/mail/inbox")
    assert r.status_code == 403 and r.json()["error"] == "credential_unavailable" and "no user" in r.json()["message"]
    assert api.requests == []

    # Bob connects his own account; his agent then reads as Bob, Alice's still as Alice.
    assert connect(server, idp, "bob@example.test", "bob-at-mail").status_code == 200
    assert get(server, bob, "/http/mail/inbox").json()["user"] == "bob-at-mail"
    assert get(server, alice, "/http/mail/inbox").json()["user"] == "alice-at-mail"

    listed = requests.get(f"{server.base}/connect", headers={"Authorization": f"Bearer {idp.user_token('alice@example.test')}"},
                          timeout=10).json()
    assert listed["user"] == "alice@example.test"
    assert [(c["upstream"], c["credential"]) for c in listed["connections"]] == [("mail", "read")]
    grants = server.admin("GET", "/admin/vault/grants").json()
    assert sorted(g["user"] for g in grants) == ["alice@example.test", "bob@example.test"]
    every_token = list(auth.refresh_tokens) + list(auth.tokens)
    assert not any(t in json.dumps(grants) + json.dumps(listed) for t in every_token)


def test_access_tokens_are_refreshed_and_rotated_against_the_real_server(world):
    server, auth, api, idp = world
    assert connect(server, idp, "carol@example.test", "carol-at-mail").status_code == 200
    carol = agent_for(server, idp, "carol@example.test", "mail")
    first = get(server, carol, "/http/mail/inbox")
    assert first.status_code == 200 and first.json()["user"] == "carol-at-mail"
    refreshes = auth.grants_seen.count("refresh_token")
    # Concurrent calls while the token is fresh reuse it.
    with __import__("concurrent.futures").futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: get(server, carol, "/http/mail/inbox").status_code, range(8)))
    assert answers == [200] * 8 and auth.grants_seen.count("refresh_token") == refreshes
    # After the reuse window, the next call refreshes once more with the rotated refresh token (the spent one is
    # gone at the server, so a stale one would fail).
    time.sleep(ACCESS_LIFETIME - 30 + 0.5)
    again = get(server, carol, "/http/mail/inbox")
    assert again.status_code == 200 and again.json()["user"] == "carol-at-mail", again.text
    assert auth.grants_seen.count("refresh_token") == refreshes + 1


def test_a_grant_revoked_at_the_server_ends_the_connection(world):
    server, auth, api, idp = world
    assert connect(server, idp, "dave@example.test", "dave-at-mail").status_code == 200
    dave = agent_for(server, idp, "dave@example.test", "mail")
    assert get(server, dave, "/http/mail/inbox").status_code == 200
    for token, user in list(auth.refresh_tokens.items()):
        if user == "dave-at-mail":
            del auth.refresh_tokens[token]
    time.sleep(ACCESS_LIFETIME - 30 + 0.5)
    r = get(server, dave, "/http/mail/inbox")
    assert r.status_code == 403 and r.json()["error"] == "credential_unavailable" and "connect again" in r.json()["message"]
    grants = server.admin("GET", "/admin/vault/grants").json()
    assert "dave@example.test" not in [g["user"] for g in grants]


def test_disconnecting_ends_the_agents_access(world):
    server, auth, api, idp = world
    assert connect(server, idp, "erin@example.test", "erin-at-mail").status_code == 200
    erin = agent_for(server, idp, "erin@example.test", "mail")
    assert get(server, erin, "/http/mail/inbox").status_code == 200
    user = {"Authorization": f"Bearer {idp.user_token('erin@example.test')}"}
    assert requests.delete(f"{server.base}/connect/mail", headers=user, timeout=10).status_code == 204
    assert requests.delete(f"{server.base}/connect/mail", headers=user, timeout=10).status_code == 404
    r = get(server, erin, "/http/mail/inbox")
    assert r.status_code == 403 and r.json()["error"] == "credential_unavailable"


def test_the_consent_flow_refuses_forgery_reuse_denial_and_strangers(world):
    server, auth, api, idp = world
    before = server.admin("GET", "/admin/vault/grants").json()
    # No user token, a forged one, an upstream without a per-user credential.
    assert requests.post(f"{server.base}/connect/mail", timeout=10).status_code == 401
    forged = idp.user_token("mallory@example.test")[:-4] + "AAAA"
    assert requests.post(f"{server.base}/connect/mail", headers={"Authorization": f"Bearer {forged}"}, timeout=10).status_code == 401
    r = requests.post(f"{server.base}/connect/erp", headers={"Authorization": f"Bearer {idp.user_token('frank@example.test')}"}, timeout=10)
    assert r.status_code == 404
    # The user refuses at the authorization server: nothing is stored.
    denied = connect(server, idp, "frank@example.test", "frank-at-mail", consent="deny")
    assert denied.status_code in (400, 502) and "Not connected" in denied.text
    # Another site posts the confirmation (no confirmation cookie): refused, the ticket stays unused.
    link = requests.post(f"{server.base}/connect/mail", headers={"Authorization": f"Bearer {idp.user_token('frank@example.test')}"},
                         timeout=10).json()["url"]
    ticket = link.split("ticket=")[1]
    forged_post = requests.post(f"{server.base}/connect/mail/begin", data={"ticket": ticket, "confirm": "x" * 64},
                                allow_redirects=False, timeout=10)
    assert forged_post.status_code == 403
    # A used link and a callback with an unknown state are refused.
    browser = requests.Session()
    page = browser.get(link, timeout=10)
    form = dict(re.findall(r'name="(ticket|confirm)" value="([^"]+)"', page.text))
    started = browser.post(f"{server.base}/connect/mail/begin", data=form, allow_redirects=False, timeout=10)
    assert started.status_code == 303 and started.headers["Location"].startswith(auth.base + "/authorize?")
    assert "HttpOnly" in started.headers["Set-Cookie"] and "SameSite=Lax" in started.headers["Set-Cookie"]
    assert browser.get(link, timeout=10).status_code == 400
    assert browser.get(f"{server.base}/connect/callback?state=nope&code=x", timeout=10).status_code == 400
    # The real authorization server's answer, delivered to a browser without the binding cookie: refused.
    stranger = requests.Session()
    stranger.cookies.set("as_user", "mallory-at-mail")
    answer = stranger.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and "/connect/callback?" in answer.headers["Location"]
    assert stranger.get(answer.headers["Location"], timeout=10).status_code == 400
    assert server.admin("GET", "/admin/vault/grants").json() == before


def test_token_exchange_acts_for_the_user_and_names_the_agents(world):
    server, auth, api, idp = world
    alice = agent_for(server, idp, "alice@example.test", "erp")
    api.requests.clear()
    r = get(server, alice, "/http/erp/orders")
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "alice@example.test"
    assert r.json()["grant"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    claims = auth.assertions[-1]
    assert claims["sub"] == "alice@example.test" and claims["aud"] == auth.base and claims["iss"] == server.base
    assert claims["act"]["sub"] == claims["client_id"]
    (seen,) = api.requests
    assert alice not in json.dumps(seen["headers"])
    # An agent acting for nobody gets no exchanged token, and the upstream sees nothing.
    api.requests.clear()
    nobody = agent_for(server, idp, None, "erp")
    r = get(server, nobody, "/http/erp/orders")
    assert r.status_code == 403 and r.json()["error"] == "credential_unavailable"
    assert api.requests == []
