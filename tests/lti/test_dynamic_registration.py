"""LTI Dynamic Registration over real HTTP: the tool, the demo LMS (Moodle-like) and a scripted LMS.

The demo platform plays Moodle 4.x: a single-use registration token, a new client id per
registration, deployment "1", and the tool pending until an LMS admin activates it. The scripted
LMS below answers whatever a test needs (a fixed client id, no deployment id, errors, bad JSON).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

import pytest
import requests
from flask import Flask, Response, jsonify, redirect, request
from flask.testing import FlaskClient
from sqlalchemy import func, select

from lti_tool.courses.models import Platform as PlatformRow
from lti_tool.courses.models import PlatformStatus
from lti_tool.demo.platform import (
    DEEP_LINKING_REQUEST,
    PLATFORM_CONFIGURATION,
    TOOL_CONFIGURATION,
    PlatformError,
    RunningServer,
    serve_in_thread,
    serve_platform,
)
from lti_tool.extensions import db
from lti_tool.lti.dynamic_registration import (
    TOOL_SCOPES,
    check_start,
    fetch_configuration,
    validate_configuration,
)
from lti_tool.lti.errors import RegistrationFlowError
from lti_tool.lti.registration import PlatformInput, add_platform

from ..lti_harness import LEARNER, Lms, browser, parse_form, post_launch

NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def moodle() -> Iterator[RunningServer]:
    """The demo LMS with no tool registered: Bottega must register itself."""
    with serve_platform() as server:
        yield server


@dataclass
class ScriptedLms:
    """An LMS whose configuration and registration answers a test sets."""

    url: str
    config_changes: dict[str, Any] = field(default_factory=dict)
    config_raw: str | None = None  # answered as-is (e.g. not JSON)
    config_status: int = 200
    config_redirect: str | None = None
    register_status: int = 200
    client_id: Any = "fixed-client"
    deployment_id: Any = "2"
    register_answer: Any = None  # replaces the whole answer when set
    received: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    @property
    def config_url(self) -> str:
        return self.url + "/.well-known/openid-configuration"

    def configuration(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/auth",
            "token_endpoint": self.url + "/token",
            "jwks_uri": self.url + "/jwks",
            "registration_endpoint": self.url + "/register",
            "scopes_supported": ["openid", *TOOL_SCOPES],
            "id_token_signing_alg_values_supported": ["RS256"],
            PLATFORM_CONFIGURATION: {"product_family_code": "moodle", "version": "4.5"},
        }
        config.update(self.config_changes)
        return {k: v for k, v in config.items() if v is not None}


def scripted_app(url: str) -> Flask:
    app = Flask("scripted_lms")
    lms = ScriptedLms(url)
    app.extensions["scripted_lms"] = lms

    @app.get("/.well-known/openid-configuration")
    def configuration() -> Any:
        if lms.config_redirect is not None:
            return redirect(lms.config_redirect, 302)
        if lms.config_raw is not None:
            return Response(lms.config_raw, lms.config_status, mimetype="text/html")
        return jsonify(lms.configuration()), lms.config_status

    @app.get("/slow")
    def slow() -> Any:
        time.sleep(1.5)
        return jsonify(lms.configuration())

    @app.post("/register")
    def register() -> Any:
        lms.authorizations.append(request.headers.get("Authorization"))
        body = request.get_json()
        lms.received.append(body)
        if lms.register_answer is not None:
            return jsonify(lms.register_answer), lms.register_status
        config = dict(body[TOOL_CONFIGURATION])
        if lms.deployment_id is not None:
            config["deployment_id"] = lms.deployment_id
        return jsonify({**body, "client_id": lms.client_id, TOOL_CONFIGURATION: config}), (
            lms.register_status
        )

    return app


@pytest.fixture
def scripted() -> Iterator[ScriptedLms]:
    with serve_in_thread(factory=scripted_app) as server:
        assert isinstance(server.app, Flask)
        lms = server.app.extensions["scripted_lms"]
        assert isinstance(lms, ScriptedLms)
        yield lms


# -- helpers ------------------------------------------------------------------------------------


def start_url(tool_url: str, config_url: str | None, token: str | None) -> str:
    query = {"openid_configuration": config_url, "registration_token": token}
    return f"{tool_url}/lti/register?" + urlencode({k: v for k, v in query.items() if v})


def confirm(client: requests.Session, url: str) -> tuple[str, dict[str, str]]:
    """Open the registration URL as the LMS does; the confirmation form."""
    page = client.get(url, timeout=30)
    assert page.status_code == 200, (page.status_code, page.text[:500])
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    action, fields = parse_form(page.text)
    return urljoin(url, action), fields


def register(client: requests.Session, url: str) -> requests.Response:
    """The whole flow a browser follows: the confirmation page, then the admin confirms."""
    action, fields = confirm(client, url)
    return client.post(action, data=fields, timeout=30)


def platforms(app: Flask) -> list[PlatformRow]:
    with app.app_context():
        rows = list(db.session.scalars(select(PlatformRow).order_by(PlatformRow.id)))
        for row in rows:
            _ = row.deployments  # load before the session closes
        db.session.expunge_all()
        return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the Moodle-like flow -----------------------------------------------------------------------


def test_moodle_style_registration_then_activation_and_launch(
    app: Flask, tool_server: RunningServer, moodle: RunningServer
) -> None:
    platform = moodle.platform
    tool = tool_server.url
    client = browser()

    action, fields = confirm(client, platform.registration_start_url(f"{tool}/lti/register"))
    assert action == f"{tool}/lti/register"
    assert fields["openid_configuration"] == platform.openid_configuration_url
    assert platform.registrations == {}  # nothing is registered before the admin confirms

    done = client.post(action, data=fields, timeout=30)
    assert done.status_code == 200, done.text[:800]
    assert done.headers["Cache-Control"] == "no-store"
    (client_id,) = platform.registrations
    assert client_id in done.text
    assert "<dd>1</dd>" in done.text
    assert "Manage tools" in done.text
    assert "js/lti-register.js" in done.text
    assert 'id="lti-register-close"' in done.text
    assert "<script>" not in done.text  # no inline script

    (row,) = platforms(app)
    assert row.issuer == platform.issuer
    assert row.client_id == client_id
    assert row.status == PlatformStatus.ACTIVE
    assert [d.deployment_id for d in row.deployments] == ["1"]
    assert row.auth_login_url == platform.auth_url
    assert row.auth_token_url == platform.token_url
    assert row.key_set_url == platform.jwks_url
    assert row.auth_audience is None
    assert row.name == f"Moodle ({platform.issuer.split('://')[1]})"

    # The LMS side: pending until an LMS admin activates the tool.
    with pytest.raises(PlatformError, match="pending"):
        platform.prepare_launch(client_id)
    platform.activate(client_id)

    lms = Lms(server=moodle, tool_url=tool)
    prepared = platform.prepare_launch(
        client_id,
        deployment_id="1",
        user={"sub": "student-1", "name": "Giulia Rossi"},
        roles=[LEARNER],
        context={"id": "course-101", "title": "Storia dell'arte"},
    )
    action, fields = lms.id_token_post(client, prepared)
    result = post_launch(client, action, fields)
    assert result.ok, result.launch_response.text[:500]
    assert result.page is not None and result.page.status_code == 200


def test_the_registration_request_has_what_the_lti_specs_ask(
    app: Flask, tool_server: RunningServer, moodle: RunningServer
) -> None:
    platform = moodle.platform
    tool = tool_server.url
    response = register(browser(), platform.registration_start_url(f"{tool}/lti/register"))
    assert response.status_code == 200, response.text[:800]
    ((client_id, received),) = platform.registrations.items()
    assert received["application_type"] == "web"
    assert received["response_types"] == ["id_token"]
    assert received["grant_types"] == ["implicit", "client_credentials"]
    assert received["initiate_login_uri"] == f"{tool}/lti/login"
    assert received["redirect_uris"] == [f"{tool}/lti/launch"]
    assert received["jwks_uri"] == f"{tool}/.well-known/jwks.json"
    assert received["client_name"] == "Bottega"
    assert received["token_endpoint_auth_method"] == "private_key_jwt"
    assert "logo_uri" not in received
    assert received["scope"].split() == list(TOOL_SCOPES)
    config = received[TOOL_CONFIGURATION]
    assert config["domain"] == tool.split("://")[1]  # host and port, as Moodle compares them
    assert config["target_link_uri"] == f"{tool}/lti/launch"
    assert config["custom_parameters"] == {"widget": "home"}
    assert config["claims"] == [
        "iss",
        "sub",
        "name",
        "given_name",
        "family_name",
        "email",
        "picture",
        "locale",
    ]
    assert [m["type"] for m in config["messages"]] == [
        "LtiResourceLinkRequest",
        DEEP_LINKING_REQUEST,
    ]
    deep_linking = config["messages"][1]
    assert deep_linking["target_link_uri"] == f"{tool}/lti/launch"
    assert deep_linking["label"] == "Bottega"
    assert deep_linking["placements"] == ["ContentArea"]
    assert config["description"]
    assert platform.tools[client_id].deep_link_url == f"{tool}/lti/launch"
    assert set(platform.tools[client_id].scopes) == set(TOOL_SCOPES)


def test_the_data_privacy_launch_is_offered_only_to_a_platform_that_lists_it(
    app: Flask, tool_server: RunningServer, moodle: RunningServer
) -> None:
    platform = moodle.platform
    platform.messages_supported.append("LtiDataPrivacyLaunchRequest")
    response = register(
        browser(), platform.registration_start_url(f"{tool_server.url}/lti/register")
    )
    assert response.status_code == 200, response.text[:800]
    ((_, received),) = platform.registrations.items()
    messages = received[TOOL_CONFIGURATION]["messages"]
    assert [m["type"] for m in messages] == [
        "LtiResourceLinkRequest",
        DEEP_LINKING_REQUEST,
        "LtiDataPrivacyLaunchRequest",
    ]
    assert messages[2]["target_link_uri"] == f"{tool_server.url}/lti/launch"


def test_a_registration_token_works_once(
    app: Flask, tool_server: RunningServer, moodle: RunningServer
) -> None:
    platform = moodle.platform
    client = browser()
    action, fields = confirm(
        client, platform.registration_start_url(f"{tool_server.url}/lti/register")
    )
    assert client.post(action, data=fields, timeout=30).status_code == 200

    again = client.post(action, data=fields, timeout=30)
    assert again.status_code == 403
    assert "registration token" in again.text
    assert "start the registration again" in again.text
    assert "Traceback" not in again.text
    assert len(platform.registrations) == 1
    assert len(platforms(app)) == 1


def test_the_token_reaches_the_lms_as_a_bearer_token_and_no_log(
    app: Flask,
    tool_server: RunningServer,
    scripted: ScriptedLms,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="lti_tool")
    token = "secret-registration-token-42"
    response = register(browser(), start_url(tool_server.url, scripted.config_url, token))
    assert response.status_code == 200, response.text[:800]
    assert scripted.authorizations == [f"Bearer {token}"]
    # Bottega's own logs (the dev server's access log prints request lines, query included).
    ours = [r for r in caplog.records if r.name.startswith("lti_tool")]
    assert not [r for r in ours if token in r.getMessage()]
    assert any("Dynamic registration" in r.getMessage() for r in ours)


def test_without_a_token_no_authorization_header_is_sent(
    app: Flask, tool_server: RunningServer, scripted: ScriptedLms
) -> None:
    response = register(browser(), start_url(tool_server.url, scripted.config_url, None))
    assert response.status_code == 200, response.text[:800]
    assert scripted.authorizations == [None]


# -- refused starts and configurations ----------------------------------------------------------


def test_missing_openid_configuration_is_a_400(app: Flask, tool_server: RunningServer) -> None:
    client = browser()
    for url in (
        f"{tool_server.url}/lti/register",
        f"{tool_server.url}/lti/register?registration_token=abc",
        f"{tool_server.url}/lti/register?openid_configuration=",
    ):
        response = client.get(url, timeout=10)
        assert response.status_code == 400, url
        assert "openid_configuration" in response.text
        assert "Manage tools" in response.text
    posted = client.post(f"{tool_server.url}/lti/register", data={}, timeout=10)
    assert posted.status_code == 400


@pytest.mark.parametrize(
    "config_url",
    [
        "ftp://lms.example.org/config",
        "/.well-known/openid-configuration",
        "http://lms.example.org/.well-known/openid-configuration",  # http off loopback
    ],
)
def test_a_bad_openid_configuration_url_is_refused(
    app: Flask, tool_server: RunningServer, config_url: str
) -> None:
    response = browser().get(start_url(tool_server.url, config_url, "t"), timeout=10)
    assert response.status_code == 400
    assert "https" in response.text


def test_a_malformed_token_is_refused(
    app: Flask, tool_server: RunningServer, scripted: ScriptedLms
) -> None:
    response = browser().get(
        start_url(tool_server.url, scripted.config_url, "two words\r\nX-Evil: 1"), timeout=10
    )
    assert response.status_code == 400
    assert "malformed" in response.text


def test_an_unreachable_configuration_is_a_4xx(app: Flask, tool_server: RunningServer) -> None:
    url = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    response = browser().get(start_url(tool_server.url, url, "t"), timeout=30)
    assert response.status_code == 400
    assert "could not be reached" in response.text
    assert "Traceback" not in response.text


def test_an_issuer_on_another_host_is_refused(
    app: Flask, tool_server: RunningServer, moodle: RunningServer
) -> None:
    platform = moodle.platform
    token = platform.start_registration()
    # The same LMS reached as localhost: its issuer says 127.0.0.1, another host.
    config_url = f"http://localhost:{moodle.port}/.well-known/openid-configuration"
    client = browser()
    response = client.get(start_url(tool_server.url, config_url, token), timeout=30)
    assert response.status_code == 400
    assert "not on the host" in response.text
    posted = client.post(
        f"{tool_server.url}/lti/register",
        data={"openid_configuration": config_url, "registration_token": token},
        timeout=30,
    )
    assert posted.status_code == 400
    assert platform.registrations == {}
    assert token in platform.registration_tokens  # never spent
    assert platforms(app) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"issuer": None}, "does not name its issuer"),
        ({"issuer": "https://lms.example.org"}, "not on the host"),
        ({"token_endpoint": "http://lms.example.org/token"}, "token_endpoint"),
        ({"jwks_uri": None}, "jwks_uri"),
        ({"registration_endpoint": "/register"}, "registration_endpoint"),
        ({"authorization_endpoint": 42}, "authorization_endpoint"),
        ({"id_token_signing_alg_values_supported": ["HS256"]}, "RS256"),
        ({"token_endpoint_auth_methods_supported": ["client_secret_basic"]}, "private_key_jwt"),
        ({PLATFORM_CONFIGURATION: None}, "not an LTI platform configuration"),
        ({"issuer": "ftp://127.0.0.1/lms"}, "not an absolute https URL"),
        ({"issuer": " http://127.0.0.1/lms"}, "does not name its issuer"),
        ({"issuer": "http://127.0.0.1/" + "x" * 300}, "longer than Bottega can store"),
        ({"scopes_supported": "openid"}, "scopes_supported"),
        ({"authorization_server": 7}, "authorization_server"),
    ],
)
def test_configurations_bottega_refuses(
    app: Flask,
    tool_server: RunningServer,
    scripted: ScriptedLms,
    changes: dict[str, Any],
    expected: str,
) -> None:
    scripted.config_changes = changes
    response = browser().get(start_url(tool_server.url, scripted.config_url, "t"), timeout=30)
    assert response.status_code == 400, response.text[:500]
    assert expected in response.text
    assert scripted.received == []


@pytest.mark.parametrize(
    ("raw", "status", "expected"),
    [
        ("<html>not json</html>", 200, "is not JSON"),
        ('["a", "list"]', 200, "not a JSON object"),
        ("{}", 404, "HTTP 404"),
        ("{}", 500, "HTTP 500"),
        ("[" * 100_000 + "]" * 100_000, 200, "is not JSON"),
        ("x" * 600_000, 200, "too large"),
    ],
)
def test_a_configuration_that_is_not_a_json_object_is_refused(
    app: Flask,
    tool_server: RunningServer,
    scripted: ScriptedLms,
    raw: str,
    status: int,
    expected: str,
) -> None:
    scripted.config_raw, scripted.config_status = raw, status
    response = browser().get(start_url(tool_server.url, scripted.config_url, "t"), timeout=30)
    assert response.status_code == 400
    assert expected in response.text


def test_a_slow_configuration_times_out(app: Flask, scripted: ScriptedLms) -> None:
    with pytest.raises(RegistrationFlowError) as info:
        fetch_configuration(scripted.url + "/slow", None, timeout=(1.0, 0.3))
    with app.test_request_context():
        assert "did not answer in time" in info.value.text()
    assert info.value.status == 400


def test_only_scopes_the_platform_offers_are_requested(
    app: Flask, tool_server: RunningServer, scripted: ScriptedLms
) -> None:
    scripted.config_changes = {"scopes_supported": ["openid", NRPS]}
    response = register(browser(), start_url(tool_server.url, scripted.config_url, "t"))
    assert response.status_code == 200, response.text[:500]
    assert scripted.received[0]["scope"] == NRPS


# -- the registration endpoint's answers --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "answer", "code", "expected"),
    [
        (401, {"error": "invalid_token"}, 403, "registration token"),
        (400, {"error": "invalid_client_metadata"}, 400, "HTTP 400: invalid_client_metadata"),
        (500, {"error": "boom"}, 400, "HTTP 500"),
        (200, {"no": "client id"}, 422, "did not give Bottega a client id"),
        (200, {"client_id": "c1"}, 422, "not an LTI tool configuration"),
        (200, ["not", "an", "object"], 422, "not a JSON object"),
        (200, {"client_id": "c" * 300, TOOL_CONFIGURATION: {}}, 422, "client id"),
        (
            200,
            {"client_id": "c1", TOOL_CONFIGURATION: {"deployment_id": ["1"]}},
            422,
            "deployment id Bottega cannot read",
        ),
    ],
)
def test_registration_endpoint_failures_are_explained(
    app: Flask,
    tool_server: RunningServer,
    scripted: ScriptedLms,
    status: int,
    answer: Any,
    code: int,
    expected: str,
) -> None:
    scripted.register_status, scripted.register_answer = status, answer
    response = register(browser(), start_url(tool_server.url, scripted.config_url, "t"))
    assert response.status_code == code, response.text[:500]
    assert expected in response.text
    assert "Traceback" not in response.text
    assert platforms(app) == []


def test_reregistering_a_known_client_adds_the_deployment(
    app: Flask, tool_server: RunningServer, scripted: ScriptedLms
) -> None:
    with app.app_context():
        add_platform(
            db.session(),
            PlatformInput(
                issuer=scripted.url,
                client_id="fixed-client",
                auth_login_url=scripted.url + "/auth",
                auth_token_url=scripted.url + "/token",
                key_set_url=scripted.url + "/jwks",
                deployment_ids=("1",),
                name="Our Moodle",
            ),
        )
    scripted.deployment_id = 2  # a number: read as the text "2"
    response = register(browser(), start_url(tool_server.url, scripted.config_url, "t"))
    assert response.status_code == 200, response.text[:500]
    assert "already knew this registration" in response.text
    (row,) = platforms(app)
    assert [d.deployment_id for d in row.deployments] == ["1", "2"]
    assert row.name == "Our Moodle"

    # The same answer again changes nothing.
    assert register(browser(), start_url(tool_server.url, scripted.config_url, "t")).ok
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PlatformRow)) == 1
    (row,) = platforms(app)
    assert [d.deployment_id for d in row.deployments] == ["1", "2"]


def test_an_answer_without_deployment_registers_the_platform_alone(
    app: Flask, tool_server: RunningServer, scripted: ScriptedLms
) -> None:
    scripted.deployment_id = None
    scripted.config_changes = {
        "authorization_server": scripted.url + "/token",
        PLATFORM_CONFIGURATION: {"product_family_code": "canvas", "version": "x"},
    }
    response = register(browser(), start_url(tool_server.url, scripted.config_url, None))
    assert response.status_code == 200, response.text[:500]
    assert "did not say which deployment" in response.text
    # What to run, with this registration's values (escaped as any page text).
    assert (
        f"platform add-deployment --issuer {scripted.url} --client-id fixed-client" in response.text
    )
    assert "Manage tools" not in response.text  # Moodle's advice only for Moodle
    (row,) = platforms(app)
    assert row.client_id == "fixed-client"
    assert row.deployments == []
    assert row.auth_audience == scripted.url + "/token"
    assert row.name.startswith("Canvas (")


def test_the_pages_speak_italian(app: Flask, tool_server: RunningServer) -> None:
    client = browser()
    client.headers["Accept-Language"] = "it"
    response = client.get(f"{tool_server.url}/lti/register", timeout=10)
    assert response.status_code == 400
    assert '<html lang="it">' in response.text
    assert "Non è stato possibile registrare Bottega" in response.text


def test_a_redirecting_configuration_is_refused(
    app: Flask, tool_server: RunningServer, scripted: ScriptedLms
) -> None:
    scripted.config_redirect = "http://127.0.0.1:9/elsewhere"
    response = browser().get(start_url(tool_server.url, scripted.config_url, "t"), timeout=30)
    assert response.status_code == 400
    assert "redirect" in response.text


def test_an_issuer_with_a_query_is_refused(
    app: Flask, tool_server: RunningServer, scripted: ScriptedLms
) -> None:
    scripted.config_changes = {"issuer": scripted.url + "/?tenant=1"}
    response = browser().get(start_url(tool_server.url, scripted.config_url, "t"), timeout=30)
    assert response.status_code == 400
    assert "query or fragment" in response.text


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "0.0.0.0", "2130706433", "10.0.0.5", "192.168.1.20", "169.254.169.254", "[::1]"],  # noqa: S104
)
def test_local_and_private_lms_addresses_are_refused_in_production(host: str) -> None:
    """Anyone may open the registration URL: in production it must not make Bottega probe this
    server or another machine of its network, however the address is written."""
    with pytest.raises(RegistrationFlowError):
        check_start(f"https://{host}/.well-known/openid-configuration", None, allow_loopback=False)
    config = f"https://93.184.215.14/.well-known/openid-configuration?for={host}"
    assert check_start(config, None, allow_loopback=False)[0] == config  # a public address


def test_loopback_lms_addresses_are_refused_when_not_allowed(app: Flask) -> None:
    config_url = "https://127.0.0.1/.well-known/openid-configuration"
    with pytest.raises(RegistrationFlowError):
        check_start(config_url, None, allow_loopback=False)
    assert check_start(config_url, " tok ", allow_loopback=True) == (config_url, "tok")
    config = {
        "issuer": "https://lms.example.org",
        "authorization_endpoint": "https://lms.example.org/auth",
        "token_endpoint": "https://localhost/token",
        "jwks_uri": "https://lms.example.org/jwks",
        "registration_endpoint": "https://lms.example.org/register",
        PLATFORM_CONFIGURATION: {"product_family_code": "moodle"},
    }
    url = "https://lms.example.org/.well-known/openid-configuration"
    with pytest.raises(RegistrationFlowError) as info:
        validate_configuration(url, config, allow_loopback=False)
    with app.test_request_context():
        assert "token_endpoint" in info.value.text()
    assert validate_configuration(url, config).token_endpoint == "https://localhost/token"


# -- the registration policy (DYNAMIC_REGISTRATION) --------------------------------------------


def test_with_approval_a_new_lms_waits_for_bottegas_administrator(
    app: Flask, tool_server: RunningServer, moodle: RunningServer
) -> None:
    app.config["DYNAMIC_REGISTRATION"] = "approval"
    platform = moodle.platform
    tool = tool_server.url
    done = register(browser(), platform.registration_start_url(f"{tool}/lti/register"))
    assert done.status_code == 200, done.text[:800]
    assert "launches are refused until the registration is approved" in done.text
    ((client_id, _),) = platform.registrations.items()
    platform.activate(client_id)  # the LMS side is ready; Bottega's is not
    (row,) = platforms(app)
    assert row.status == PlatformStatus.PENDING

    lms = Lms(server=moodle, tool_url=tool)
    launch = {
        "deployment_id": "1",
        "user": {"sub": "student-1"},
        "roles": [LEARNER],
        "context": {"id": "course-101"},
    }
    client = browser()
    refused = client.get(platform.prepare_launch(client_id, **launch).login_url, timeout=10)
    assert refused.status_code == 403
    assert "waiting for the approval of this Bottega server" in refused.text

    cli = app.test_cli_runner().invoke(
        args=["platform", "approve", "--issuer", platform.issuer, "--client-id", client_id]
    )
    assert cli.exit_code == 0, cli.output
    assert "is now active" in cli.output
    (row,) = platforms(app)
    assert row.status == PlatformStatus.ACTIVE
    action, fields = lms.id_token_post(client, platform.prepare_launch(client_id, **launch))
    result = post_launch(client, action, fields)
    assert result.ok, result.launch_response.text[:500]

    cli = app.test_cli_runner().invoke(args=["platform", "disable", "--issuer", platform.issuer])
    assert cli.exit_code == 0 and "disabled" in cli.output
    again = browser().get(platform.prepare_launch(client_id, **launch).login_url, timeout=10)
    assert again.status_code == 403 and "are disabled in Bottega" in again.text


def test_with_dynamic_registration_off_nothing_reaches_the_lms(
    app: Flask, tool_server: RunningServer, moodle: RunningServer
) -> None:
    app.config["DYNAMIC_REGISTRATION"] = "off"
    platform = moodle.platform
    client = browser()
    client.headers["Accept-Language"] = "it"
    start = platform.registration_start_url(f"{tool_server.url}/lti/register")
    page = client.get(start, timeout=10)
    assert page.status_code == 403
    assert "La registrazione dinamica è disattivata" in page.text
    assert f"{tool_server.url}/lti/config" in page.text
    posted = client.post(
        f"{tool_server.url}/lti/register",
        data={"openid_configuration": platform.openid_configuration_url},
        timeout=10,
    )
    assert posted.status_code == 403
    assert platform.registrations == {} and platforms(app) == []


def test_an_unknown_registration_policy_stops_the_start(tmp_path: Any) -> None:
    from lti_tool.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="DYNAMIC_REGISTRATION must be one of"):
        load_settings({"INSTANCE_PATH": str(tmp_path), "DYNAMIC_REGISTRATION": "maybe"})


def test_a_refusal_is_logged_in_english_whatever_the_page_language(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, an Italian browser's refusal was logged in Italian among English lines."""
    caplog.set_level(logging.INFO, logger="lti_tool")
    too_long = "https://lms.example.org/" + "x" * 3000
    response = client.get(
        "/lti/register",
        query_string={"openid_configuration": too_long, "registration_token": "t"},
        headers={"Accept-Language": "it"},
    )
    assert response.status_code == 400
    assert "troppo lungo" in response.get_data(as_text=True)
    [refused] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused == "LTI request refused (400): The openid_configuration address is too long."
