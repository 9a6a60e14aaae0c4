"""`flask --app wsgi jobs work` as real processes: several at once, and one killed mid-job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lti_tool.config import PROJECT_ROOT
from lti_tool.extensions import db, utcnow
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.runtime import runtime_of
from lti_tool.sync.roster import RosterSync

from ..lti_harness import Lms
from ..sync.conftest import FAST, launch_course, member

pytestmark = pytest.mark.slow
FLASK = str(Path(sys.executable).parent / "flask")


def worker_env(app: Flask, tmp_path: Path, keys_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JOBS_", "ROSTER_")) and k != "REDIS_URL"
    }
    env.update(
        BOTTEGA_ENV="test",
        SECRET_KEY="test-secret",
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        KEYS_DIR=str(keys_dir),
        INSTANCE_PATH=str(tmp_path / "worker-instance"),
        **FAST,
        **extra,
    )
    return env


def slow_pages(lms: Lms, seconds: float) -> None:
    original = lms.platform.memberships

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return original(*args, **kwargs)

    lms.platform.memberships = slow


def test_several_worker_processes_run_each_job_exactly_once(
    lms: Lms, app: Flask, tmp_path: Path, keys_dir: Path
) -> None:
    courses = [launch_course(lms, app, f"course-{i}") for i in range(8)]
    for i, course in enumerate(courses):
        course.set_roster([member(j) for j in range(i * 10, i * 10 + 250)])
    slow_pages(lms, 0.02)
    env = worker_env(app, tmp_path, keys_dir)
    procs = [
        subprocess.Popen(
            [FLASK, "--app", "wsgi", "jobs", "work", "--burst", "--json", "--worker-id", f"p{n}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e[-2000:] for _, e in outputs]
    summaries = [json.loads(out) for out, _ in outputs]
    ran = [j["id"] for s in summaries for j in s["jobs"]]
    assert len(ran) == 8 and len(set(ran)) == 8
    assert sum(1 for s in summaries if s["jobs"]) >= 2  # the processes really shared the work
    with app.app_context():
        jobs = db.session.scalars(select(Job)).all()
        assert {(j.status, j.attempts) for j in jobs} == {(JobStatus.DONE, 1)}
        assert sorted(j.result["members"] for j in jobs if j.result) == [251] * 8
        assert set(db.session.scalars(select(RosterSync.status))) == {"done"}


def test_a_killed_worker_loses_nothing(
    lms: Lms, app: Flask, tmp_path: Path, keys_dir: Path
) -> None:
    course = launch_course(lms, app)
    course.set_roster([member(i) for i in range(300)])
    slow_pages(lms, 0.5)  # three pages: time enough to kill the worker mid-sync
    env = worker_env(app, tmp_path, keys_dir, JOBS_LEASE="4", JOBS_POLL_INTERVAL="0.1")
    proc = subprocess.Popen(
        [FLASK, "--app", "wsgi", "jobs", "work", "--worker-id", "doomed"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with app.app_context():
                processed = db.session.scalar(select(RosterSync.processed)) or 0
            if processed > 0:
                break
            time.sleep(0.05)
        assert processed > 0, "the worker never started the sync"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with app.app_context():
        job = db.session.scalars(select(Job)).one()
        assert job.status == JobStatus.RUNNING and job.locked_by == "doomed"
        lease_ends = job.locked_until
    assert lease_ends is not None
    runtime = runtime_of(app)
    if (lease_ends - utcnow()).total_seconds() > 0.5:
        assert runtime.drain("rescuer").done == 0  # the lease still holds: nobody steals it
    time.sleep(max(0.0, (lease_ends - utcnow()).total_seconds()) + 0.1)
    summary = runtime.drain("rescuer")
    assert summary.requeued == 1 and summary.done == 1
    with app.app_context():
        job = db.session.scalars(select(Job)).one()
        assert job.status == JobStatus.DONE and job.attempts == 2
        assert job.result is not None and job.result["members"] == 301
        assert job.result["complete"] is True


def test_jobs_work_stops_cleanly_on_sigterm(
    lms: Lms, app: Flask, tmp_path: Path, keys_dir: Path
) -> None:
    env = worker_env(app, tmp_path, keys_dir, JOBS_POLL_INTERVAL="0.1")
    proc = subprocess.Popen(
        [FLASK, "--app", "wsgi", "jobs", "work"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert b"Job worker" in proc.stdout.readline()
    course = launch_course(lms, app)
    course.set_roster([member(1)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the polling worker picks up the launch's request
        with app.app_context():
            if db.session.scalar(select(RosterSync.status)) == "done":
                break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, errors = proc.communicate(timeout=15)
    assert proc.returncode == 0, errors[-2000:]
    with app.app_context():
        assert db.session.scalar(select(RosterSync.status)) == "done"
