"""Request ids, the log context, log formats, redaction and /metrics, through the app."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from lti_tool import create_app
from lti_tool.extensions import db
from lti_tool.jobs import JobContext, enqueue, handler, run_one
from lti_tool.jobs.runtime import runtime_of
from lti_tool.telemetry import context
from lti_tool.telemetry.logs import (
    ACCESS_LOG_FORMAT,
    HANDLER_NAME,
    JsonFormatter,
    RedactFilter,
    TextFormatter,
    redact,
)

from ..conftest import base_config

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdHVkZW50LTEifQ.c2lnbmF0dXJlLWJ5dGVz"


@handler("test.obs.log")
def _logging_job(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    logging.getLogger("some.library").warning("job line")
    context.set_tenant(payload["platform_id"], payload["course_id"])
    logging.getLogger("lti_tool.sync").warning("after the tenant is known")


@pytest.fixture
def json_app(database_url: str, tmp_path: Path, keys_dir: Path) -> Iterator[Flask]:
    app = create_app(base_config(tmp_path, keys_dir, DATABASE_URL=database_url, LOG_FORMAT="json"))

    @app.get("/test/log")
    def _log() -> str:
        logging.getLogger("some.library").warning("a library speaks (%s)", "args")
        return "ok"

    @app.get("/test/tenant")
    def _tenant() -> str:
        context.set_tenant(3, 17)
        logging.getLogger("lti_tool.test").info("tenant known")
        return "ok"

    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


# -- request ids -------------------------------------------------------------------------------


def test_each_response_carries_a_new_request_id(json_app: Flask) -> None:
    client = json_app.test_client()
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 16 and first != second


def test_a_plain_incoming_request_id_is_kept(json_app: Flask) -> None:
    response = json_app.test_client().get("/healthz", headers={"X-Request-ID": "lb-42.a:b_c-d"})
    assert response.headers["X-Request-ID"] == "lb-42.a:b_c-d"


@pytest.mark.parametrize(
    "given",
    [JWT, "giulia@example.org", "has space", "x" * 65, "<script>", "token=abc123456", "-lead"],
)
def test_an_odd_incoming_request_id_is_replaced(json_app: Flask, given: str) -> None:
    response = json_app.test_client().get("/healthz", headers={"X-Request-ID": given})
    kept = response.headers["X-Request-ID"]
    assert kept != given and len(kept) == 16


def test_every_line_of_a_request_has_its_id_even_a_librarys(
    json_app: Flask, capfd: pytest.CaptureFixture[str]
) -> None:
    response = json_app.test_client().get("/test/log", headers={"X-Request-ID": "req-1"})
    assert response.status_code == 200
    [line] = [r for r in _lines(capfd.readouterr().err) if r["logger"] == "some.library"]
    assert line["request_id"] == "req-1"
    assert line["message"] == "a library speaks (args)"
    assert line["level"] == "WARNING" and line["time"].endswith("Z")


def test_lines_after_the_tenant_is_known_name_it(
    json_app: Flask, capfd: pytest.CaptureFixture[str]
) -> None:
    json_app.test_client().get("/test/tenant", headers={"X-Request-ID": "req-2"})
    [line] = [r for r in _lines(capfd.readouterr().err) if r["logger"] == "lti_tool.test"]
    assert (line["request_id"], line["platform_id"], line["course_id"], line["tenant"]) == (
        "req-2",
        3,
        17,
        "p3/c17",
    )


def test_a_new_request_forgets_the_previous_tenant(
    json_app: Flask, capfd: pytest.CaptureFixture[str]
) -> None:
    client = json_app.test_client()
    client.get("/test/tenant")
    client.get("/test/log", headers={"X-Request-ID": "req-3"})
    [line] = [r for r in _lines(capfd.readouterr().err) if r["logger"] == "some.library"]
    assert line["request_id"] == "req-3" and "tenant" not in line


def test_job_lines_carry_the_job_and_its_tenant(
    json_app: Flask, capfd: pytest.CaptureFixture[str]
) -> None:
    runtime = runtime_of(json_app)
    with json_app.app_context():
        session = runtime.session_factory()
        job_id = enqueue(session, "test.obs.log", {"platform_id": 5, "course_id": 9})
        session.commit()
        session.close()
        outcome = run_one(runtime.session_factory, "w-1", job_id)
    assert outcome is not None and outcome.status == "done"
    lines = [r for r in _lines(capfd.readouterr().err) if r.get("job_id") == job_id]
    first, second = lines[0], lines[1]
    # The payload's course_id names the course at once; the handler adds the registration.
    assert first["job_kind"] == "test.obs.log" and first["tenant"] == "p?/c9"
    assert second["tenant"] == "p5/c9" and second["job_kind"] == "test.obs.log"


# -- formats -----------------------------------------------------------------------------------


def _record(message: str, *args: Any, name: str = "x", exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"refused {JWT}")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, args, exc_info)


def test_text_lines_are_readable_with_their_context() -> None:
    context.start_request("rid-7")
    context.set_tenant(2, None)
    try:
        line = TextFormatter().format(_record("hello %s", "world"))
    finally:
        context.start_request("")
    assert line.endswith(" WARNING x [rid=rid-7 p2] hello world")


def test_json_lines_hold_the_exception_redacted() -> None:
    record = _record("failed", exc=True)
    RedactFilter().filter(record)
    data = json.loads(JsonFormatter().format(record))
    assert "ValueError: refused [jwt]" in data["exception"]
    assert JWT not in json.dumps(data)


def test_gunicorn_access_lines_take_the_apps_request_id_and_tenant() -> None:
    atoms = {
        "h": "127.0.0.1",
        "r": "GET /lti/register?openid_configuration=x&registration_token=s3cr3t-t0ken HTTP/1.1",
        "s": "200",
        "b": "10",
        "M": "3",
        "{bottega.request_id}e": "abc123",
        "{bottega.tenant}e": "p1/c2",
    }
    record = _record(ACCESS_LOG_FORMAT, atoms, name="gunicorn.access")
    record.args = atoms  # as gunicorn passes them: one mapping
    RedactFilter().filter(record)
    data = json.loads(JsonFormatter().format(record))
    assert data["request_id"] == "abc123" and data["tenant"] == "p1/c2"
    assert "registration_token=[redacted]" in data["message"]
    assert "s3cr3t" not in data["message"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"id_token={JWT}&state=1", "id_token=[redacted]&state=1"),
        (f"got {JWT}.", "got [jwt]."),
        ("Authorization: Bearer abcdef123456", "Authorization: Bearer [redacted]"),
        ('{"access_token": "tok-123456", "x": 1}', '{"access_token": "[redacted]", "x": 1}'),
        ("'client_assertion': 'abc.def'", "'client_assertion': '[redacted]'"),
        (
            "GET /r?registration_token=Zm9v-YmFy HTTP/1.1",
            "GET /r?registration_token=[redacted] HTTP/1.1",
        ),
        ("mail giulia.rossi@example.org now", "mail [email] now"),
        ("job 42 of course 7 done", "job 42 of course 7 done"),
        ("basic settings of the bearer bond", "basic settings of the bearer bond"),
    ],
)
def test_redaction(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "hostile",
    ["a" * 1_000_000, "eyJ" * 300_000, "a." * 500_000, "a@b." * 250_000, "x@" * 500_000],
)
def test_redaction_reads_a_hostile_line_once(hostile: str) -> None:
    """A refused launch logs what it was sent: a megabyte of letters must not make the log
    filter backtrack over it (it took 2 s for 20 kB, hours for a megabyte). Run apart with a
    minute's bound, so that a regression fails instead of hanging the suite."""
    script = "import sys; from lti_tool.telemetry.logs import redact; redact(sys.stdin.read())"
    done = subprocess.run(
        [sys.executable, "-c", script], input=hostile, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert redact(f"{hostile[:40]} giulia.rossi@example.org") == f"{hostile[:40]} [email]"


def test_the_handler_is_installed_once_per_process(json_app: Flask, tmp_path: Path) -> None:
    create_app(base_config(tmp_path, json_app.extensions["bottega_settings"].keys_dir))
    ours = [h for h in logging.getLogger().handlers if h.name == HANDLER_NAME]
    assert len(ours) == 1 and isinstance(ours[0].formatter, TextFormatter)
