"""GET /healthz tells a load balancer whether the database (and Redis) answer, and how the job
queue looks."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from lti_tool import create_app
from lti_tool.extensions import db, utcnow
from lti_tool.jobs.models import Job, JobStatus

from ..conftest import _port_answers, base_config


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_health_is_ok_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "redis": "not configured",
        "jobs": {"queued": 0, "due": 0, "running": 0, "dead": 0, "oldest_due_age_seconds": None},
    }


def test_health_reports_queue_depth_oldest_waiting_job_and_dead_jobs(
    app: Flask, client: FlaskClient
) -> None:
    now = utcnow()

    def job(status: JobStatus, run_after_seconds: float) -> Job:
        return Job(
            kind="test.health",
            payload={},
            status=status,
            run_after=now + timedelta(seconds=run_after_seconds),
        )

    with app.app_context():
        db.session.add_all(
            [
                job(JobStatus.QUEUED, -90),  # due for 90 s: nobody picked it up
                job(JobStatus.QUEUED, -5),
                job(JobStatus.QUEUED, 3600),  # a retry later: waiting, not due
                job(JobStatus.RUNNING, -1),
                job(JobStatus.DEAD, -7200),
                job(JobStatus.DEAD, -7200),
                job(JobStatus.DONE, -7200),
            ]
        )
        db.session.commit()
    response = client.get("/healthz")
    assert response.status_code == 200  # dead jobs are reported, not an outage
    jobs = response.json["jobs"]  # type: ignore[index]
    assert {k: v for k, v in jobs.items() if k != "oldest_due_age_seconds"} == {
        "queued": 3,
        "due": 2,
        "running": 1,
        "dead": 2,
    }
    assert 89 <= jobs["oldest_due_age_seconds"] < 150


def test_health_is_503_when_the_database_is_down(tmp_path: Path, keys_dir: Path) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    app = create_app(base_config(tmp_path, keys_dir, DATABASE_URL=url))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {
        "status": "error",
        "database": "unavailable",
        "redis": "not configured",
        "jobs": None,
    }


def test_health_is_503_when_redis_is_configured_but_down(
    database_url: str, tmp_path: Path, keys_dir: Path
) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    app = create_app(base_config(tmp_path, keys_dir, DATABASE_URL=database_url, REDIS_URL=url))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.json
    assert body is not None
    assert (body["status"], body["database"], body["redis"]) == ("error", "ok", "unavailable")
    assert isinstance(body["jobs"], dict)  # the database still answers: its state is shown


@pytest.mark.skipif(
    not _port_answers("127.0.0.1", 6379), reason="Redis does not answer on 127.0.0.1:6379"
)
def test_health_is_ok_with_a_live_redis(database_url: str, tmp_path: Path, keys_dir: Path) -> None:
    app = create_app(
        base_config(
            tmp_path, keys_dir, DATABASE_URL=database_url, REDIS_URL="redis://127.0.0.1:6379/15"
        )
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json is not None and response.json["redis"] == "ok"
