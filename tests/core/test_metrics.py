"""Prometheus metrics in one process: requests by endpoint, LMS call errors by service and
status over real HTTP, the job queue's state, and who may read /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from lti_tool import create_app
from lti_tool.config import ServiceSettings
from lti_tool.courses.models import PlatformStatus
from lti_tool.demo.platform import RunningServer, serve_in_thread
from lti_tool.extensions import db
from lti_tool.lti.errors import LaunchError
from lti_tool.lti.jwks import PlatformKeys
from lti_tool.lti.registry import PlatformInfo
from lti_tool.lti.services import ServiceError, ServiceHttp

from ..conftest import base_config

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
TOKEN = "metrics-token-0123456789"


def samples(client: FlaskClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text[:300]
    assert response.mimetype == "text/plain"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def requests_of(found: Samples, endpoint: str, status: str, method: str = "GET") -> float:
    key = (
        "bottega_http_requests_total",
        (("endpoint", endpoint), ("method", method), ("status", status)),
    )
    return found.get(key, 0.0)


def lms_errors(found: Samples, service: str, status: str) -> float:
    key = ("bottega_lms_call_errors_total", (("service", service), ("status", status)))
    return found.get(key, 0.0)


def test_requests_are_counted_by_endpoint_not_path(client: FlaskClient) -> None:
    before = samples(client)
    client.get("/healthz")
    client.get("/healthz?x=1")
    client.get("/no/such/page/42")
    client.get("/w/some-launch-id/")  # a page with an id in its path: one endpoint, 4xx
    after = samples(client)
    assert (
        requests_of(after, "core.healthz", "200") - requests_of(before, "core.healthz", "200") == 2
    )
    assert requests_of(after, "unmatched", "404") - requests_of(before, "unmatched", "404") == 1
    assert not [k for k in after if "some-launch-id" in str(k) or "/no/such" in str(k)]
    histogram = (
        "bottega_http_request_duration_seconds_count",
        (("endpoint", "core.healthz"), ("method", "GET")),
    )
    assert after[histogram] >= 2


def test_metrics_show_the_job_queue(app: Flask, client: FlaskClient) -> None:
    found = samples(client)
    for state in ("queued", "due", "running", "dead"):
        assert found[("bottega_jobs", (("state", state),))] == 0
    assert found[("bottega_jobs_oldest_due_age_seconds", ())] == 0


# -- who may read /metrics ---------------------------------------------------------------------


def test_metrics_without_a_token_answer_loopback_only(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    # Through a reverse proxy on this machine the address is loopback, but not the client.
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
    assert "not have permission" in proxied.text  # the usual translated error page


@pytest.fixture
def token_client(database_url: str, tmp_path: Path, keys_dir: Path) -> Iterator[FlaskClient]:
    app = create_app(
        base_config(tmp_path, keys_dir, DATABASE_URL=database_url, METRICS_TOKEN=TOKEN)
    )
    yield app.test_client()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_metrics_with_a_token_want_it_from_everyone(token_client: FlaskClient) -> None:
    assert token_client.get("/metrics").status_code == 401  # even from loopback
    wrong = token_client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    remote = token_client.get(
        "/metrics",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert remote.status_code == 200 and "bottega_jobs" in remote.text


# -- LMS call errors over real HTTP --------------------------------------------------------------


@pytest.fixture
def failing_lms() -> Iterator[RunningServer]:
    """An LMS whose services fail: 503 for scores, 400 for tokens, 500 and garbage for keys."""
    lms = Flask("failing_lms")

    @lms.post("/scores")
    def scores() -> tuple[str, int]:
        return "busy", 503

    @lms.post("/token")
    def token() -> tuple[dict[str, str], int]:
        return {"error": "invalid_client"}, 400

    @lms.get("/jwks")
    def jwks() -> tuple[str, int]:
        return "oops", 500

    @lms.get("/jwks-garbage")
    def jwks_garbage() -> str:
        return "<html>not a key set</html>"

    with serve_in_thread(lms) as server:
        yield server


def test_lms_errors_are_counted_by_service_and_status(
    app: Flask, client: FlaskClient, failing_lms: RunningServer
) -> None:
    before = samples(client)
    http = ServiceHttp(ServiceSettings(retries=1, max_wait=1.0), sleep=lambda s: None)
    with http, pytest.raises(ServiceError):
        http.request("POST", f"{failing_lms.url}/scores", data=b"{}", service="ags")
    with http:
        answer = http.request("POST", f"{failing_lms.url}/token", data={}, service="token")
        assert answer.status_code == 400
        answer.close()
    with http, pytest.raises(ServiceError):
        http.request("GET", "http://127.0.0.1:1/members", service="nrps")

    keys = PlatformKeys()
    for path in ("/jwks", "/jwks-garbage"):
        platform = PlatformInfo(
            id=4242 + len(path),
            issuer=failing_lms.url,
            client_id="c",
            auth_login_url=f"{failing_lms.url}/auth",
            auth_token_url=f"{failing_lms.url}/token",
            key_set_url=failing_lms.url + path,
            auth_audience=None,
            status=PlatformStatus.ACTIVE,
        )
        with app.app_context(), pytest.raises(LaunchError):
            keys.key_for(db.session(), platform, "kid-1")
    after = samples(client)
    assert lms_errors(after, "ags", "503") - lms_errors(before, "ags", "503") == 2  # one retry
    assert lms_errors(after, "token", "400") - lms_errors(before, "token", "400") == 1
    assert lms_errors(after, "nrps", "unreachable") - lms_errors(before, "nrps", "unreachable") == 2
    assert lms_errors(after, "jwks", "500") - lms_errors(before, "jwks", "500") == 1
    assert (
        lms_errors(after, "jwks", "bad_response") - lms_errors(before, "jwks", "bad_response") == 1
    )


def test_the_metrics_endpoint_is_plain_http_too(app: Flask) -> None:
    with serve_in_thread(app) as server:
        response = requests.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store"
