"""The demo LMS on its own: its tokens verify against its JWKS, and it refuses what the specs do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify
from flask.testing import FlaskClient
from jwt.algorithms import RSAAlgorithm
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from lti_tool.demo.platform import (
    AGS_CLAIM,
    ASSERTION_TYPE,
    CONTEXT,
    CUSTOM,
    DEEP_LINKING_REQUEST,
    DEPLOYMENT_ID,
    DL_CONTENT_ITEMS,
    DL_DATA,
    DL_SETTINGS,
    LAUNCH_PRESENTATION,
    MESSAGE_TYPE,
    NRPS_CLAIM,
    NRPS_MEDIA_TYPE,
    NRPS_SCOPE,
    PLATFORM_CONFIGURATION,
    REMOVE,
    RESOURCE_LINK,
    ROLE_INSTRUCTOR,
    ROLE_LEARNER,
    ROLES,
    TARGET_LINK_URI,
    TOOL_CONFIGURATION,
    TOOL_PLATFORM,
    VERSION,
    Platform,
    PlatformError,
    PreparedLaunch,
    Tamper,
    create_platform_app,
    get_platform,
    serve_in_thread,
    serve_platform,
)

ISSUER = "http://lms.test"
TOOL = "https://tool.test"
CLIENT_ID = "tool-client"
CONTEXT_ID = "course-7"


# -- helpers -------------------------------------------------------------------------------
class FormParser(HTMLParser):
    """The auto-posting form /auth answers with."""

    def __init__(self) -> None:
        super().__init__()
        self.form: dict[str, str | None] = {}
        self.fields: dict[str, str] = {}
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "form":
            self.form = attributes
        elif tag == "input" and attributes.get("name"):
            self.fields[str(attributes["name"])] = attributes.get("value") or ""


def parse_form(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


def tool_jwks(key: rsa.RSAPrivateKey, kid: str = "tool-key") -> dict[str, Any]:
    public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    assert isinstance(public, dict)
    return {"keys": [{**public, "kid": kid, "alg": "RS256", "use": "sig"}]}


def tool_jwt(key: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str = "tool-key") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def auth_params(launch: PreparedLaunch, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": launch.client_id,
        "redirect_uri": f"{TOOL}/launch",
        "login_hint": launch.login_hint,
        "lti_message_hint": launch.message_hint,
        "nonce": "nonce-1",
        "state": "state-1",
        **overrides,
    }
    return {k: v for k, v in params.items() if v is not None}


def id_token_of(lms: FlaskClient, launch: PreparedLaunch, **overrides: str | None) -> str:
    response = lms.get("/auth", query_string=auth_params(launch, **overrides))
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse_form(response.get_data(as_text=True)).fields["id_token"]


def verify(lms: FlaskClient, token: str, audience: str = CLIENT_ID) -> dict[str, Any]:
    """Check an id_token the way a tool does: signature by kid from the JWKS, iss, aud."""
    keys = jwt.PyJWKSet.from_dict(lms.get("/jwks").get_json())
    key = keys[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=ISSUER,
        options={"verify_sub": False},  # PyJWT wants a string sub; numeric ones are tested
    )
    return claims


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tool_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def lms_app(tool_key: rsa.RSAPrivateKey) -> Flask:
    app = create_platform_app(ISSUER)
    platform = get_platform(app)
    platform.register_tool(
        CLIENT_ID,
        login_url=f"{TOOL}/login",
        redirect_uris=[f"{TOOL}/launch", f"{TOOL}/launch2"],
        jwks_url=f"{TOOL}/jwks",
        deep_link_url=f"{TOOL}/deep",
    )
    platform.fetch_json = lambda url: tool_jwks(tool_key)  # no network for the tool's keys
    return app


@pytest.fixture
def platform(lms_app: Flask) -> Platform:
    return get_platform(lms_app)


@pytest.fixture
def lms(lms_app: Flask) -> FlaskClient:
    return lms_app.test_client()


# -- launches ------------------------------------------------------------------------------
def test_login_url_carries_the_third_party_login_parameters(platform: Platform) -> None:
    launch = platform.prepare_launch(
        CLIENT_ID, user={"sub": "u1"}, deployment_id="9", storage_target="_parent"
    )
    url = urlsplit(launch.login_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{TOOL}/login"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query == launch.login_params
    assert query == {
        "iss": ISSUER,
        "login_hint": "u1",
        "target_link_uri": f"{TOOL}/launch",
        "lti_message_hint": launch.message_hint,
        "client_id": CLIENT_ID,
        "lti_deployment_id": "9",
        "lti_storage_target": "_parent",
    }


def test_auth_answers_an_auto_posting_form_with_a_verifiable_id_token(
    platform: Platform, lms: FlaskClient
) -> None:
    launch = platform.prepare_launch(
        CLIENT_ID,
        user={"sub": 42, "name": "Ada Lovelace", "locale": "it"},
        roles=[ROLE_INSTRUCTOR],
        context={"id": CONTEXT_ID, "label": "C7", "title": "Course 7"},
        resource_link={"id": "rl-1", "title": "Forum"},
        custom={"section": "a"},
        launch_presentation={"document_target": "iframe", "return_url": f"{ISSUER}/back"},
        nrps=True,
        ags={"scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]},
    )
    response = lms.post("/auth", data=auth_params(launch, redirect_uri=f"{TOOL}/launch2"))
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = parse_form(response.get_data(as_text=True))
    assert page.form == {"id": "lti-launch-form", "method": "post", "action": f"{TOOL}/launch2"}
    assert set(page.fields) == {"id_token", "state"}
    assert page.fields["state"] == "state-1"
    assert "noscript" in page.tags and "script" in page.tags
    token = page.fields["id_token"]
    assert platform.last_id_token == token
    assert jwt.get_unverified_header(token)["kid"] == platform.signing_key.kid

    claims = verify(lms, token)
    assert claims["sub"] == 42  # numeric subs stay numeric
    assert claims["azp"] == CLIENT_ID and claims["nonce"] == "nonce-1"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["name"] == "Ada Lovelace" and claims["locale"] == "it"
    assert "email" not in claims and "given_name" not in claims
    assert claims[MESSAGE_TYPE] == "LtiResourceLinkRequest"
    assert claims[VERSION] == "1.3.0"
    assert claims[DEPLOYMENT_ID] == "1"
    assert claims[TARGET_LINK_URI] == f"{TOOL}/launch"
    assert claims[RESOURCE_LINK] == {"id": "rl-1", "title": "Forum"}
    assert claims[ROLES] == [ROLE_INSTRUCTOR]
    assert claims[CONTEXT]["id"] == CONTEXT_ID
    assert claims[CUSTOM] == {"section": "a"}
    assert claims[LAUNCH_PRESENTATION]["document_target"] == "iframe"
    assert claims[TOOL_PLATFORM]["product_family_code"] == "bottega-demo"
    assert claims[NRPS_CLAIM] == {
        "context_memberships_url": f"{ISSUER}/nrps/{CONTEXT_ID}",
        "service_versions": ["2.0"],
    }
    assert claims[AGS_CLAIM]["scope"] == ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]


def test_anonymous_launch_omits_sub_roles_and_optional_claims(
    platform: Platform, lms: FlaskClient
) -> None:
    launch = platform.prepare_launch(CLIENT_ID)
    claims = verify(lms, id_token_of(lms, launch, state=None))
    assert "sub" not in claims and ROLES not in claims and CONTEXT not in claims
    assert NRPS_CLAIM not in claims and AGS_CLAIM not in claims and CUSTOM not in claims
    assert claims[RESOURCE_LINK]["id"]  # a resource link launch always names its link
    assert launch.login_hint


def test_deep_linking_request_carries_the_settings(platform: Platform, lms: FlaskClient) -> None:
    launch = platform.prepare_launch(
        CLIENT_ID,
        user={"sub": "t"},
        roles=[ROLE_INSTRUCTOR],
        message_type=DEEP_LINKING_REQUEST,
        deep_linking_settings={"title": "Pick"},
    )
    assert launch.target_link_uri == f"{TOOL}/deep"
    claims = verify(lms, id_token_of(lms, launch))
    assert claims[MESSAGE_TYPE] == DEEP_LINKING_REQUEST
    assert RESOURCE_LINK not in claims
    settings = claims[DL_SETTINGS]
    assert settings["deep_link_return_url"] == f"{ISSUER}/deep_link_return"
    assert settings["accept_types"] == ["ltiResourceLink"]
    assert settings["accept_presentation_document_targets"] == ["iframe", "window"]
    assert settings["accept_multiple"] is True and settings["auto_create"] is True
    assert settings["title"] == "Pick" and isinstance(settings["data"], str)


def test_nrps_claim_needs_a_context(platform: Platform) -> None:
    with pytest.raises(ValueError, match="context"):
        platform.prepare_launch(CLIENT_ID, nrps=True)


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"redirect_uri": "https://evil.test/launch"}, 400, "invalid_request"),
        ({"client_id": "nobody"}, 400, "unauthorized_client"),
        ({"scope": "profile"}, 400, "invalid_scope"),
        ({"response_type": "code"}, 400, "unsupported_response_type"),
        ({"response_mode": "query"}, 400, "invalid_request"),
        ({"prompt": "login"}, 400, "invalid_request"),
        ({"nonce": None}, 400, "invalid_request"),
        ({"login_hint": "someone-else"}, 400, "login_required"),
        ({"lti_message_hint": "forged"}, 400, "login_required"),
    ],
)
def test_auth_refuses_bad_requests(
    platform: Platform,
    lms: FlaskClient,
    overrides: dict[str, str | None],
    status: int,
    error: str,
) -> None:
    launch = platform.prepare_launch(CLIENT_ID, user={"sub": "u1"})
    response = lms.get("/auth", query_string=auth_params(launch, **overrides))
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert platform.last_id_token is None


def test_auth_refuses_a_launch_prepared_for_another_tool(
    platform: Platform, lms: FlaskClient
) -> None:
    platform.register_tool(
        "other", login_url=f"{TOOL}/login", redirect_uris=[f"{TOOL}/launch"], jwks_url=TOOL
    )
    launch = platform.prepare_launch("other", user={"sub": "u1"})
    response = lms.get("/auth", query_string=auth_params(launch, client_id=CLIENT_ID))
    assert response.get_json()["error"] == "login_required"


# -- tampering -----------------------------------------------------------------------------
def _tampered(platform: Platform, lms: FlaskClient, tamper: Tamper) -> str:
    launch = platform.prepare_launch(
        CLIENT_ID, user={"sub": "u1"}, roles=[ROLE_LEARNER], tamper=tamper
    )
    return id_token_of(lms, launch)


def test_tamper_removes_and_overrides_claims(platform: Platform, lms: FlaskClient) -> None:
    tamper = Tamper(
        claims={"sub": REMOVE, VERSION: REMOVE, ROLES: REMOVE, DEPLOYMENT_ID: "999"},
        nonce="forced",
        azp="someone",
    )
    claims = verify(lms, _tampered(platform, lms, tamper))
    assert "sub" not in claims and VERSION not in claims and ROLES not in claims
    assert claims[DEPLOYMENT_ID] == "999"
    assert claims["nonce"] == "forced" and claims["azp"] == "someone"


def test_tamper_audience_and_times(platform: Platform, lms: FlaskClient) -> None:
    token = _tampered(platform, lms, Tamper(aud=["other", CLIENT_ID]))
    assert verify(lms, token)["aud"] == ["other", CLIENT_ID]
    with pytest.raises(jwt.InvalidAudienceError):
        verify(lms, _tampered(platform, lms, Tamper(aud="other")))
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(lms, _tampered(platform, lms, Tamper(exp_offset=-600)))
    with pytest.raises(jwt.ImmatureSignatureError):
        verify(lms, _tampered(platform, lms, Tamper(iat_offset=600, exp_offset=600)))


def test_tamper_headers(platform: Platform, lms: FlaskClient) -> None:
    assert "kid" not in jwt.get_unverified_header(
        _tampered(platform, lms, Tamper(headers={"kid": REMOVE}))
    )
    token = _tampered(platform, lms, Tamper(headers={"kid": "wrong"}))
    assert jwt.get_unverified_header(token)["kid"] == "wrong"
    with pytest.raises(KeyError):
        verify(lms, token)


def test_unsigned_token(platform: Platform, lms: FlaskClient) -> None:
    token = _tampered(platform, lms, Tamper(alg="none"))
    assert token.endswith(".")
    assert jwt.get_unverified_header(token)["alg"] == "none"
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(lms, token)


def test_key_confusion_token_is_hmac_keyed_with_the_public_pem(
    platform: Platform, lms: FlaskClient
) -> None:
    token = _tampered(platform, lms, Tamper(alg="HS256"))
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(platform.signing_key.public_pem, signing_input.encode(), hashlib.sha256)
    assert base64.urlsafe_b64decode(signature + "==") == expected.digest()
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(lms, token)


def test_token_signed_with_an_unpublished_key_fails(platform: Platform, lms: FlaskClient) -> None:
    token = _tampered(platform, lms, Tamper(sign_with_other_key=True))
    assert jwt.get_unverified_header(token)["kid"] == platform.signing_key.kid
    with pytest.raises(jwt.InvalidSignatureError):
        verify(lms, token)


# -- keys ----------------------------------------------------------------------------------
def test_jwks_has_public_parts_only_and_counts_requests(
    platform: Platform, lms: FlaskClient
) -> None:
    body = lms.get("/jwks").get_json()
    (key,) = body["keys"]
    assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}
    assert key["kid"] == platform.signing_key.kid
    lms.get("/jwks")
    assert platform.jwks_requests == 2


def test_rotation_publishes_both_keys_and_signs_with_the_new_one(
    platform: Platform, lms: FlaskClient
) -> None:
    old = platform.signing_key.kid
    new = platform.rotate_key()
    assert new != old
    assert [k["kid"] for k in lms.get("/jwks").get_json()["keys"]] == [new, old]
    token = id_token_of(lms, platform.prepare_launch(CLIENT_ID, user={"sub": "u"}))
    assert jwt.get_unverified_header(token)["kid"] == new
    verify(lms, token)
    platform.drop_key(old)
    assert [k["kid"] for k in lms.get("/jwks").get_json()["keys"]] == [new]
    with pytest.raises(ValueError, match="signing"):
        platform.drop_key(new)


def test_jwks_can_fail_and_be_slow(platform: Platform, lms: FlaskClient) -> None:
    platform.jwks_failure = 503
    assert lms.get("/jwks").status_code == 503
    platform.jwks_failure = None
    platform.jwks_delay = 0.2
    started = time.monotonic()
    assert lms.get("/jwks").status_code == 200
    assert time.monotonic() - started >= 0.2
    assert platform.jwks_requests == 2


# -- deep linking return -------------------------------------------------------------------
def _deep_link_response(
    platform: Platform, lms: FlaskClient, **changes: Any
) -> tuple[dict[str, Any], str]:
    launch = platform.prepare_launch(
        CLIENT_ID, user={"sub": "t"}, message_type=DEEP_LINKING_REQUEST
    )
    request_claims = verify(lms, id_token_of(lms, launch))
    now = int(time.time())
    claims = {
        "iss": CLIENT_ID,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 60,
        "nonce": uuid.uuid4().hex,
        MESSAGE_TYPE: "LtiDeepLinkingResponse",
        VERSION: "1.3.0",
        DEPLOYMENT_ID: "1",
        DL_DATA: request_claims[DL_SETTINGS]["data"],
        DL_CONTENT_ITEMS: [
            {"type": "ltiResourceLink", "title": "Q&A <board>", "url": f"{TOOL}/launch"}
        ],
    }
    claims.update(changes)
    return claims, request_claims[DL_SETTINGS]["deep_link_return_url"]


def test_deep_link_return_verifies_and_stores_the_items(
    platform: Platform, lms: FlaskClient, tool_key: rsa.RSAPrivateKey
) -> None:
    claims, url = _deep_link_response(platform, lms)
    assert url == f"{ISSUER}/deep_link_return"
    token = tool_jwt(tool_key, claims)
    response = lms.post("/deep_link_return", data={"JWT": token})
    assert response.status_code == 200
    assert "Items received" in response.get_data(as_text=True)
    assert "Q&amp;A &lt;board&gt;" in response.get_data(as_text=True)
    (result,) = platform.deep_link_results
    assert result[DL_CONTENT_ITEMS][0]["title"] == "Q&A <board>"
    replay = lms.post("/deep_link_return", data={"JWT": token})
    assert replay.status_code == 400
    assert "nonce" in replay.get_json()["error_description"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({DL_DATA: "not-what-was-sent"}, "data"),
        ({"aud": "https://other-lms.test"}, "audience"),
        ({MESSAGE_TYPE: "LtiResourceLinkRequest"}, "message_type"),
        ({VERSION: "1.1"}, "version"),
        ({DEPLOYMENT_ID: "77"}, "deployment_id"),
        ({"iss": "nobody"}, "client_id"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nonce": ""}, "nonce"),
    ],
)
def test_deep_link_return_refuses(
    platform: Platform,
    lms: FlaskClient,
    tool_key: rsa.RSAPrivateKey,
    changes: dict[str, Any],
    reason: str,
) -> None:
    claims, _ = _deep_link_response(platform, lms, **changes)
    response = lms.post("/deep_link_return", data={"JWT": tool_jwt(tool_key, claims)})
    assert response.status_code == 400
    assert reason in response.get_json()["error_description"].lower()
    assert platform.deep_link_results == []


def test_deep_link_return_refuses_a_foreign_signature_or_no_jwt(
    platform: Platform, lms: FlaskClient
) -> None:
    claims, _ = _deep_link_response(platform, lms)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = lms.post("/deep_link_return", data={"JWT": tool_jwt(stranger, claims)})
    assert response.status_code == 400
    assert lms.post("/deep_link_return", data={}).status_code == 400


# -- dynamic registration ------------------------------------------------------------------
def registration_request() -> dict[str, Any]:
    return {
        "application_type": "web",
        "client_name": "Bottega",
        "grant_types": ["client_credentials", "implicit"],
        "response_types": ["id_token"],
        "redirect_uris": [f"{TOOL}/launch"],
        "initiate_login_uri": f"{TOOL}/login",
        "jwks_uri": f"{TOOL}/jwks",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": f"{NRPS_SCOPE} https://example.test/unknown-scope",
        TOOL_CONFIGURATION: {
            "domain": "tool.test",
            "target_link_uri": f"{TOOL}/launch",
            "claims": ["iss", "sub", "name"],
            "messages": [{"type": "LtiDeepLinkingRequest", "target_link_uri": f"{TOOL}/deep"}],
        },
    }


def test_openid_configuration(platform: Platform, lms: FlaskClient) -> None:
    config = lms.get("/.well-known/openid-configuration").get_json()
    assert config["issuer"] == ISSUER
    assert config["authorization_endpoint"] == f"{ISSUER}/auth"
    assert config["token_endpoint"] == f"{ISSUER}/token"
    assert config["jwks_uri"] == f"{ISSUER}/jwks"
    assert config["registration_endpoint"] == f"{ISSUER}/register"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert NRPS_SCOPE in config["scopes_supported"]
    lti = config[PLATFORM_CONFIGURATION]
    assert lti["product_family_code"] == "moodle"
    assert {m["type"] for m in lti["messages_supported"]} == {
        "LtiResourceLinkRequest",
        DEEP_LINKING_REQUEST,
    }
    assert platform.openid_configuration_url == f"{ISSUER}/.well-known/openid-configuration"


def test_registration_creates_a_pending_tool_with_a_single_use_token(
    platform: Platform, lms: FlaskClient
) -> None:
    token = platform.start_registration()
    headers = {"Authorization": f"Bearer {token}"}
    response = lms.post("/register", json=registration_request(), headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    client_id = body["client_id"]
    assert body[TOOL_CONFIGURATION]["deployment_id"] == "1"
    assert body["scope"] == NRPS_SCOPE  # unknown scopes are not granted
    assert body["redirect_uris"] == [f"{TOOL}/launch"]
    assert platform.registrations[client_id]["client_name"] == "Bottega"
    tool = platform.tools[client_id]
    assert tool.status == "pending"
    assert tool.deep_link_url == f"{TOOL}/deep" and tool.login_url == f"{TOOL}/login"
    with pytest.raises(PlatformError, match="pending"):
        platform.prepare_launch(client_id, user={"sub": "u"})

    again = lms.post("/register", json=registration_request(), headers=headers)
    assert again.status_code == 401

    platform.activate(client_id)
    launch = platform.prepare_launch(client_id, user={"sub": "u"})
    assert launch.target_link_uri == f"{TOOL}/launch"
    assert launch.login_url.startswith(f"{TOOL}/login?")


@pytest.mark.parametrize(
    "change",
    [
        {"application_type": "native"},
        {"grant_types": ["implicit"]},
        {"response_types": ["code"]},
        {"redirect_uris": []},
        {"initiate_login_uri": "not a url"},
        {"jwks_uri": None},
        {"token_endpoint_auth_method": "client_secret_basic"},
        {"scope": ["a"]},
        {TOOL_CONFIGURATION: {"domain": "tool.test"}},
    ],
)
def test_registration_refuses_incomplete_requests_without_spending_the_token(
    platform: Platform, lms: FlaskClient, change: dict[str, Any]
) -> None:
    token = platform.start_registration()
    headers = {"Authorization": f"Bearer {token}"}
    bad = {**registration_request(), **change}
    response = lms.post("/register", json=bad, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")
    assert lms.post("/register", json=registration_request(), headers=headers).status_code == 200


def test_registration_needs_a_token(platform: Platform, lms: FlaskClient) -> None:
    assert lms.post("/register", json=registration_request()).status_code == 401
    headers = {"Authorization": "Bearer made-up"}
    assert lms.post("/register", json=registration_request(), headers=headers).status_code == 401
    assert lms.post("/register", data="{", headers=headers).status_code == 401
    assert platform.registrations == {}


def test_registration_start_url(platform: Platform) -> None:
    url = platform.registration_start_url(f"{TOOL}/register?x=1")
    query = parse_qs(urlsplit(url).query)
    assert query["x"] == ["1"]
    assert query["openid_configuration"] == [platform.openid_configuration_url]
    assert query["registration_token"][0] in platform.registration_tokens


# -- on a real socket: token endpoint, NRPS, concurrency -------------------------------------
@pytest.fixture
def tool_server(tool_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """A stand-in tool publishing its JWKS over HTTP."""
    app = Flask("fake_tool")
    app.add_url_rule("/jwks", "jwks", lambda: jsonify(tool_jwks(tool_key)))
    with serve_in_thread(app) as server:
        yield server.url


@pytest.fixture
def served(tool_server: str) -> Iterator[Platform]:
    with serve_platform() as server:
        platform = server.platform
        assert platform.issuer == server.url and server.port > 0
        platform.register_tool(
            CLIENT_ID,
            login_url=f"{tool_server}/login",
            redirect_uris=[f"{tool_server}/launch"],
            jwks_url=f"{tool_server}/jwks",
        )
        yield platform


def _assertion(key: rsa.RSAPrivateKey, platform: Platform, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": platform.token_url,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        **changes,
    }
    return tool_jwt(key, claims)


def _token_request(platform: Platform, assertion: str, scope: str = NRPS_SCOPE) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": scope,
    }


def test_token_endpoint_and_nrps_paging(served: Platform, tool_key: rsa.RSAPrivateKey) -> None:
    platform = served
    platform.prepare_launch(
        CLIENT_ID, user={"sub": "t"}, context={"id": CONTEXT_ID, "title": "C7"}, nrps=True
    )
    platform.rosters[CONTEXT_ID] = [
        {"user_id": str(i), "status": "Active", "roles": [ROLE_LEARNER]} for i in range(5)
    ] + [{"user_id": "teacher", "status": "Active", "roles": [ROLE_INSTRUCTOR]}]
    url = f"{platform.issuer}/nrps/{CONTEXT_ID}"
    with requests.Session() as http:
        assert http.get(url, timeout=5).status_code == 401
        assertion = _assertion(tool_key, platform)
        answer = http.post(platform.token_url, data=_token_request(platform, assertion), timeout=5)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 3600
        assert body["scope"] == NRPS_SCOPE
        auth = {"Authorization": f"Bearer {body['access_token']}"}

        seen: list[str] = []
        next_url: str | None = f"{url}?limit=4"
        while next_url:
            page = http.get(next_url, headers=auth, timeout=5)
            assert page.status_code == 200
            assert page.headers["Content-Type"].startswith(NRPS_MEDIA_TYPE)
            assert page.json()["context"] == {"id": CONTEXT_ID, "title": "C7"}
            seen += [m["user_id"] for m in page.json()["members"]]
            next_url = page.links.get("next", {}).get("url")
        assert seen == ["0", "1", "2", "3", "4", "teacher"]
        teachers = http.get(url, params={"role": "Instructor"}, headers=auth, timeout=5)
        assert [m["user_id"] for m in teachers.json()["members"]] == ["teacher"]
        assert http.get(f"{platform.issuer}/nrps/nope", headers=auth, timeout=5).status_code == 404

        reused = http.post(platform.token_url, data=_token_request(platform, assertion), timeout=5)
        assert reused.status_code == 401 and "jti" in reused.json()["error_description"]
        platform.expire_access_tokens()
        assert http.get(url, headers=auth, timeout=5).status_code == 401
    assert platform.token_requests == 2


def test_token_scope_limits_nrps(served: Platform, tool_key: rsa.RSAPrivateKey) -> None:
    platform = served
    platform.rosters[CONTEXT_ID] = []
    score = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
    data = _token_request(platform, _assertion(tool_key, platform), scope=score)
    with requests.Session() as http:
        token = http.post(platform.token_url, data=data, timeout=5).json()["access_token"]
        answer = http.get(
            f"{platform.issuer}/nrps/{CONTEXT_ID}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
    assert answer.status_code == 403
    assert "insufficient_scope" in answer.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"aud": "https://elsewhere.test/token"}, 401, "invalid_client"),
        ({"sub": "someone"}, 401, "invalid_client"),
        ({"iss": "unknown"}, 401, "invalid_client"),
        ({"exp": int(time.time()) - 100}, 401, "invalid_client"),
        ({"jti": None}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_assertion_type": "other"}, 400, "invalid_request"),
        ({"scope": "https://example.test/none"}, 400, "invalid_scope"),
    ],
)
def test_token_endpoint_refuses(
    served: Platform,
    tool_key: rsa.RSAPrivateKey,
    changes: dict[str, Any],
    status: int,
    error: str,
) -> None:
    claims = {k: v for k, v in changes.items() if k in ("aud", "sub", "iss", "exp", "jti")}
    assertion = _assertion(tool_key, served, **claims)
    if claims.get("jti", "") is None:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        unverified.pop("jti")
        assertion = tool_jwt(tool_key, unverified)
    form = {
        **_token_request(served, assertion),
        **{k: v for k, v in changes.items() if k not in claims},
    }
    answer = requests.post(served.token_url, data=form, timeout=5)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error


def test_token_endpoint_accepts_the_issuer_as_audience_and_can_fail(
    served: Platform, tool_key: rsa.RSAPrivateKey
) -> None:
    data = _token_request(served, _assertion(tool_key, served, aud=[served.issuer]))
    assert requests.post(served.token_url, data=data, timeout=5).status_code == 200
    served.token_failure = 503
    assert requests.post(served.token_url, data=data, timeout=5).status_code == 503


def test_parallel_requests(served: Platform, tool_key: rsa.RSAPrivateKey) -> None:
    def fetch(_: int) -> int:
        with requests.Session() as http:
            jwks = http.get(served.jwks_url, timeout=5).status_code
            form = _token_request(served, _assertion(tool_key, served))
            return jwks + http.post(served.token_url, data=form, timeout=5).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert list(pool.map(fetch, range(20))) == [400] * 20
    assert served.jwks_requests == 20 and served.token_requests == 20
    assert len(served.access_tokens) == 20


def test_serve_in_thread_stops(tool_key: rsa.RSAPrivateKey) -> None:
    server = serve_in_thread(factory=lambda url: create_platform_app(url + "/"))
    assert server.platform.issuer == server.url
    assert requests.get(server.url + "/jwks", timeout=5).status_code == 200
    server.shutdown()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/jwks", timeout=5)
    with pytest.raises(TypeError):
        serve_in_thread()


# -- mounted under a prefix ----------------------------------------------------------------
def test_works_mounted_under_a_prefix() -> None:
    issuer = "http://localhost/demo/lms"
    lms_app = create_platform_app(issuer)
    outer = Flask("outer")
    outer.wsgi_app = DispatcherMiddleware(outer.wsgi_app, {"/demo/lms": lms_app})  # type: ignore[method-assign]
    client = Client(outer)
    config = client.get("/demo/lms/.well-known/openid-configuration").json
    assert config is not None
    assert config["jwks_uri"] == f"{issuer}/jwks"
    assert config["authorization_endpoint"] == f"{issuer}/auth"
    assert client.get("/demo/lms/jwks").status_code == 200
    platform = get_platform(lms_app)
    platform.register_tool(
        CLIENT_ID, login_url=f"{TOOL}/login", redirect_uris=[f"{TOOL}/launch"], jwks_url=TOOL
    )
    launch = platform.prepare_launch(CLIENT_ID, user={"sub": "u"}, context={"id": "c"}, nrps=True)
    assert launch.login_params["iss"] == issuer
    response = client.post("/demo/lms/auth", data=auth_params(launch))
    assert response.status_code == 200
    assert platform.last_auth is not None
    assert platform.last_auth.claims[NRPS_CLAIM]["context_memberships_url"] == f"{issuer}/nrps/c"
