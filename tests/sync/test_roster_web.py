"""The instructor's Sync roster button, its progress and result, and the launch trigger."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, timedelta
from typing import Any

import pytest
from babel.dates import format_datetime
from flask import Flask
from sqlalchemy import select, update

from lti_tool.extensions import db, utcnow
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.queue import run_one
from lti_tool.jobs.runtime import runtime_of
from lti_tool.sync.roster import RosterSync, roster_status

from ..lti_harness import LEARNER, browser, csrf_token
from .conftest import NrpsCourse, member

pytestmark = pytest.mark.slow


def _jobs(app: Flask) -> list[Job]:
    with app.app_context():
        jobs = list(db.session.scalars(select(Job).where(Job.kind == "roster.sync")))
        for job in jobs:
            db.session.expunge(job)
        return jobs


def _drain(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "work", "--burst"])
    assert result.exit_code == 0, result.output


def test_a_launch_into_a_course_with_a_stale_roster_queues_one_sync(
    nrps_course: NrpsCourse,
) -> None:
    [job] = _jobs(nrps_course.app)  # queued by the instructor's launch, not run by it
    assert job.status == JobStatus.QUEUED and job.payload["trigger"] == "launch"
    assert job.payload["full"] is False
    nrps_course.lms.launch(
        browser(),
        user={"sub": "user-00001"},
        roles=[LEARNER],
        context={"id": nrps_course.context_id},
        nrps=True,
    )
    assert len(_jobs(nrps_course.app)) == 1  # already requested: not queued again

    nrps_course.set_roster([member(1)])
    _drain(nrps_course.app)
    assert [j.status for j in _jobs(nrps_course.app)] == [JobStatus.DONE]
    nrps_course.lms.launch(
        browser(),
        user={"sub": "user-00001"},
        roles=[LEARNER],
        context={"id": nrps_course.context_id},
        nrps=True,
    )
    assert len(_jobs(nrps_course.app)) == 1  # fresh roster: nothing to do

    with nrps_course.app.app_context():  # a day later the roster is stale again
        db.session.execute(
            update(RosterSync).values(
                synced_at=utcnow() - timedelta(days=1), requested_at=utcnow() - timedelta(days=1)
            )
        )
        db.session.commit()
    nrps_course.lms.launch(
        browser(),
        user={"sub": "user-00001"},
        roles=[LEARNER],
        context={"id": nrps_course.context_id},
        nrps=True,
    )
    assert len(_jobs(nrps_course.app)) == 2


def test_a_course_without_a_roster_service_queues_nothing(nrps_course: NrpsCourse) -> None:
    result = nrps_course.lms.launch(
        browser(), user={"sub": "s"}, roles=[LEARNER], context={"id": "no-nrps-course"}
    )
    assert result.page is not None and result.page.status_code == 200
    assert len(_jobs(nrps_course.app)) == 1  # only the NRPS course's own


def test_the_sync_roster_button_queues_a_full_sync_and_shows_the_result(
    nrps_course: NrpsCourse,
) -> None:
    nrps_course.set_roster([member(i) for i in range(12)])
    base = f"{nrps_course.lms.tool_url}/w/{nrps_course.lid}/roster"
    page = nrps_course.client.get(base, timeout=10)
    assert page.status_code == 200 and "Sync roster" in page.text
    assert "Waiting for a worker" in page.text  # the launch's own request is queued
    token = csrf_token(page.text)
    posted = nrps_course.client.post(
        base + "/sync", data={"csrf_token": token}, allow_redirects=False, timeout=10
    )
    assert posted.status_code == 303 and posted.headers["Location"].endswith("/roster")
    [job] = _jobs(nrps_course.app)
    assert job.payload == {"course_id": nrps_course.course_id, "full": True, "trigger": "button"}

    fragment = nrps_course.client.get(base + "/status", timeout=10)
    assert 'hx-trigger="every 1s"' in fragment.text  # polls while queued

    _drain(nrps_course.app)
    fragment = nrps_course.client.get(base + "/status", timeout=10)
    assert "every 1s" not in fragment.text
    assert "Members listed by the LMS" in fragment.text and "<dd>12</dd>" in fragment.text

    htmx = nrps_course.client.post(
        base + "/sync", data={"csrf_token": token}, headers={"HX-Request": "true"}, timeout=10
    )
    assert htmx.status_code == 200 and 'id="roster-status"' in htmx.text


def test_learners_cannot_see_or_press_the_button(nrps_course: NrpsCourse) -> None:
    client = browser()
    result = nrps_course.lms.launch(
        client, user={"sub": "user-00001"}, roles=[LEARNER], context={"id": nrps_course.context_id}
    )
    assert result.page is not None
    lid = result.page.url.rstrip("/").rsplit("/", 1)[-1]
    base = f"{nrps_course.lms.tool_url}/w/{lid}/roster"
    assert client.get(base, timeout=10).status_code == 403
    assert client.post(base + "/sync", data={}, timeout=10).status_code in (400, 403)


@pytest.mark.parametrize(
    "settings_overrides",
    # The backoff maximum too: capped at the suite's 0.05 s, the retry came due while the burst
    # worker was still looping, so a loaded machine saw 3 attempts instead of 1.
    [{"HTTP_READ_TIMEOUT": "0.5", "JOBS_BACKOFF_BASE": "30", "JOBS_BACKOFF_MAX": "300"}],
)
def test_a_failed_sync_shows_the_error_and_the_next_try(nrps_course: NrpsCourse) -> None:
    nrps_course.platform.token_failure = 503
    _drain(nrps_course.app)
    with nrps_course.app.app_context():
        status = roster_status(db.session(), nrps_course.course_id)
    assert status.state == "retrying" and status.error_code == "server_error"
    assert status.next_try_at is not None and status.attempts == 1
    page = nrps_course.client.get(
        f"{nrps_course.lms.tool_url}/w/{nrps_course.lid}/roster/status", timeout=10
    )
    assert "The LMS had an internal error." in page.text
    assert "temporarily_unavailable" in page.text  # what the LMS said
    # The day too: a Retry-After may put the next try after midnight.
    when = format_datetime(status.next_try_at, "medium", tzinfo=UTC, locale="en_US")
    assert f"will try again at {when} UTC" in page.text
    assert 'hx-trigger="every 30s"' in page.text  # waiting for the retry: no polling each second

    # The LMS is back: the instructor need not wait for the retry.
    nrps_course.platform.token_failure = None
    base = f"{nrps_course.lms.tool_url}/w/{nrps_course.lid}/roster"
    roster = nrps_course.client.get(base, timeout=10)
    assert re.search(
        r'<button type="submit" class="qa-button" >Try again now</button>', roster.text
    )
    nrps_course.client.post(
        base + "/sync", data={"csrf_token": csrf_token(roster.text)}, timeout=10
    )
    [job] = _jobs(nrps_course.app)
    assert job.run_after <= utcnow()  # brought forward, the same job
    assert "Waiting for a worker" in nrps_course.client.get(base + "/status", timeout=10).text
    _drain(nrps_course.app)
    with nrps_course.app.app_context():
        assert roster_status(db.session(), nrps_course.course_id).state == "done"


def test_the_in_process_worker_runs_a_button_press(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster([member(1), member(2)])
    runtime = runtime_of(nrps_course.app)
    runtime.start()
    try:
        import time

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with nrps_course.app.app_context():
                if roster_status(db.session(), nrps_course.course_id).state == "done":
                    break
            time.sleep(0.05)
        with nrps_course.app.app_context():
            status = roster_status(db.session(), nrps_course.course_id)
        assert status.state == "done" and status.processed == 3
    finally:
        runtime.stop()
    assert not runtime.running


def test_sync_roster_during_a_running_sync_runs_right_after_it(nrps_course: NrpsCourse) -> None:
    """The running sync read the LMS before the click: the click is honoured when it ends,
    not dropped until the schedule (and the two never run side by side)."""
    nrps_course.set_roster([member(1), member(2)])
    [job] = _jobs(nrps_course.app)  # the launch's sync
    inside, release = threading.Event(), threading.Event()
    original = nrps_course.platform.memberships

    def read_then_wait(*args: Any, **kwargs: Any) -> Any:
        answer = original(*args, **kwargs)
        inside.set()
        release.wait(20)
        return answer

    nrps_course.platform.memberships = read_then_wait
    runtime = runtime_of(nrps_course.app)
    outcomes: list[Any] = []

    def work() -> None:
        with nrps_course.app.app_context():
            outcomes.append(run_one(runtime.session_factory, "w1", job.id, runtime.settings.jobs))

    worker = threading.Thread(target=work)
    worker.start()
    base = f"{nrps_course.lms.tool_url}/w/{nrps_course.lid}/roster"
    try:
        assert inside.wait(20)
        nrps_course.set_roster([member(1)])  # member 2 leaves after the LMS was read
        token = csrf_token(nrps_course.client.get(base, timeout=10).text)
        clicked = nrps_course.client.post(
            base + "/sync", data={"csrf_token": token}, headers={"HX-Request": "true"}, timeout=10
        )
        assert clicked.status_code == 200 and "Syncing:" in clicked.text
        assert "Another sync was asked for meanwhile" in clicked.text
        assert run_one(runtime.session_factory, "w2", job.id, runtime.settings.jobs) is None
    finally:
        release.set()
        worker.join(30)
        nrps_course.platform.memberships = original
    assert [o.status for o in outcomes] == ["done"]
    after = nrps_course.client.get(base + "/status", timeout=10)
    assert "Waiting for a worker to start the sync" in after.text
    [again] = _jobs(nrps_course.app)
    assert again.id == job.id and again.status == JobStatus.QUEUED
    assert again.payload == {"course_id": nrps_course.course_id, "full": True, "trigger": "button"}
    _drain(nrps_course.app)
    shown = nrps_course.show()
    statuses = {row["sub"]: row["status"] for row in json.loads(shown.output)}
    assert statuses["user-00001"] == "active" and statuses["user-00002"] == "inactive"
    fragment = nrps_course.client.get(base + "/status", timeout=10)
    assert "<dt>Now inactive</dt><dd>1</dd>" in fragment.text


def test_the_schedule_leaves_a_course_whose_sync_failed_for_good_alone_a_day(
    nrps_course: NrpsCourse,
) -> None:
    """The LMS refused the roster for good: the hourly schedule does not ask it again every
    hour, and a day later it tries again (the button and launches do not use this list)."""
    from lti_tool.sync.roster import stale_courses

    def scheduled() -> list[int]:
        with nrps_course.app.app_context():
            return stale_courses(db.session(), max_age=3600)

    with nrps_course.app.app_context():
        db.session.execute(
            update(RosterSync).values(
                status="failed",
                finished_at=utcnow() - timedelta(hours=2),
                synced_at=None,
                requested_at=utcnow() - timedelta(hours=2),
            )
        )
        db.session.commit()
    assert scheduled() == []
    with nrps_course.app.app_context():
        db.session.execute(update(RosterSync).values(finished_at=utcnow() - timedelta(days=2)))
        db.session.commit()
    assert scheduled() == [nrps_course.course_id]
