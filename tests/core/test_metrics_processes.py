"""Metrics from several real processes add up: two gunicorn servers and a job worker share
PROMETHEUS_MULTIPROC_DIR, and any server's /metrics shows the sum. Gunicorn's own lines go
through Bottega's log handler (JSON, redacted, with the app's request id)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from lti_tool.config import PROJECT_ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent

GUNICORN_CONF = """
from lti_tool.telemetry.logs import ACCESS_LOG_FORMAT, gunicorn_logconfig_dict

logconfig_dict = gunicorn_logconfig_dict("json")
access_log_format = ACCESS_LOG_FORMAT
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def env(tmp_path: Path, keys_dir: Path, sqlite_template: Path) -> dict[str, str]:
    database = tmp_path / "bottega.sqlite3"
    shutil.copy(sqlite_template, database)
    folder = tmp_path / "prometheus"
    folder.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "PROMETHEUS"))}
    clean.pop("REDIS_URL", None)
    return {
        **clean,
        "BOTTEGA_ENV": "development",
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": f"sqlite:///{database}",
        "KEYS_DIR": str(keys_dir),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "JOBS_IN_PROCESS": "0",
        "JOBS_BACKOFF_BASE": "600",  # a failed job waits: it is queued, not due, when scraped
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }


@contextmanager
def gunicorn(env: dict[str, str], conf: Path, workers: int = 1) -> Iterator[tuple[str, Path]]:
    """A gunicorn server on a free loopback port; yields its URL and its stderr file."""
    port = _free_port()
    log = conf.parent / f"gunicorn-{port}.log"
    command = [str(BIN / "gunicorn"), "-c", str(conf), "-w", str(workers), "--timeout", "120"]
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [*command, "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=30)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text()[-3000:]) from None
                time.sleep(0.2)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"{url}/metrics", timeout=60)
    assert response.status_code == 200, response.text[:500]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _healthz_count(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    key = (
        "bottega_http_requests_total",
        (("endpoint", "core.healthz"), ("method", "GET"), ("status", "200")),
    )
    return samples.get(key, 0.0)


def test_two_servers_and_a_job_worker_report_one_sum(env: dict[str, str], tmp_path: Path) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(GUNICORN_CONF)
    with gunicorn(env, conf) as (first, _), gunicorn(env, conf, workers=2) as (second, _):
        for _ in range(3):
            assert requests.get(f"{first}/healthz", timeout=60).status_code == 200
        for _ in range(4):
            assert requests.get(f"{second}/healthz", timeout=60).status_code == 200
        # A job that fails (its course does not exist), run by a separate `jobs work` process.
        enqueued = subprocess.run(
            [str(BIN / "python"), "-c", _ENQUEUE_MISSING_COURSE],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert enqueued.returncode == 0, enqueued.stderr[-2000:]
        worked = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "jobs", "work", "--burst"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worked.returncode == 0, worked.stderr[-2000:]

        seen_by_first = _samples(first)
        seen_by_second = _samples(second)
    # The two waits for start-up hit /healthz too: one each at least.
    assert _healthz_count(seen_by_first) >= 3 + 4 + 2
    assert _healthz_count(seen_by_first) == _healthz_count(seen_by_second)
    failures = ("bottega_job_failures_total", (("kind", "roster.sync"),))
    assert seen_by_first[failures] == seen_by_second[failures] == 1
    # The job waits for its retry: queued, not yet due (read from the outbox at scrape time).
    assert seen_by_first[("bottega_jobs", (("state", "queued"),))] == 1
    assert seen_by_first[("bottega_jobs", (("state", "due"),))] == 0
    # Each process that counted something wrote its own file: the first server's worker, the
    # second's (one or both, as the requests fell) and the job worker.
    assert len(list(Path(env["PROMETHEUS_MULTIPROC_DIR"]).glob("counter_*.db"))) >= 3


_ENQUEUE_MISSING_COURSE = """
from wsgi import app
from lti_tool.extensions import db
from lti_tool.jobs import enqueue
with app.app_context():
    enqueue(db.session(), "roster.sync", {"course_id": 999999}, key="roster.sync:999999")
    db.session.commit()
"""


def test_gunicorn_access_lines_are_json_redacted_with_the_request_id(
    env: dict[str, str], tmp_path: Path
) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(GUNICORN_CONF)
    secret = "s3cr3t-registration-t0ken"
    with gunicorn(env, conf) as (url, log):
        response = requests.get(
            f"{url}/lti/register",
            params={"openid_configuration": "http://127.0.0.1:1/x", "registration_token": secret},
            headers={"X-Request-ID": "from-the-proxy-1"},
            timeout=60,
        )
        assert response.headers["X-Request-ID"] == "from-the-proxy-1"
        time.sleep(0.5)  # the access line is written after the response
    text = log.read_text()
    assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(lines) == len([x for x in text.splitlines() if x.strip()])  # every line is JSON
    [access] = [
        r for r in lines if r["logger"] == "gunicorn.access" and "/lti/register" in r["message"]
    ]
    assert access["request_id"] == "from-the-proxy-1"
    assert "registration_token=[redacted]" in access["message"]
