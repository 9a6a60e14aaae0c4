"""The embedded worker thread: off for CLI commands and tests, on at the first request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from lti_tool import create_app
from lti_tool.config import ConfigError, load_settings
from lti_tool.extensions import db
from lti_tool.jobs import enqueue
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.runtime import runtime_of

from ..conftest import base_config
from . import handlers


def test_tests_and_redis_turn_the_thread_off_by_default(tmp_path: Path) -> None:
    assert load_settings({"INSTANCE_PATH": str(tmp_path)}).jobs.in_process is True
    test = load_settings({"INSTANCE_PATH": str(tmp_path), "BOTTEGA_ENV": "test"})
    assert test.jobs.in_process is False
    redis = load_settings({"INSTANCE_PATH": str(tmp_path), "REDIS_URL": "redis://x:6379/0"})
    assert redis.jobs.in_process is False
    forced = load_settings(
        {"INSTANCE_PATH": str(tmp_path), "REDIS_URL": "redis://x:6379/0", "JOBS_IN_PROCESS": "1"}
    )
    assert forced.jobs.in_process is True


def test_bad_job_and_roster_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JOBS_LEASE must be a number"):
        load_settings({"INSTANCE_PATH": str(tmp_path), "JOBS_LEASE": "soon"})
    with pytest.raises(ConfigError, match="HTTP_READ_TIMEOUT must be at least"):
        load_settings({"INSTANCE_PATH": str(tmp_path), "HTTP_READ_TIMEOUT": "0"})
    settings = load_settings(
        {"INSTANCE_PATH": str(tmp_path), "LTI_SERVICE_HOSTS": " *.Instructure.com, lms.x ,"}
    )
    assert settings.services.extra_hosts == ("*.instructure.com", "lms.x")


@pytest.mark.parametrize(
    "settings_overrides",
    [{"JOBS_IN_PROCESS": "1", "JOBS_POLL_INTERVAL": "60", "JOBS_SWEEP_INTERVAL": "60"}],
)
def test_the_thread_starts_on_the_first_request_not_for_cli_commands(app: Flask) -> None:
    runtime = runtime_of(app)
    try:
        result = app.test_cli_runner().invoke(args=["jobs", "list"])
        assert result.exit_code == 0
        assert not runtime.running  # CLI commands (db upgrade, ...) never start it
        with app.app_context():
            job_id = enqueue(db.session(), "test.record", {"n": 1})
            db.session.commit()
        assert app.test_client().get("/healthz").status_code == 200
        assert runtime.running
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not handlers.runs():
            time.sleep(0.02)
        assert [r[0] for r in handlers.runs()] == [job_id]
        with app.app_context():  # the wake-up after commit, not the poll interval
            started = time.monotonic()
            enqueue(db.session(), "test.record", {"n": 2})
            db.session.commit()
        while time.monotonic() - started < 5 and len(handlers.runs()) < 2:
            time.sleep(0.01)
        assert len(handlers.runs()) == 2  # woken by the commit: the next poll is 60 s away
    finally:
        runtime.stop()
    assert not runtime.running
    with app.app_context():
        assert set(db.session.scalars(select(Job.status))) == {JobStatus.DONE}


def test_a_plain_test_app_never_starts_it(tmp_path: Path, keys_dir: Path) -> None:
    app = create_app(base_config(tmp_path, keys_dir, DATABASE_URL="sqlite://"))
    app.test_client().get("/healthz")
    assert not runtime_of(app).running
