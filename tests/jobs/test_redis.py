"""With REDIS_URL, RQ carries wake-ups and tokens live in Redis; the database stays the truth.

Runs when Redis answers on 127.0.0.1:6379 (database 15, a queue of its own per test);
skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lti_tool.config import PROJECT_ROOT
from lti_tool.extensions import db
from lti_tool.jobs import enqueue
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.runtime import runtime_of
from lti_tool.lti.service_token import RedisTokenCache, TokenKey
from lti_tool.sync.roster import RosterSync

from ..conftest import _port_answers
from ..lti_harness import Lms
from ..sync.conftest import launch_course, member
from .test_processes import FLASK, worker_env

REDIS_URL = "redis://127.0.0.1:6379/15"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not _port_answers("127.0.0.1", 6379), reason="Redis does not answer on 127.0.0.1:6379"
    ),
]


@pytest.fixture
def queue_name() -> str:
    return f"bottega-test-{secrets.token_hex(4)}"


@pytest.fixture
def settings_overrides(queue_name: str) -> dict[str, Any]:
    return {"REDIS_URL": REDIS_URL, "JOBS_QUEUE": queue_name, "JOBS_SWEEP_INTERVAL": "0.2"}


@pytest.fixture
def redis_queue(app: Flask) -> Iterator[Any]:
    channel = runtime_of(app).channel
    assert channel is not None
    yield channel.queue
    channel.queue.delete(delete_jobs=True)


def test_committed_jobs_are_announced_on_the_rq_queue(app: Flask, redis_queue: Any) -> None:
    with app.app_context():
        job_id = enqueue(db.session(), "test.record", {"n": 1})
        assert redis_queue.count == 0  # not before the commit
        db.session.commit()
    assert redis_queue.count == 1
    [message] = redis_queue.get_jobs()
    assert message.func_name == "lti_tool.jobs.runtime.perform" and message.args == (job_id,)


def test_a_redis_worker_syncs_and_a_flushed_queue_loses_nothing(
    lms: Lms, app: Flask, tmp_path: Path, keys_dir: Path, queue_name: str, redis_queue: Any
) -> None:
    course = launch_course(lms, app)
    course.set_roster([member(i) for i in range(150)])
    assert redis_queue.count == 1  # the launch's background sync was announced
    redis_queue.empty()  # Redis flushed: the announcement is gone, the outbox row is not
    env = worker_env(
        app,
        tmp_path,
        keys_dir,
        REDIS_URL=REDIS_URL,
        JOBS_QUEUE=queue_name,
        JOBS_SWEEP_INTERVAL="0.2",
    )
    proc = subprocess.Popen(
        [FLASK, "--app", "wsgi", "jobs", "work"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 40
        status = None
        while time.monotonic() < deadline:
            with app.app_context():
                status = db.session.scalar(select(RosterSync.status))
            if status == "done":
                break
            time.sleep(0.1)
        assert status == "done"
        # A button press while the worker runs: announced and run through RQ at once.
        with app.app_context():
            from lti_tool.sync.roster import request_sync

            job_id = request_sync(db.session(), course.course_id, trigger="button")
            db.session.commit()
        while time.monotonic() < deadline:
            with app.app_context():
                job = db.session.get(Job, job_id)
                assert job is not None
                if job.status == JobStatus.DONE:
                    break
            time.sleep(0.1)
        assert job.status == JobStatus.DONE and job.locked_by is None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-3000:]
    assert b"(Redis)" in out


def test_service_tokens_are_shared_through_redis(app: Flask) -> None:
    channel = runtime_of(app).channel
    assert channel is not None
    key = TokenKey("https://lms.example", f"client-{secrets.token_hex(3)}", "1", ("scope",))
    first, second = RedisTokenCache(channel.redis), RedisTokenCache(channel.redis)
    first.put(key, "tok", 0.5)
    assert second.get(key) == "tok"
    other = TokenKey(key.issuer, key.client_id + "-b", "1", ("scope",))
    assert second.get(other) is None
    time.sleep(0.6)
    assert second.get(key) is None  # expired with its TTL
    first.put(key, "tok2", 60)
    second.drop(key)
    assert first.get(key) is None


def test_workers_missing_the_same_token_ask_the_lms_once(app: Flask) -> None:
    """Job workers that start together on one LMS: the first claims the fetch, the others wait
    for its token instead of asking the LMS's token endpoint each."""
    import threading

    from lti_tool.lti.service_token import ServiceTokenClient

    channel = runtime_of(app).channel
    assert channel is not None
    asked: list[str] = []

    class SlowLms(ServiceTokenClient):
        def _request(self, platform: Any, scopes: Any) -> tuple[str, float]:
            asked.append(threading.current_thread().name)
            time.sleep(0.3)  # the LMS takes its time: the other workers arrive meanwhile
            return f"token-{len(asked)}", 3600.0

    platform = SimpleNamespace(
        issuer="https://lms.example",
        client_id=f"client-{secrets.token_hex(3)}",
        auth_token_url="https://lms.example/token",
        auth_audience=None,
    )
    got: list[str] = []

    def worker() -> None:
        client = SlowLms(None, None, RedisTokenCache(channel.redis))  # type: ignore[arg-type]
        got.append(client.token(platform, "1", ["scope"]))  # type: ignore[arg-type]

    threads = [threading.Thread(target=worker, name=f"w{n}") for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(asked) == 1 and got == ["token-1"] * 4


def test_without_redis_the_burst_worker_still_drains_the_outbox(
    app: Flask, redis_queue: Any
) -> None:
    with app.app_context():
        for i in range(3):
            enqueue(db.session(), "test.record", {"n": i})
        db.session.commit()
    redis_queue.empty()
    result = app.test_cli_runner().invoke(args=["jobs", "work", "--burst", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["done"] == 3
