"""Attacks and bad input against a real `portcullis serve`; each must be refused with the exact OAuth error.

The forged JWTs are assembled byte by byte (oauth_fixtures.compact), so header,
claims and signature are exactly what each attack needs. One server (maximum
delegation depth 2, a trusted user IdP) serves the whole module; its last test
checks that it still answers /healthz, and the fixture checks that it still
shuts down gracefully.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import threading
import time
import uuid
from urllib.parse import urlencode

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from oauth_fixtures import (
    MAIL,
    PAY,
    TT_ACCESS,
    TT_ID,
    TT_JWT,
    IdentityProvider,
    Key,
    RecordingHTTPServer,
    b64u,
    b64u_decode,
    b64u_json,
    compact,
    dpop_proof,
    expect_error,
    expect_invalid_client,
    idp,  # noqa: F401  (fixture)
    jwt_parts,
    resign,
    running_server,
)

MAX_DEPTH = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory, idp):  # noqa: F811
    config = {"trustedIdentityProviders": [idp.config_entry()], "maxDelegationDepth": MAX_DEPTH,
              "accessTokenTTL": 600}
    with running_server(tmp_path_factory.mktemp("attacks"), config) as s:
        yield s


@pytest.fixture(scope="module")
def victim(server):
    """The agent whose identity the attacks try to borrow."""
    return server.new_agent(scopes=["mail.read", "pay"], audiences=[MAIL], max_concurrent_sessions=1000)


@pytest.fixture(scope="module")
def attacker_key():
    return Key()


def hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = b64u_json(header) + "." + b64u_json(claims)
    return signing_input + "." + b64u(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def test_sanity_the_victim_can_authenticate(server, victim):
    """The attacks below differ from this request in one respect each."""
    r = victim.token()
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    # The issuer is an accepted assertion audience too.
    assert victim.token(assertion=victim.assertion(aud=server.base)).status_code == 200


# --------------------------------------------------------------------------- client assertions


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["empty", "kept"])
def test_assertion_alg_none(server, victim, alg, signature):
    claims = victim.claims()
    header = {"alg": alg, "typ": "JWT"}
    if signature == "empty":
        token = compact(header, claims, signature=b"")
    else:
        real = victim.assertion()
        token = b64u_json(header) + "." + b64u_json(claims) + "." + real.split(".")[2]
    expect_invalid_client(victim.token(assertion=token))


def test_assertion_stripped_signature(server, victim):
    real = victim.assertion()
    stripped = real.rsplit(".", 1)[0] + "."
    expect_invalid_client(victim.token(assertion=stripped))
    expect_invalid_client(victim.token(assertion=real.rsplit(".", 1)[0]))


@pytest.mark.parametrize("form", ["pem", "jwk-json", "jwk-json-sorted", "jwk-x"])
def test_assertion_hs256_keyed_with_public_key(server, victim, form):
    jwk = victim.key.public_jwk
    secret = {
        "pem": victim.key.public_pem(),
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-json-sorted": json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode(),
        "jwk-x": jwk["x"].encode(),
    }[form]
    token = hs256({"alg": "HS256", "typ": "JWT", "kid": victim.key.kid}, victim.claims(), secret)
    expect_invalid_client(victim.token(assertion=token))


def test_assertion_embedded_jwk_header(server, victim, attacker_key):
    token = victim.assertion(header={"jwk": attacker_key.public_jwk, "kid": attacker_key.kid}, key=attacker_key)
    expect_invalid_client(victim.token(assertion=token))
    # Even the victim's own public key in `jwk` does not make an attacker's signature acceptable.
    token = victim.assertion(header={"jwk": victim.key.public_jwk, "kid": victim.key.kid}, key=attacker_key)
    expect_invalid_client(victim.token(assertion=token))


def self_signed_cert(key: Key) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.private.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key.private, hashes.SHA256()))


@pytest.mark.parametrize("member", ["jku", "x5u", "x5c"])
def test_assertion_remote_or_embedded_key_headers_are_never_used(server, victim, attacker_key, member):
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = self_signed_cert(attacker_key)
    with RecordingHTTPServer({"/jwks.json": {"keys": [attacker_key.public_jwk]}}) as lure:
        lure.routes["/cert.pem"] = lambda h: (200, {"Content-Type": "application/pem-certificate-chain"},
                                              cert.public_bytes(Encoding.PEM))
        value = {"jku": lure.base + "/jwks.json", "x5u": lure.base + "/cert.pem",
                 "x5c": [b64u(cert.public_bytes(Encoding.DER)).replace("-", "+").replace("_", "/")]}[member]
        token = victim.assertion(header={member: value, "kid": attacker_key.kid}, key=attacker_key)
        expect_invalid_client(victim.token(assertion=token))
        time.sleep(0.3)
        assert lure.requests == [], f"the server fetched attacker-controlled URLs: {lure.requests}"


@pytest.mark.parametrize("kid", ["../../../../etc/passwd", "/dev/null", "../../../../../../dev/null",
                                 "signing-key.jwk", "' OR '1'='1"])
def test_assertion_kid_injection(server, victim, attacker_key, kid):
    token = victim.assertion(header={"kid": kid}, key=attacker_key)
    expect_invalid_client(victim.token(assertion=token))
    # The classic: kid names an empty file, HS256 keyed with the empty string.
    token = hs256({"alg": "HS256", "typ": "JWT", "kid": kid}, victim.claims(), b"")
    expect_invalid_client(victim.token(assertion=token))


@pytest.mark.parametrize("case", ["expired", "nbf-future", "iat-future", "no-exp", "exp-too-far", "exp-string",
                                  "exp-huge"])
def test_assertion_time_claims(server, victim, case):
    now = int(time.time())
    overrides = {
        "expired": {"exp": now - 600, "iat": now - 900},
        "nbf-future": {"nbf": now + 600},
        "iat-future": {"iat": now + 300},
        "no-exp": {"exp": None},
        "exp-too-far": {"exp": now + 3600},
        "exp-string": {"exp": str(now + 60)},
        "exp-huge": {"exp": 1e300},
    }[case]
    expect_invalid_client(victim.token(assertion=victim.assertion(**overrides)))


@pytest.mark.parametrize("aud", ["https://evil.example.test", MAIL, "http://127.0.0.1:1/oauth/token", None,
                                 ["https://evil.example.test"], 42])
def test_assertion_wrong_audience(server, victim, aud):
    expect_invalid_client(victim.token(assertion=victim.assertion(aud=aud)))


def test_assertion_identity_mismatches(server, victim):
    other = server.new_agent()
    expect_invalid_client(victim.token(assertion=victim.assertion(iss=other.id)))
    expect_invalid_client(victim.token(assertion=victim.assertion(sub=other.id)))
    expect_invalid_client(victim.token(assertion=victim.assertion(sub=None)))
    expect_invalid_client(victim.token(assertion=victim.assertion(iss=None)))
    # The other agent's own key, claiming to be the victim.
    expect_invalid_client(victim.token(assertion=victim.assertion(key=other.key)))
    # A client_id form parameter naming someone else.
    form = victim.form() + [("client_id", other.id)]
    expect_invalid_client(server.token(form))


def test_assertion_jti_is_single_use(server, victim):
    assertion = victim.assertion()
    assert victim.token(assertion=assertion).status_code == 200
    expect_invalid_client(victim.token(assertion=assertion))
    # The same jti in a freshly signed assertion is a replay too.
    jti = jwt_parts(assertion)[1]["jti"]
    expect_invalid_client(victim.token(assertion=victim.assertion(jti=jti, iat=int(time.time()) + 1)))
    expect_invalid_client(victim.token(assertion=victim.assertion(jti=None)))


P256_N = bytes.fromhex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551")


@pytest.mark.parametrize("sig", ["zeros", "r=s=n", "r=0", "der", "truncated"])
def test_assertion_ecdsa_signature_shapes(server, victim, sig):
    real = victim.assertion()
    head, payload, s64 = real.split(".")
    raw = b64u_decode(s64)
    if sig == "zeros":
        bad = bytes(64)
    elif sig == "r=s=n":
        bad = P256_N + P256_N
    elif sig == "r=0":
        bad = bytes(32) + raw[32:]
    elif sig == "der":
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        bad = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    else:
        bad = raw[:63]
    expect_invalid_client(victim.token(assertion=f"{head}.{payload}.{b64u(bad)}"))


def test_unknown_client_and_missing_authentication(server, victim):
    ghost = victim.assertion(iss="agt_doesnotexist", sub="agt_doesnotexist")
    expect_invalid_client(victim.token(assertion=ghost))
    expect_invalid_client(server.token([("grant_type", "client_credentials")]))
    expect_invalid_client(server.token([("grant_type", "client_credentials"), ("client_id", victim.id)]))
    form = [("grant_type", "client_credentials"), ("client_assertion_type", "urn:example:password"),
            ("client_assertion", victim.assertion())]
    expect_invalid_client(server.token(form))
    # A Portcullis access token is not a client assertion.
    token = victim.access_token()
    expect_invalid_client(victim.token(assertion=token))


# --------------------------------------------------------------------------- configuration drift


def test_configuration_drift_is_refused_and_recorded(server):
    pinned = hashlib.sha256(b"model=example;prompt=v1;tools=v1").hexdigest()
    agent = server.new_agent(config_digest=pinned)
    agent.config_digest = pinned
    ok = agent.token()
    assert ok.status_code == 200, ok.text
    assert jwt_parts(ok.json()["access_token"])[1]["agent"]["config_digest"] == pinned

    drifted = hashlib.sha256(b"model=example;prompt=v2-jailbroken;tools=v1").hexdigest()
    expect_invalid_client(agent.token(assertion=agent.assertion(agent_config_digest=drifted)))
    events = [e for e in server.events(agent.id) if e["kind"] == "configuration_drift"]
    assert len(events) == 1, server.events(agent.id)
    details = json.loads(events[0]["details"]) if isinstance(events[0]["details"], str) else events[0]["details"]
    assert details == {"pinned": pinned, "presented": drifted}
    # Without the claim the pinned agent is refused too (not recorded as drift).
    expect_invalid_client(agent.token(assertion=agent.assertion(agent_config_digest=None)))


# --------------------------------------------------------------------------- token misuse


@pytest.fixture(scope="module")
def chain(server, idp):  # noqa: F811
    """A user → assistant delegated token and the agents around it."""
    assistant = server.new_agent(scopes=["mail.read", "mail.send", "pay"], audiences=[MAIL, PAY],
                                 max_concurrent_sessions=1000)
    helper = server.new_agent(scopes=["mail.read", "pay"], audiences=[PAY], max_concurrent_sessions=1000)
    third = server.new_agent(scopes=["mail.read", "pay"], audiences=[PAY], max_concurrent_sessions=1000)
    details = [{"type": "payment", "recipient": "acme-gmbh", "max_amount": 100, "currency": "EUR"},
               {"type": "email", "recipients": ["bob@example.test", "carol@example.test"]}]
    r = assistant.exchange(idp.user_token(scope="mail.read pay"), TT_JWT,
                           [("resource", PAY), ("authorization_details", json.dumps(details))])
    assert r.status_code == 200, r.text
    return {"assistant": assistant, "helper": helper, "third": third, "delegated": r.json()["access_token"],
            "details": details}


def test_sanity_the_helper_can_exchange(server, chain):
    r = chain["helper"].exchange(chain["delegated"], extra=[("resource", PAY)])
    assert r.status_code == 200, r.text
    assert jwt_parts(r.json()["access_token"])[1]["act"] == {"sub": chain["helper"].id,
                                                             "act": {"sub": chain["assistant"].id}}


@pytest.mark.parametrize("change", ["iss", "typ-jwt", "typ-missing", "typ-dpop", "aud-missing", "exp-past",
                                    "client_id-missing"])
def test_resigned_token_with_wrong_claims_is_inactive(server, chain, change):
    """Signed with the server's real key, so only the claim and header checks stand in the way."""
    key = server.signing_key()
    token = chain["delegated"]
    header = {"kid": key.kid}
    claims = {}
    if change == "iss":
        claims["iss"] = "https://evil.example.test"
    elif change == "typ-jwt":
        header["typ"] = "JWT"
    elif change == "typ-missing":
        header["typ"] = None
    elif change == "typ-dpop":
        header["typ"] = "dpop+jwt"
    elif change == "aud-missing":
        claims["aud"] = None
    elif change == "exp-past":
        claims["exp"] = int(time.time()) - 3600
    else:
        claims["client_id"] = None
    forged = resign(token, key, header=header, claims=claims)
    # Control: the unchanged token re-signed is accepted, so the change is what is refused.
    assert server.is_active(resign(token, key, header={"kid": key.kid}))
    assert not server.is_active(forged)
    expect_error(chain["helper"].exchange(forged, extra=[("resource", PAY)]), 400, "invalid_grant")


def test_forged_act_chain_is_rejected(server, chain, attacker_key):
    _, claims = jwt_parts(chain["delegated"])
    our_kid = server.jwks()["keys"][0]["kid"]
    forged_claims = dict(claims, act={"sub": chain["helper"].id, "act": {"sub": "agt_root"}}, scope="mail.read pay")
    forged = compact({"alg": "ES256", "typ": "at+jwt", "kid": our_kid}, forged_claims, attacker_key)
    assert not server.is_active(forged)
    expect_error(chain["third"].exchange(forged, extra=[("resource", PAY)]), 400, "invalid_grant")
    # alg none with our kid.
    unsigned = compact({"alg": "none", "typ": "at+jwt", "kid": our_kid}, forged_claims, signature=b"")
    assert not server.is_active(unsigned)
    expect_error(chain["third"].exchange(unsigned, extra=[("resource", PAY)]), 400, "invalid_grant")
    # Our real signature over different claims (payload swapped).
    head, _, sig = chain["delegated"].split(".")
    spliced = f"{head}.{b64u_json(forged_claims)}.{sig}"
    assert not server.is_active(spliced)
    expect_error(chain["third"].exchange(spliced, extra=[("resource", PAY)]), 400, "invalid_grant")


def test_foreign_tokens_as_subject_tokens(server, chain, idp):  # noqa: F811
    helper = chain["helper"]
    # An ID token from the user IdP presented as a Portcullis access token.
    id_token = idp.user_token(scope="pay")
    assert not server.is_active(id_token)
    expect_error(helper.exchange(id_token, TT_ACCESS, [("resource", PAY)]), 400, "invalid_grant")
    # A DPoP proof presented as an access token.
    proof = dpop_proof(Key(), "POST", server.token_endpoint)
    assert not server.is_active(proof)
    expect_error(helper.exchange(proof, TT_ACCESS, [("resource", PAY)]), 400, "invalid_grant")
    # A client assertion presented as an access token.
    assertion = helper.assertion()
    assert not server.is_active(assertion)
    expect_error(helper.exchange(assertion, TT_ACCESS, [("resource", PAY)]), 400, "invalid_grant")
    # A Portcullis access token presented as a user token from an IdP.
    expect_error(helper.exchange(chain["delegated"], TT_JWT, [("resource", PAY)]), 400, "invalid_grant")
    expect_error(helper.exchange(chain["delegated"], TT_ID, [("resource", PAY)]), 400, "invalid_grant")
    # An unknown subject token type.
    expect_error(helper.exchange(chain["delegated"], "urn:ietf:params:oauth:token-type:saml2",
                                 [("resource", PAY)]), 400, "invalid_request")


def test_bad_user_tokens(server, chain, idp, tmp_path):  # noqa: F811
    assistant = chain["assistant"]
    extra = [("resource", PAY)]
    expect_error(assistant.exchange(idp.user_token(aud="https://someone-else.example.test"), TT_JWT, extra), 400,
                 "invalid_grant")
    expect_error(assistant.exchange(idp.user_token(aud=None), TT_JWT, extra), 400, "invalid_grant")
    expect_error(assistant.exchange(idp.user_token(lifetime=-600), TT_JWT, extra), 400, "invalid_grant")
    expect_error(assistant.exchange(idp.user_token(exp=None), TT_JWT, extra), 400, "invalid_grant")
    expect_error(assistant.exchange(idp.user_token(sub=None), TT_JWT, extra), 400, "invalid_grant")
    expect_error(assistant.exchange(idp.user_token(nbf=int(time.time()) + 3600), TT_JWT, extra), 400,
                 "invalid_grant")
    # Signed by another key that claims the IdP's kid.
    impostor = IdentityProvider(tmp_path / "impostor")
    expect_error(assistant.exchange(impostor.user_token(), TT_JWT, extra), 400, "invalid_grant")
    # An IdP nobody trusts.
    stranger = IdentityProvider(tmp_path / "stranger", issuer="https://stranger.example.test")
    expect_error(assistant.exchange(stranger.user_token(), TT_JWT, extra), 400, "invalid_grant")
    # alg none with the IdP's kid; HS256 keyed with the IdP's public JWK.
    now = int(time.time())
    claims = {"iss": idp.issuer, "sub": "mallory", "aud": idp.audience, "iat": now, "exp": now + 300}
    none = compact({"alg": "none", "kid": "idp-key-1"}, claims, signature=b"")
    expect_error(assistant.exchange(none, TT_JWT, extra), 400, "invalid_grant")
    confused = hs256({"alg": "HS256", "kid": "idp-key-1"}, claims,
                     json.dumps(idp.key.as_dict(private=False)).encode())
    expect_error(assistant.exchange(confused, TT_JWT, extra), 400, "invalid_grant")
    # An embedded key vouching for itself.
    mallory = Key()
    embedded = compact({"alg": "ES256", "kid": "idp-key-1", "jwk": mallory.public_jwk}, claims, mallory)
    expect_error(assistant.exchange(embedded, TT_JWT, extra), 400, "invalid_grant")


def test_revoked_or_suspended_subject_tokens(server, chain, idp):  # noqa: F811
    assistant, helper = chain["assistant"], chain["helper"]
    r = assistant.exchange(idp.user_token(scope="pay"), TT_JWT, [("resource", PAY)])
    assert r.status_code == 200, r.text
    delegated = r.json()["access_token"]
    assert server.revoke(delegated).status_code == 200
    expect_error(helper.exchange(delegated, extra=[("resource", PAY)]), 400, "invalid_grant")
    # Tokens of a suspended agent stop working as subject tokens.
    lender = server.new_agent(scopes=["pay"], audiences=[PAY])
    lent = lender.access_token()
    assert server.admin("POST", f"/admin/agents/{lender.id}/suspend", {"reason": "test"}).status_code == 200
    assert not server.is_active(lent)
    expect_error(helper.exchange(lent, extra=[("resource", PAY)]), 400, "invalid_grant")


def test_delegation_depth_is_bounded(server, chain, idp):  # noqa: F811
    # user → assistant (1) → helper (2) → third (3 > 2).
    r = chain["helper"].exchange(chain["delegated"], extra=[("resource", PAY)])
    assert r.status_code == 200, r.text
    depth2 = r.json()["access_token"]
    assert jwt_parts(depth2)[1]["act"]["act"]["sub"] == chain["assistant"].id
    expect_error(chain["third"].exchange(depth2, extra=[("resource", PAY)]), 400, "invalid_grant")

    # agent token: a (subject) → b (1) → c (2) → d (3 > 2).
    a, b, c, d = (server.new_agent(scopes=["pay"], audiences=[PAY]) for _ in range(4))
    t = a.access_token()
    for actor in (b, c):
        r = actor.exchange(t)
        assert r.status_code == 200, r.text
        t = r.json()["access_token"]
    assert jwt_parts(t)[1]["act"] == {"sub": c.id, "act": {"sub": b.id}}
    assert jwt_parts(t)[1]["sub"] == a.id
    expect_error(d.exchange(t), 400, "invalid_grant")


@pytest.mark.parametrize("case", ["higher-amount", "other-currency", "other-recipient", "extra-email-recipient",
                                  "new-type", "tool-call", "missing-limit"])
def test_authorization_details_only_narrow(server, chain, case):
    payment = {"type": "payment", "recipient": "acme-gmbh", "max_amount": 100, "currency": "EUR"}
    email = {"type": "email", "recipients": ["bob@example.test", "carol@example.test"]}
    requested = {
        "higher-amount": [dict(payment, max_amount=101)],
        "other-currency": [dict(payment, currency="USD")],
        "other-recipient": [dict(payment, recipient="mallory-ltd")],
        "extra-email-recipient": [dict(email, recipients=["bob@example.test", "mallory@example.test"])],
        "new-type": [payment, {"type": "wire_transfer", "iban": "XX00"}],
        "tool-call": [{"type": "tool_call", "tools": ["shell.exec"], "constraints": {}}],
        "missing-limit": [{"type": "payment", "recipient": "acme-gmbh", "currency": "EUR"}],
    }[case]
    r = chain["helper"].exchange(chain["delegated"], extra=[("resource", PAY),
                                                           ("authorization_details", json.dumps(requested))])
    expect_error(r, 400, "invalid_authorization_details")


def test_authorization_details_cannot_be_added_or_malformed(server, chain):
    plain_subject = server.new_agent(scopes=["pay"], audiences=[PAY])
    token = plain_subject.access_token()
    details = [{"type": "payment", "recipient": "acme-gmbh", "max_amount": 1, "currency": "EUR"}]
    r = chain["helper"].exchange(token, extra=[("resource", PAY), ("authorization_details", json.dumps(details))])
    expect_error(r, 400, "invalid_authorization_details")
    for bad in ['{"type":"payment"}', "[1,2]", "not json", '[{"type":"payment"}']:
        r = chain["helper"].exchange(chain["delegated"], extra=[("resource", PAY), ("authorization_details", bad)])
        expect_error(r, 400, "invalid_authorization_details")


def test_scopes_and_audiences_only_narrow_in_exchange(server, chain):
    helper = chain["helper"]
    # mail.send is held by the assistant but not the helper; payments are all the helper may get.
    expect_error(helper.exchange(chain["delegated"], extra=[("resource", PAY), ("scope", "mail.send")]), 400,
                 "invalid_scope")
    expect_error(helper.exchange(chain["delegated"], extra=[("resource", MAIL)]), 400, "invalid_target")
    r = helper.exchange(chain["delegated"], extra=[("resource", PAY), ("requested_token_type",
                                                                      "urn:ietf:params:oauth:token-type:refresh_token")])
    expect_error(r, 400, "invalid_request")
    # An actor token that belongs to someone else.
    other = chain["third"].access_token()
    r = helper.exchange(chain["delegated"], extra=[("resource", PAY), ("actor_token", other),
                                                  ("actor_token_type", TT_ACCESS)])
    expect_error(r, 400, "invalid_grant")


def test_dpop_bound_subject_token_needs_its_key(server, idp):  # noqa: F811
    """A stolen DPoP-bound token must not be laundered into a fresh token by another agent without the key."""
    owner = server.new_agent(scopes=["pay"], audiences=[PAY])
    thief = server.new_agent(scopes=["pay"], audiences=[PAY])
    k = Key()
    r = owner.token(dpop=dpop_proof(k, "POST", server.token_endpoint))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
    bound = r.json()["access_token"]
    r = thief.exchange(bound)
    # The contract names no code for this; either refusal is right, a fresh unbound token is not.
    assert r.status_code == 400 and r.json().get("error") in ("invalid_grant", "invalid_dpop_proof"), (
        f"another agent exchanged a DPoP-bound token without its key: {r.status_code} "
        f"{ {k: v for k, v in jwt_parts(r.json()['access_token'])[1].items() if k in ('sub', 'act', 'cnf')} if r.status_code == 200 else r.text}")


# --------------------------------------------------------------------------- DPoP


@pytest.fixture(scope="module")
def dpop_agent(server):
    return server.new_agent(scopes=["mail.read"], audiences=[MAIL], max_concurrent_sessions=1000)


def test_dpop_valid_proof_binds(server, dpop_agent):
    k = Key()
    r = dpop_agent.token(dpop=dpop_proof(k, "POST", server.token_endpoint))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    assert jwt_parts(r.json()["access_token"])[1]["cnf"] == {"jkt": k.thumbprint}


def test_dpop_replayed_proof(server, dpop_agent):
    proof = dpop_proof(Key(), "POST", server.token_endpoint)
    assert dpop_agent.token(dpop=proof).status_code == 200
    expect_error(dpop_agent.token(dpop=proof), 400, "invalid_dpop_proof")


@pytest.mark.parametrize("case", ["htm-get", "htm-put", "htu-other-path", "htu-other-host", "htu-other-port",
                                  "private-d", "alg-none", "other-signer", "typ-jwt", "iat-old", "iat-future",
                                  "no-jti", "no-jwk", "hs256", "not-a-jwt"])
def test_dpop_bad_proofs(server, dpop_agent, case):
    k = Key()
    te = server.token_endpoint
    if case == "htm-get":
        proof = dpop_proof(k, "GET", te)
    elif case == "htm-put":
        proof = dpop_proof(k, "PUT", te)
    elif case == "htu-other-path":
        proof = dpop_proof(k, "POST", server.base + "/oauth/introspect")
    elif case == "htu-other-host":
        proof = dpop_proof(k, "POST", "https://evil.example.test/oauth/token")
    elif case == "htu-other-port":
        proof = dpop_proof(k, "POST", "http://127.0.0.1:1/oauth/token")
    elif case == "private-d":
        proof = dpop_proof(k, "POST", te, jwk=k.private_jwk)
    elif case == "alg-none":
        h = {"typ": "dpop+jwt", "alg": "none", "jwk": k.public_jwk}
        proof = compact(h, {"jti": str(uuid.uuid4()), "htm": "POST", "htu": te, "iat": int(time.time())},
                        signature=b"")
    elif case == "other-signer":
        proof = dpop_proof(Key(), "POST", te, jwk=k.public_jwk)
    elif case == "typ-jwt":
        proof = dpop_proof(k, "POST", te, header={"typ": "JWT"})
    elif case == "iat-old":
        proof = dpop_proof(k, "POST", te, iat=int(time.time()) - 3600)
    elif case == "iat-future":
        proof = dpop_proof(k, "POST", te, iat=int(time.time()) + 3600)
    elif case == "no-jti":
        proof = dpop_proof(k, "POST", te, claims={"jti": None})
    elif case == "no-jwk":
        proof = dpop_proof(k, "POST", te, header={"jwk": None, "kid": k.kid})
    elif case == "hs256":
        h = {"typ": "dpop+jwt", "alg": "HS256", "jwk": k.public_jwk}
        proof = hs256(h, {"jti": str(uuid.uuid4()), "htm": "POST", "htu": te, "iat": int(time.time())},
                      json.dumps(k.public_jwk).encode())
    else:
        proof = "not-a-jwt"
    expect_error(dpop_agent.token(dpop=proof), 400, "invalid_dpop_proof")


def test_dpop_two_headers_and_required_dpop(server, dpop_agent):
    k = Key()
    body = urlencode(dpop_agent.form()).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("POST", "/oauth/token")
        conn.putheader("Content-Type", "application/x-www-form-urlencoded")
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader("DPoP", dpop_proof(k, "POST", server.token_endpoint))
        conn.putheader("DPoP", dpop_proof(k, "POST", server.token_endpoint))
        conn.endheaders(body)
        resp = conn.getresponse()
        payload = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 400 and payload["error"] == "invalid_dpop_proof", payload

    strict = server.new_agent(require_dpop=True)
    expect_error(strict.token(), 400, "invalid_dpop_proof")
    r = strict.token(dpop=dpop_proof(k, "POST", server.token_endpoint))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text


# --------------------------------------------------------------------------- races


def _parallel(forms: list, headers: dict | None = None, url: str = "") -> list[requests.Response]:
    """Posts every form at once: one thread each, released together by a barrier."""
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(len(forms))

    def post(form):
        barrier.wait()
        return requests.post(url, data=form, headers=headers or {}, timeout=30)

    with ThreadPoolExecutor(max_workers=len(forms)) as pool:
        return list(pool.map(post, forms))


def test_replayed_assertion_in_parallel_succeeds_once(server, victim):
    form = victim.form()
    responses = _parallel([form] * 16, url=server.token_endpoint)
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1, f"one assertion was accepted {codes.count(200)} times: {codes}"
    for r in responses:
        if r.status_code != 200:
            expect_invalid_client(r)


def test_replayed_dpop_proof_in_parallel_succeeds_once(server, dpop_agent):
    proof = dpop_proof(Key(), "POST", server.token_endpoint)
    responses = _parallel([dpop_agent.form() for _ in range(16)], {"DPoP": proof}, url=server.token_endpoint)
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 1, f"one DPoP proof was accepted {codes.count(200)} times: {codes}"
    for r in responses:
        if r.status_code != 200:
            expect_error(r, 400, "invalid_dpop_proof")


def test_max_concurrent_sessions_holds_under_parallel_requests(server):
    """The limit is checked (a read) and the token recorded (a later write) in separate steps:
    simultaneous requests must still not obtain more than the limit."""
    for _round in range(8):
        agent = server.new_agent(max_concurrent_sessions=2)
        responses = _parallel([agent.form() for _ in range(32)], url=server.token_endpoint)
        granted = [r for r in responses if r.status_code == 200]
        for r in responses:
            if r.status_code != 200:
                expect_error(r, 400, "unauthorized_client")
        active = sum(server.is_active(r.json()["access_token"]) for r in granted)
        assert len(granted) <= 2, (f"max_concurrent_sessions=2, but 32 simultaneous requests obtained "
                                   f"{len(granted)} tokens, {active} of them active at once")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("body", [b"%zz=1", b"grant_type=%E0%A4%A", b"\xff\xfe=\xff", b"",
                                  b'{"grant_type":"client_credentials"}', b"&&&=&"])
def test_malformed_form_bodies(server, body):
    expect_error(server.token(body), 400, "invalid_request")


def test_one_megabyte_body(server, victim):
    big = b"grant_type=client_credentials&padding=" + b"A" * (1 << 20)
    r = server.token(big)
    assert r.status_code in (400, 413), r.status_code
    assert r.json()["error"] == "invalid_request"
    r = server.admin("POST", "/admin/agents", data=b'{"name":"' + b"A" * (1 << 20) + b'"}',
                     headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 413), r.status_code
    assert "error" in r.json()
    # The same without Content-Length (chunked).
    r = requests.post(server.token_endpoint, data=(b"A" * 16384 for _ in range(64)), timeout=30,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 413), r.status_code
    assert r.json()["error"] == "invalid_request"
    assert server.healthy()
    assert victim.token().status_code == 200


@pytest.mark.parametrize("grant", ["password", "authorization_code", "refresh_token",
                                   "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                   "urn:ietf:params:oauth:grant-type:device_code", "CLIENT_CREDENTIALS"])
def test_unsupported_grant_types(server, victim, grant):
    expect_error(victim.token(grant=grant), 400, "unsupported_grant_type")


def test_missing_grant_type(server, victim):
    form = [p for p in victim.form() if p[0] != "grant_type"]
    expect_error(server.token(form), 400, "invalid_request")


@pytest.mark.parametrize("param", ["grant_type", "client_assertion", "client_assertion_type", "scope"])
def test_repeated_parameters(server, victim, param):
    form = victim.form(extra=[("scope", "mail.read")])
    value = dict(form)[param]
    expect_error(server.token(form + [(param, value)]), 400, "invalid_request")


def test_repeated_resource(server, chain):
    r = chain["assistant"].token([("resource", MAIL), ("resource", PAY)])
    expect_error(r, 400, "invalid_target")
    expect_error(chain["assistant"].token([("resource", "not a uri")]), 400, "invalid_target")
    expect_error(chain["assistant"].token([("resource", MAIL + "#frag")]), 400, "invalid_target")


def test_introspection_and_revocation_need_a_caller(server, victim):
    token = victim.access_token()
    expect_invalid_client(server.post_form("/oauth/introspect", [("token", token)]))
    expect_invalid_client(server.post_form("/oauth/introspect", [("token", token)],
                                           {"Authorization": "Bearer not-the-admin-token"}))
    expect_invalid_client(server.post_form("/oauth/introspect", [("token", token)],
                                           {"Authorization": f"Bearer {token}"}))
    expect_invalid_client(server.post_form("/oauth/revoke", [("token", token)]))
    assert server.is_active(token)
    r = server.post_form("/oauth/introspect", [], {"Authorization": f"Bearer {server.admin_token}"})
    expect_error(r, 400, "invalid_request")
    # An agent authenticates with its key and may introspect.
    r = server.post_form("/oauth/introspect", victim.form()[1:] + [("token", token)])
    assert r.status_code == 200 and r.json()["active"] is True, r.text


def test_admin_api_input_errors(server, victim):
    good = {"name": "n", "owner": "o", "purpose": "p", "model_provider": "m", "model": "m", "model_version": "1",
            "public_keys": [Key().public_jwk], "scopes": ["a"], "audiences": [MAIL]}

    def post(body, **kw):
        return server.admin("POST", "/admin/agents", data=body if isinstance(body, (bytes, str)) else json.dumps(body),
                            headers={"Content-Type": "application/json"}, **kw)

    for raw in [b"{not json", b"", b"[]", b"null", b'{"name": 1}']:
        r = post(raw)
        assert r.status_code == 400, (raw, r.status_code, r.text)
        assert r.json()["error"] == "invalid_input" and r.json()["reason"], r.text
    r = post({k: v for k, v in good.items() if k != "owner"})
    assert r.status_code == 400 and "owner" in r.json()["reason"], r.text
    for field, value in [("config_digest", "abc"), ("audiences", ["no-scheme"]), ("scopes", ["has space"]),
                         ("trust_level", 9), ("max_concurrent_sessions", 0), ("review_cadence_days", -1),
                         ("name", "  ")]:
        r = post(dict(good, **{field: value}))
        assert r.status_code == 400, (field, r.status_code, r.text)
        assert r.json()["error"] == "invalid_input"

    assert post(good, token=None).status_code == 401
    assert post(good, token="pcadm_wrong").status_code == 401
    assert post(good, token=victim.access_token()).status_code == 401
    r = server.admin("GET", "/admin/agents", token=None)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert "WWW-Authenticate" in r.headers
    r = server.admin("GET", "/admin/agents", headers={"Authorization": f"Basic {server.admin_token}"}, token=None)
    assert r.status_code == 401
    assert server.admin("GET", "/admin/agents/agt_nope").status_code == 404
    assert server.admin("GET", "/admin/agents?status=zombie").status_code == 400
    r = server.admin("PATCH", f"/admin/agents/{victim.id}", data=b"{oops", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = server.admin("POST", f"/admin/agents/{victim.id}/suspend", data=b"{oops",
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert server.admin("GET", f"/admin/agents/{victim.id}").json()["status"] == "active"


def _p384_jwk() -> dict:
    from cryptography.hazmat.primitives.asymmetric import ec

    n = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    return {"kty": "EC", "crv": "P-384", "x": b64u(n.x.to_bytes(48, "big")), "y": b64u(n.y.to_bytes(48, "big"))}


def _x25519_jwk() -> dict:
    from cryptography.hazmat.primitives.asymmetric import x25519
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = x25519.X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "X25519", "x": b64u(raw)}


@pytest.mark.parametrize("case", ["private-d", "oct", "rsa", "ec-short-coordinates", "ec-not-on-curve", "p384",
                                  "x25519", "use-enc"])
def test_admin_refuses_unusable_public_keys(server, case):
    """The registry says: EC P-256 or OKP Ed25519 public JWKs only. A key that can never
    authenticate (or a private key) must be refused at registration, not stored."""
    key = Key()
    jwk = {
        "private-d": key.private_jwk,
        "oct": {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"},
        "rsa": {"kty": "RSA", "n": b64u(b"\xc3" * 256), "e": "AQAB"},
        "ec-short-coordinates": {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        "ec-not-on-curve": {"kty": "EC", "crv": "P-256", "x": b64u(bytes(31) + b"\x01"),
                            "y": b64u(bytes(31) + b"\x01")},
        "p384": _p384_jwk(),
        "x25519": _x25519_jwk(),
        "use-enc": dict(key.public_jwk, use="enc"),
    }[case]
    r = server.admin("POST", "/admin/agents", {
        "name": "n", "owner": "o", "purpose": "p", "model_provider": "m", "model": "m", "model_version": "1",
        "public_keys": [jwk], "scopes": ["a"], "audiences": [MAIL]})
    assert r.status_code == 400, f"unusable public key ({case}) was accepted: {r.status_code} {r.text[:300]}"
    assert r.json()["error"] == "invalid_input"


def test_authorize_endpoint_is_not_a_way_in(server):
    r = requests.get(server.base + "/oauth/authorize?response_type=code&client_id=x", timeout=10,
                     allow_redirects=False)
    assert r.status_code == 400 and r.json()["error"] == "unsupported_response_type"


def test_zz_server_still_healthy(server, victim):
    """Runs last in this module: after every attack the server still answers and still issues tokens."""
    assert server.healthy()
    assert victim.token().status_code == 200
    assert server.proc.poll() is None, "the server process died"
