"""Job workers through Redis trouble and sudden death, during a real grade push.

Our own redis-server on a free port (the shared one is never flushed) carries the wake-ups and
the service tokens of real `flask jobs work` processes. Flushed mid-push, or with the worker
SIGKILLed mid-push: the outbox row and its lease bring the push to its end, and the test LMS's
score log shows every score taken exactly once.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import func, select

from lti_tool.community.engagement.models import EventKind
from lti_tool.config import PROJECT_ROOT
from lti_tool.extensions import db
from lti_tool.jobs.models import JobStatus
from lti_tool.sync.grades import GradeScore, request_push

from ..jobs.test_processes import FLASK, worker_env
from ..lti_harness import Lms
from ..sync.grades_helpers import GradedCourse, make_graded_course
from ..sync.test_sync_jobs import _job

REDIS_SERVER = shutil.which("redis-server")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed"),
]
LEARNERS = 60


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A redis-server of our own, in a temp dir, on a free port."""
    assert REDIS_SERVER is not None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="bottega-redis-")
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def settings_overrides(redis_url: str) -> dict[str, Any]:
    redis.Redis.from_url(redis_url).flushdb()  # a clean queue for each test
    return {"REDIS_URL": redis_url, "JOBS_SWEEP_INTERVAL": "0.2"}


def _worker(app: Flask, tmp_path: Path, keys_dir: Path, name: str, redis_url: str) -> Any:
    env = worker_env(
        app,
        tmp_path,
        keys_dir,
        REDIS_URL=redis_url,
        JOBS_LEASE="2",
        JOBS_SWEEP_INTERVAL="0.2",
        GRADES_CONCURRENCY="2",
    )
    return subprocess.Popen(
        [FLASK, "--app", "wsgi", "jobs", "work", "--worker-id", name],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _sent(app: Flask) -> int:
    with app.app_context():
        count = select(func.count()).select_from(GradeScore).where(GradeScore.status == "sent")
        return int(db.session.scalar(count) or 0)


def _wait(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _push(graded: GradedCourse) -> int:
    graded.platform.ags_latency = 0.1  # 2 at a time: about 3 s for the whole push
    with graded.app.app_context():
        job_id = request_push(db.session(), graded.placement_id, trigger="test")
        db.session.commit()
    return job_id


def _start_push(
    app: Flask, lms: Lms, tmp_path: Path, keys_dir: Path, name: str, redis_url: str
) -> tuple[GradedCourse, Any, int]:
    """A graded course, a worker process, and a push it has started sending."""
    graded = make_graded_course(lms, app, learners=LEARNERS)
    worker = _worker(app, tmp_path, keys_dir, name, redis_url)
    try:
        job_id = _push(graded)
        _wait(lambda: _sent(app) >= 6, "the push to start")
    except BaseException:
        _stop(worker)
        raise
    return graded, worker, job_id


def _assert_exactly_once(graded: GradedCourse) -> None:
    taken = graded.platform.scores_taken()
    assert len(taken) == LEARNERS and set(taken.values()) == {1}
    assert sorted(graded.latest()) == [f"user-{i:05d}" for i in range(LEARNERS)]
    assert {r.status for r in graded.ledger().values()} <= {"sent", "settled"}


def _stop(proc: Any) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    return str(err.decode(errors="replace"))[-3000:]


def test_redis_flushed_during_a_grade_push_loses_and_doubles_no_score(
    lms: Lms, app: Flask, tmp_path: Path, keys_dir: Path, redis_url: str
) -> None:
    graded, worker, job_id = _start_push(app, lms, tmp_path, keys_dir, "flushed", redis_url)
    try:
        redis.Redis.from_url(redis_url).flushdb()  # announcements, RQ state, cached tokens
        _wait(lambda: _job(app, job_id).status == JobStatus.DONE, "the push to finish")
        _assert_exactly_once(graded)
        # The worker lives on: a new push after the flush is announced and run through RQ.
        graded.participate("user-00001", EventKind.ANSWER)
        again = _push(graded)
        _wait(lambda: _job(app, again).status == JobStatus.DONE, "the next push")
        assert worker.poll() is None
    finally:
        err = _stop(worker)
    assert worker.returncode == 0, err
    taken = graded.platform.scores_taken()
    assert len(taken) == LEARNERS + 1 and set(taken.values()) == {1}


def test_a_worker_killed_mid_push_leaves_the_job_to_another_exactly_once(
    lms: Lms, app: Flask, tmp_path: Path, keys_dir: Path, redis_url: str
) -> None:
    graded, doomed, job_id = _start_push(app, lms, tmp_path, keys_dir, "doomed", redis_url)
    try:
        assert _job(app, job_id).locked_by == "doomed"
    finally:
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.communicate(timeout=10)
    assert len(graded.latest()) < LEARNERS  # killed mid-push
    rescuer = _worker(app, tmp_path, keys_dir, "rescuer", redis_url)
    try:
        # The lease (2 s) runs out; the rescuer's sweep queues the job again and runs it.
        _wait(lambda: _job(app, job_id).status == JobStatus.DONE, "another worker to finish")
    finally:
        err = _stop(rescuer)
    assert rescuer.returncode == 0, err
    job = _job(app, job_id)
    assert job.attempts == 2 and job.result is not None
    _assert_exactly_once(graded)
