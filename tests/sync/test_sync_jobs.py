"""Roster jobs against a misbehaving LMS: bounded failures, retries, per-tenant tokens, schedule."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, update

from lti_tool.demo.install import register_both_sides
from lti_tool.extensions import db, utcnow
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.queue import claim, sweep
from lti_tool.jobs.runtime import runtime_of
from lti_tool.lti.nrps import SCOPE
from lti_tool.lti.service_token import DatabaseTokenCache, ServiceToken, ServiceTokenClient
from lti_tool.lti.services import ServiceHttp, ServiceRegistration
from lti_tool.sync.roster import RosterSync, _set_state, request_sync, roster_status

from ..lti_harness import CLIENT_ID, csrf_token
from .conftest import NrpsCourse, member

pytestmark = pytest.mark.slow
HANGING = {"HTTP_READ_TIMEOUT": "0.5", "HTTP_RETRIES": "1", "JOBS_BACKOFF_BASE": "1"}


def _request(course: NrpsCourse) -> int:
    with course.app.app_context():
        job_id = request_sync(db.session(), course.course_id, full=True, trigger="test")
        db.session.commit()
        return job_id


def _job(app: Flask, job_id: int) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None
        db.session.expunge(job)
        return job


def _drain(app: Flask, limit: int | None = None) -> Any:
    runtime = runtime_of(app)
    return runtime.drain("test-worker", limit=limit)


def _wait_until_due(app: Flask, job_id: int) -> None:
    delay = (_job(app, job_id).run_after - utcnow()).total_seconds()
    assert delay <= 1.0  # the retry comes within the configured backoff
    time.sleep(max(0.0, delay) + 0.05)


@pytest.mark.parametrize("settings_overrides", [HANGING])
def test_a_hanging_roster_endpoint_fails_the_job_in_bounded_time_then_it_retries(
    nrps_course: NrpsCourse,
) -> None:
    nrps_course.set_roster([member(i) for i in range(5)])
    release = threading.Event()
    original = nrps_course.platform.memberships

    def hanging(*args: Any, **kwargs: Any) -> Any:
        release.wait(20)
        return original(*args, **kwargs)

    nrps_course.platform.memberships = hanging
    job_id = _request(nrps_course)
    started = time.monotonic()
    summary = _drain(nrps_course.app, limit=1)  # one attempt, however loaded the machine
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 4, elapsed  # two 0.5 s read timeouts and a pause: no stuck worker
    assert summary.retry == 1 and summary.done == 0
    job = _job(nrps_course.app, job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 1 and job.locked_by is None
    assert "did not answer in time" in (job.last_error or "")
    with nrps_course.app.app_context():
        status = roster_status(db.session(), nrps_course.course_id)
    assert status.error_code == "timeout" and status.error_detail is None
    page = nrps_course.client.get(
        f"{nrps_course.lms.tool_url}/w/{nrps_course.lid}/roster/status", timeout=10
    )
    # In the page's language; the LMS said nothing, so nothing is shown as its words (Bottega's
    # own English message stays in the job table and the logs).
    assert "The LMS did not answer in time." in page.text and "The LMS said" not in page.text

    nrps_course.platform.memberships = original  # the LMS recovers
    _wait_until_due(nrps_course.app, job_id)
    assert _drain(nrps_course.app).done == 1
    job = _job(nrps_course.app, job_id)
    assert job.status == JobStatus.DONE and job.attempts == 2
    assert job.result is not None and job.result["members"] == 6


@pytest.mark.parametrize("settings_overrides", [HANGING])
def test_a_hanging_token_endpoint_fails_the_job_in_bounded_time(nrps_course: NrpsCourse) -> None:
    release = threading.Event()
    fetch = nrps_course.platform.fetch_json

    def slow_jwks(url: str) -> Any:  # the LMS hangs while checking our client assertion
        release.wait(20)
        return fetch(url)

    nrps_course.platform.fetch_json = slow_jwks
    job_id = _request(nrps_course)
    started = time.monotonic()
    assert _drain(nrps_course.app, limit=1).retry == 1
    assert time.monotonic() - started < 4
    release.set()
    assert _job(nrps_course.app, job_id).status == JobStatus.QUEUED


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "JOBS_TIMEOUT": "1",
            "HTTP_READ_TIMEOUT": "5",
            "ROSTER_PAGE_SIZE": "1",
            "JOBS_BACKOFF_BASE": "30",
        }
    ],
)
def test_a_slow_but_answering_lms_is_stopped_by_the_job_time_bound(
    nrps_course: NrpsCourse,
) -> None:
    nrps_course.set_roster([member(i) for i in range(100)])
    original = nrps_course.platform.memberships

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return original(*args, **kwargs)

    nrps_course.platform.memberships = slow
    job_id = _request(nrps_course)
    started = time.monotonic()
    assert _drain(nrps_course.app, limit=1).retry == 1
    assert time.monotonic() - started < 2.5
    job = _job(nrps_course.app, job_id)
    assert job.status == JobStatus.QUEUED and "time bound" in (job.last_error or "")
    with nrps_course.app.app_context():  # an incomplete sync deactivates nobody
        assert db.session.scalar(select(RosterSync.synced_at)) is None


@pytest.mark.parametrize("settings_overrides", [{"JOBS_BACKOFF_BASE": "0.01"}])
def test_a_token_refused_by_the_lms_is_a_failure_shown_with_its_message(
    nrps_course: NrpsCourse,
) -> None:
    nrps_course.platform.token_failure = 400
    job_id = _request(nrps_course)
    assert _drain(nrps_course.app).dead == 1
    job = _job(nrps_course.app, job_id)
    assert job.status == JobStatus.DEAD and "token endpoint refused" in (job.last_error or "")
    with nrps_course.app.app_context():
        status = roster_status(db.session(), nrps_course.course_id)
    assert status.state == "failed" and status.error_code == "token_refused"
    assert status.error_detail == "temporarily_unavailable"


def test_an_expired_access_token_is_refreshed_once(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster([member(1)])
    assert nrps_course.sync().exit_code == 0
    requests_before = nrps_course.platform.token_requests
    assert nrps_course.sync().exit_code == 0
    assert nrps_course.platform.token_requests == requests_before  # cached in the database
    nrps_course.platform.expire_access_tokens()
    assert nrps_course.sync().exit_code == 0
    assert nrps_course.platform.token_requests == requests_before + 1


def test_bearer_tokens_never_go_to_another_host(nrps_course: NrpsCourse) -> None:
    with nrps_course.app.app_context():
        from lti_tool.courses.models import Course

        course = db.session.get(Course, nrps_course.course_id)
        assert course is not None
        course.services = {
            "nrps": {"context_memberships_url": "https://attacker.example/nrps/course-101"}
        }
        db.session.commit()
    requests_before = nrps_course.platform.token_requests
    result = nrps_course.sync("--json")
    assert result.exit_code == 1 and "not a host of this LMS registration" in result.output
    assert nrps_course.platform.token_requests == requests_before
    with nrps_course.app.app_context():
        assert roster_status(db.session(), nrps_course.course_id).error_code == "untrusted_host"


def test_service_tokens_are_cached_per_tenant(nrps_course: NrpsCourse, app: Flask) -> None:
    platform = nrps_course.platform
    tool = nrps_course.lms.tool_url
    with app.app_context():
        second = register_both_sides(db.session(), platform, tool, "second-client")
        first = ServiceRegistration(
            platform.issuer, CLIENT_ID, platform.token_url, platform.auth_url
        )
        other = ServiceRegistration.of(second)
    runtime = runtime_of(app)
    http = ServiceHttp(runtime.settings.services)
    tokens = ServiceTokenClient(
        http, app.extensions["bottega_keys"], DatabaseTokenCache(runtime.session_factory)
    )
    before = platform.token_requests
    a = tokens.token(first, "1", [SCOPE])
    b = tokens.token(other, "1", [SCOPE])
    assert a != b
    assert platform.access_tokens[a].client_id == CLIENT_ID
    assert platform.access_tokens[b].client_id == "second-client"
    assert tokens.token(first, "1", [SCOPE]) == a and tokens.token(other, "1", [SCOPE]) == b
    assert platform.token_requests == before + 2
    # Another deployment or another scope set is another key.
    assert tokens.token(first, "2", [SCOPE]) not in (a, b)
    ags = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
    assert tokens.token(first, "1", [SCOPE, ags]) not in (a, b)
    assert platform.token_requests == before + 4
    # Shared through the database: a second client (another worker) reuses them.
    again = ServiceTokenClient(
        ServiceHttp(runtime.settings.services),
        app.extensions["bottega_keys"],
        DatabaseTokenCache(runtime.session_factory),
    )
    assert again.token(other, "1", [SCOPE]) == b and again.fetched == 0
    # An expired one is not used.
    with app.app_context():
        db.session.execute(update(ServiceToken).values(expires_at=utcnow()))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(ServiceToken)) == 4
    assert again.token(other, "1", [SCOPE]) != b


@pytest.mark.parametrize(
    "settings_overrides", [{"ROSTER_SCHEDULE_INTERVAL": "3600", "ROSTER_MAX_AGE": "60"}]
)
def test_the_schedule_syncs_stale_rosters(nrps_course: NrpsCourse) -> None:
    nrps_course.set_roster([member(1)])
    summary = _drain(nrps_course.app)  # the sweep queues the schedule; it queues nothing new
    assert summary.scheduled == 1
    kinds = [o.kind for o in summary.outcomes]
    assert kinds.count("roster.sync_stale") == 1 and kinds.count("roster.sync") == 1
    with nrps_course.app.app_context():
        db.session.execute(
            update(RosterSync).values(
                synced_at=utcnow().replace(year=2000), requested_at=utcnow().replace(year=2000)
            )
        )
        db.session.commit()
    runtime = runtime_of(nrps_course.app)
    from lti_tool.jobs.queue import enqueue

    with nrps_course.app.app_context():
        enqueue(db.session(), "roster.sync_stale", {}, key="schedule:roster.sync_stale")
        db.session.commit()
    summary = runtime.drain("w")
    assert [o.kind for o in summary.outcomes] == ["roster.sync_stale", "roster.sync"]
    assert summary.outcomes[0].result == {"queued": 1}


def test_a_dead_job_s_own_words_are_not_shown_as_the_lms_s() -> None:
    """The page says "The LMS said: ..." only of what the LMS answered; a job that died of
    Bottega's own trouble (a worker gone mid-attempt) shows the translated failure alone."""
    from lti_tool.sync.background import JobView, status_fields

    view = JobView("failed", None, 3, "lease expired during attempt 3: the worker stopped")
    fields = status_fields(view, None, None)
    assert fields["error_code"] == "job_failed" and fields["error_detail"] is None
    assert (
        status_fields(view, "token_refused", "invalid_client")["error_detail"] == "invalid_client"
    )


@pytest.mark.parametrize("settings_overrides", [{"JOBS_LEASE": "0.1", "JOBS_MAX_ATTEMPTS": "1"}])
def test_a_sync_asked_for_after_a_worker_died_mid_sync_is_shown_queued(
    nrps_course: NrpsCourse,
) -> None:
    """A worker killed on the last attempt leaves the course's state "running" and its job
    dead: the next Sync roster must show the new job, not the old failure."""
    app, runtime = nrps_course.app, runtime_of(nrps_course.app)
    old = claim(runtime.session_factory, "ghost", lease=0.1)  # the launch's sync; then it dies
    assert old is not None
    with app.app_context():  # what sync_roster writes as it starts
        _set_state(db.session(), nrps_course.course_id, status="running", job_id=old.id)
        db.session.commit()
    time.sleep(0.2)
    assert sweep(runtime.session_factory, runtime.settings).dead == 1
    with app.app_context():
        assert roster_status(db.session(), nrps_course.course_id).state == "failed"
    base = f"{nrps_course.lms.tool_url}/w/{nrps_course.lid}/roster"
    token = csrf_token(nrps_course.client.get(base, timeout=10).text)
    clicked = nrps_course.client.post(
        base + "/sync", data={"csrf_token": token}, headers={"HX-Request": "true"}, timeout=10
    )
    assert clicked.status_code == 200
    assert "Waiting for a worker to start the sync" in clicked.text
    assert "The roster sync failed." not in clicked.text
    with app.app_context():
        status = roster_status(db.session(), nrps_course.course_id)
    assert status.state == "queued" and status.job_id != old.id


def test_a_request_during_a_page_write_waits_instead_of_deadlocking(
    nrps_course: NrpsCourse,
) -> None:
    """A page write takes the job's row (heartbeat) before the course's sync state; a request
    for another sync takes them in the same order, so neither is killed as a deadlock."""
    nrps_course.set_roster([member(i) for i in range(3)])
    app = nrps_course.app
    errors: list[BaseException] = []
    requested: list[int] = []
    fired = threading.Event()

    def request() -> None:
        try:
            requested.append(_request(nrps_course))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        page_write = statement.lstrip().upper().startswith("UPDATE ROSTER_SYNC SET PROCESSED")
        if fired.is_set() or not page_write or threading.current_thread() is not worker_thread:
            return
        fired.set()
        threading.Thread(target=request, daemon=True).start()
        time.sleep(0.5)  # the request takes what it can and waits for the rest

    worker_thread = threading.current_thread()
    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", on_execute)
    try:
        summary = _drain(app)
    finally:
        event.remove(engine, "after_cursor_execute", on_execute)
    deadline = time.monotonic() + 20
    while not (requested or errors) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fired.is_set() and errors == [], errors
    assert summary.done >= 1 and summary.retry == 0 and summary.dead == 0
