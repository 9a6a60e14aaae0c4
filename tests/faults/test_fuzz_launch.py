"""Bad id_tokens posted to /lti/launch (hypothesis): never a 500, no traceback, no new rows.

Each example logs in first (a real state and nonce), then posts either garbage or a token
properly signed by the LMS's published key whose header and claims are mutated: wrong types,
huge values, unicode, missing or extra fields. Signed tokens get past the signature check, so
the claims are what is fuzzed. The LMS serves its key set over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from lti_tool.demo import platform as lms
from lti_tool.demo.platform import Platform, RunningServer, encode_jws, serve_platform

from ..lti_harness import CLIENT_ID, register_both_sides
from .test_fuzz_forms import fuzz_settings, row_counts

TOOL = "http://localhost"
EXAMPLES = {"sqlite": 150, "postgresql": 60}
# Written by every login, accepted or not: not state a refused launch may change.
LOGIN_TABLES = frozenset({"lti_login", "lti_key_set_cache"})

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
HUGE = st.sampled_from(["x" * 200_000, "é" * 5000, "\u202e" * 100, 10**40, [[[[[[]]]]]] * 100])
VALUE = st.one_of(JSON, HUGE)


@pytest.fixture
def platform(app: Flask) -> Iterator[Platform]:
    with serve_platform() as server:
        assert isinstance(server, RunningServer)
        register_both_sides(app, server.platform, TOOL, name="Fuzz LMS")
        yield server.platform


def _login(client: FlaskClient, platform: Platform) -> tuple[str, str]:
    answer = client.get(
        "/lti/login",
        query_string={
            "iss": platform.issuer,
            "login_hint": "fuzz-1",
            "target_link_uri": f"{TOOL}/lti/launch",
            "client_id": CLIENT_ID,
            "lti_deployment_id": "1",
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    return query["state"][0], query["nonce"][0]


def _claims(platform: Platform, nonce: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": platform.issuer,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": nonce,
        "sub": "fuzz-1",
        "name": "Giulia Rossi",
        "email": "giulia@example.org",
        "locale": "it-IT",
        lms.MESSAGE_TYPE: lms.RESOURCE_LINK_REQUEST,
        lms.VERSION: "1.3.0",
        lms.DEPLOYMENT_ID: "1",
        lms.TARGET_LINK_URI: f"{TOOL}/lti/launch",
        lms.RESOURCE_LINK: {"id": "rl-1", "title": "Domande"},
        lms.ROLES: [lms.ROLE_LEARNER],
        lms.CONTEXT: {"id": "course-1", "title": "Storia dell'arte", "label": "ART"},
        lms.CUSTOM: {"widget": "qa"},
        lms.LAUNCH_PRESENTATION: {"locale": "it-IT", "return_url": "https://lms.example/back"},
        lms.TOOL_PLATFORM: {"guid": "g-1", "name": "Moodle"},
        lms.NRPS_CLAIM: {
            "context_memberships_url": platform.memberships_url("course-1"),
            "service_versions": ["2.0"],
        },
        lms.AGS_CLAIM: platform.ags_claim("course-1"),
    }


@st.composite
def mutated(draw: st.DrawFn, claims: dict[str, Any]) -> dict[str, Any]:
    out = dict(claims)
    for name in draw(st.lists(st.sampled_from(sorted(claims)), max_size=4, unique=True)):
        action = draw(st.sampled_from(["drop", "replace", "inner"]))
        if action == "drop":
            out.pop(name)
        elif action == "inner" and isinstance(out[name], dict) and out[name]:
            inner = dict(out[name])
            inner[draw(st.sampled_from(sorted(inner)))] = draw(VALUE)
            out[name] = inner
        else:
            out[name] = draw(VALUE)
    if draw(st.booleans()):
        out[draw(st.text(max_size=30))] = draw(VALUE)
    return out


@st.composite
def header(draw: st.DrawFn, kid: str) -> dict[str, Any]:
    out: dict[str, Any] = {"typ": "JWT", "alg": "RS256", "kid": kid}
    if draw(st.booleans()):
        out["alg"] = draw(st.sampled_from(["RS256", "none", "HS256", "RS512", "", 1, None]))
    if draw(st.booleans()):
        out["kid"] = draw(st.one_of(st.sampled_from([kid, "", "x" * 5000, 5, None]), JSON))
    if draw(st.booleans()):
        out[draw(st.sampled_from(["crit", "jku", "x5u", "typ", "cty", "b64"]))] = draw(VALUE)
    return out


GARBAGE = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="),
        min_size=1,
        max_size=5,
    ).map(".".join),
    st.just("e30.e30."),
    st.just("a" * 300_000),
)


def _post(app: Flask, client: FlaskClient, state: str, token: str) -> None:
    before = row_counts(app)
    response = client.post("/lti/launch", data={"id_token": token, "state": state})
    text = response.get_data(as_text=True)
    assert response.status_code < 500, text[:1000]
    assert "Traceback" not in text and "Something went wrong" not in text
    if response.status_code >= 400:
        after = row_counts(app)
        changed = {t for t in after if after[t] != before[t]} - LOGIN_TABLES
        assert not changed, (response.status_code, changed)


def test_fuzzed_id_tokens_are_refused_clearly_and_change_nothing(
    app: Flask, platform: Platform
) -> None:
    client = app.test_client()
    key = platform.signing_key

    @fuzz_settings(app, EXAMPLES)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        state, nonce = _login(client, platform)
        if data.draw(st.integers(0, 4), label="garbage?") == 0:
            token = data.draw(GARBAGE, label="garbage")
        else:
            claims = data.draw(mutated(_claims(platform, nonce)), label="claims")
            token = encode_jws(data.draw(header(key.kid), label="header"), claims, key)
        _post(app, client, state, token)

    run()


def test_a_valid_token_from_the_same_builder_is_accepted(app: Flask, platform: Platform) -> None:
    """The fuzzed tokens start from a launch the tool accepts, so mutations are what fails."""
    client = app.test_client()
    state, nonce = _login(client, platform)
    header = {"typ": "JWT", "alg": "RS256", "kid": platform.signing_key.kid}
    token = encode_jws(header, _claims(platform, nonce), platform.signing_key)
    response = client.post("/lti/launch", data={"id_token": token, "state": state})
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:1000]


def test_non_ascii_nonce_state_and_browser_proof_are_refused_clearly(
    app: Flask, platform: Platform
) -> None:
    """Found by the fuzzer: hmac refuses to compare non-ASCII text, which was a 500."""
    client = app.test_client()
    header = {"typ": "JWT", "alg": "RS256", "kid": platform.signing_key.kid}
    state, _nonce = _login(client, platform)
    token = encode_jws(header, _claims(platform, "nonce-é"), platform.signing_key)
    _post(app, client, state, token)  # signed by the LMS, the nonce is not the login's
    state, nonce = _login(client, platform)
    token = encode_jws(header, _claims(platform, nonce), platform.signing_key)
    _post(app, client, state[:-2] + "éé", token)  # a state whose signature is not ASCII
    state, nonce = _login(client, platform)
    token = encode_jws(header, _claims(platform, nonce), platform.signing_key)
    for name in [c.key for c in client._cookies.values()]:  # the state cookie bound to the browser
        client.set_cookie(name, "proof-ü", domain="localhost")
    _post(app, client, state, token)
