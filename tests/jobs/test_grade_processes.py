"""A grade push in a real `jobs work` process, killed mid-run: nothing lost, nothing taken twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from lti_tool.config import PROJECT_ROOT
from lti_tool.extensions import db, utcnow
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.runtime import runtime_of
from lti_tool.sync.grades import GradeScore, request_push

from ..lti_harness import Lms
from ..sync.grades_helpers import make_graded_course
from .test_processes import FLASK, worker_env

pytestmark = pytest.mark.slow


def test_a_worker_killed_mid_push_loses_nothing_and_sends_nothing_twice(
    lms: Lms, app: Flask, tmp_path: Path, keys_dir: Path
) -> None:
    graded = make_graded_course(lms, app, learners=60)
    lms.platform.ags_latency = 0.1  # 2 at a time: about 3 s for the whole push
    with app.app_context():
        job_id = request_push(db.session(), graded.placement_id, trigger="test")
        db.session.commit()
    env = worker_env(
        app, tmp_path, keys_dir, JOBS_LEASE="2", JOBS_POLL_INTERVAL="0.1", GRADES_CONCURRENCY="2"
    )
    proc = subprocess.Popen(
        [FLASK, "--app", "wsgi", "jobs", "work", "--worker-id", "doomed"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    sent = 0
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sent < 4:
            with app.app_context():
                sent = (
                    db.session.scalar(
                        select(func.count())
                        .select_from(GradeScore)
                        .where(GradeScore.status == "sent")
                    )
                    or 0
                )
            time.sleep(0.05)
        assert sent >= 4, "the worker never started sending"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.RUNNING and job.locked_by == "doomed"
        lease_ends = job.locked_until
    assert lease_ends is not None and len(graded.latest()) < 60  # killed mid-run
    time.sleep(max(0.0, (lease_ends - utcnow()).total_seconds()) + 0.1)
    lms.platform.ags_latency = 0.0
    summary = runtime_of(app).drain("rescuer")
    assert summary.requeued == 1 and summary.done == 1
    result = summary.outcomes[0].result or {}
    latest = graded.latest()
    assert sorted(latest) == [f"user-{i:05d}" for i in range(60)]
    # Each learner's score was taken exactly once; scores the killed worker had sent but not
    # yet recorded went again with the same timestamp, and the LMS settled them (409).
    assert all(len(taken) == 1 for taken in lms.platform.scores.values())
    assert lms.platform.score_requests == 60 + result["settled"]
    assert result["settled"] <= 10
    assert {r.status for r in graded.ledger().values()} <= {"sent", "settled"}
