"""The test LMS misbehaving on every service Bottega calls: JWKS, OAuth2 token, NRPS, AGS.

Each fault: 500, 503, 429 with Retry-After, a hang, a truncated JSON document, a proxy's HTML
error page, a 503 whose body stops halfway. Launches keep working on cached keys or are refused
with a clear page (never a 500); roster syncs and grade pushes are retried by the job queue
(Retry-After honoured) and end complete once the LMS is back, with every score taken by the
gradebook exactly once; staff see what is wrong on the roster and grades pages meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select, update

from lti_tool.courses.models import Member
from lti_tool.demo.platform import Fault, Tamper
from lti_tool.extensions import db, utcnow
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.runtime import WorkSummary, runtime_of
from lti_tool.lti.jwks import PlatformKeys
from lti_tool.lti.service_token import ServiceToken
from lti_tool.sync.grades import push_status, request_push
from lti_tool.sync.roster import request_sync, roster_status

from ..lti_harness import INSTRUCTOR, Lms, browser
from ..sync.conftest import CONTEXT, NrpsCourse, member
from ..sync.grades_helpers import GradedCourse, make_graded_course
from ..sync.test_sync_jobs import _job

pytestmark = pytest.mark.slow

RETRY_AFTER = 7  # longer than HTTP_MAX_WAIT: the job queue, not the request, waits it out
# A hang is noticed after this; long enough for a healthy answer on a loaded 2-CPU CI machine
# (0.5 s once timed out the 503 a test expected).
READ_TIMEOUT = 1.0
FAULTS: dict[str, Fault] = {
    "500": Fault(500),
    "503": Fault(503),
    "429": Fault(429, retry_after=str(RETRY_AFTER)),
    "hang": Fault.hanging(20),
    "garbage": Fault.garbage(),
    "html": Fault.html(),
    "stalled": Fault.stalled(503, 20),  # the status line comes, the body stops halfway
}
# What the tool calls each failure (ServiceError codes) and how the pages say it.
CODES = {
    "500": "server_error",
    "503": "server_error",
    "429": "rate_limited",
    "hang": "timeout",
    "garbage": "bad_response",
    "html": "server_error",
    "stalled": "server_error",
}
WORDS = {
    "server_error": (
        "The LMS had an internal error.",
        "La piattaforma ha avuto un errore interno.",
    ),
    "rate_limited": (
        "The LMS asked Bottega to slow down.",
        "La piattaforma ha chiesto a Bottega di rallentare.",
    ),
    "timeout": ("The LMS did not answer in time.", "La piattaforma non ha risposto in tempo."),
    "bad_response": (
        "The LMS sent an answer Bottega cannot read.",
        "La piattaforma ha inviato una risposta che Bottega non riesce a leggere.",
    ),
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # A hang is noticed in READ_TIMEOUT; a Retry-After above 2 s goes back to the queue.
    return {"HTTP_READ_TIMEOUT": str(READ_TIMEOUT), "HTTP_RETRIES": "1", "HTTP_MAX_WAIT": "2"}


def _keys(app: Flask) -> PlatformKeys:
    keys: PlatformKeys = app.extensions["bottega_platform_keys"]
    # Short enough that a hanging key set fails the fetch quickly; long enough for the test LMS
    # to answer on a loaded 2-CPU machine (0.5 s once timed out a healthy answer in CI).
    keys.timeout = (2.0, 2.0)
    return keys


def _no_crash(text: str) -> None:
    assert "Traceback" not in text and "Something went wrong" not in text


# -- launches while the key set fails -------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_launches_use_the_keys_already_fetched_while_the_key_set_fails(
    lms: Lms, app: Flask, fault: str
) -> None:
    keys = _keys(app)
    assert lms.launch().ok
    keys.ttl = 0  # every cached key set is stale from now on
    lms.platform.break_service("jwks", FAULTS[fault])
    assert lms.launch().ok
    # A new worker process has no memory cache: the copy in the database serves it.
    app.extensions["bottega_platform_keys"] = PlatformKeys(ttl=0, timeout=(0.5, 0.5))
    assert lms.launch().ok


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_without_a_usable_key_the_launch_gets_a_clear_translated_refusal(
    lms: Lms, app: Flask, fault: str
) -> None:
    _keys(app)
    lms.platform.break_service("jwks", FAULTS[fault])
    client = browser()
    client.headers["Accept-Language"] = "it-IT,it;q=0.9"  # no claim is trusted before the key
    result = lms.launch(client)
    assert not result.ok
    _no_crash(result.launch_response.text)
    if fault == "garbage":  # an answer that is no key set: the registration needs fixing
        assert result.status == 400
        assert "non è riuscita a scaricare le chiavi pubbliche" in result.launch_response.text
    else:  # the LMS is down or busy: try again later
        assert result.status == 503
        assert "Riprova tra qualche minuto" in result.launch_response.text
    lms.platform.heal()
    assert lms.launch().ok  # the next launch fetches the keys again


def test_a_key_rotation_mid_run_costs_one_refetch_and_no_failed_launch(
    lms: Lms, app: Flask
) -> None:
    # The default rate limit (one refetch per 30 s for unknown kids) stays on.
    assert lms.launch().ok and lms.platform.service_requests["jwks"] == 1
    old_kid = lms.platform.signing_key.kid
    new_kid = lms.platform.rotate_keys()
    assert [k["kid"] for k in lms.platform.jwks()["keys"]] == [new_kid] != [old_kid]
    for _ in range(3):
        assert lms.launch().ok
    assert lms.platform.service_requests["jwks"] == 2
    # A forged kid right after costs one refetch at most, then none within the interval.
    for _ in range(3):
        assert lms.launch(tamper=Tamper(headers={"kid": "forged"})).status == 401
    assert lms.platform.service_requests["jwks"] <= 3


# -- roster sync -----------------------------------------------------------------------------------


def _drain(app: Flask, limit: int | None = None) -> WorkSummary:
    return runtime_of(app).drain("fault-worker", limit=limit)


def _due_now(app: Flask, job_id: int) -> None:
    """Skip the wait the job queue chose (checked first), as if its time had come."""
    with app.app_context():
        db.session.execute(update(Job).where(Job.id == job_id).values(run_after=utcnow()))
        db.session.commit()


def _check_retry_wait(app: Flask, job_id: int, fault: str) -> None:
    job = _job(app, job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 1, job.last_error
    wait = (job.run_after - utcnow()).total_seconds()
    if fault == "429":
        assert wait >= RETRY_AFTER - 1.5, wait  # the LMS's Retry-After, not the 10 ms backoff
    else:
        assert wait < 1.0, wait


def _first_attempt_fails(
    app: Flask, enqueue: Callable[[], int], state: Callable[[], Any], fault: str
) -> int:
    """Queue a job, run one attempt against the failing LMS: it is to be retried, and why."""
    with app.app_context():
        job_id = enqueue()
        db.session.commit()
    assert _drain(app, limit=1).retry == 1
    _check_retry_wait(app, job_id, fault)
    with app.app_context():
        status = state()
    assert status.state == "retrying" and status.error_code == CODES[fault]
    return job_id


def _staff_page(client: Any, url: str, code: str, italian: bool = False) -> None:
    page = client.get(url, timeout=10)
    assert page.status_code == 200
    _no_crash(page.text)
    english, italiano = WORDS[code]
    assert (italiano if italian else english) in page.text, page.text[-3000:]


ROSTER_CASES = [(s, f) for s in ("token", "nrps") for f in FAULTS]
ROSTER_IDS = [f"{s}-{f}" for s, f in ROSTER_CASES]


@pytest.mark.parametrize(
    ("service", "fault"), ROSTER_CASES, ids=[f"{s}-{f}" for s, f in ROSTER_CASES]
)
def test_a_roster_sync_waits_out_each_lms_failure_and_then_completes(
    nrps_course: NrpsCourse, service: str, fault: str
) -> None:
    app, platform = nrps_course.app, nrps_course.platform
    nrps_course.set_roster([member(i) for i in range(5)])
    platform.break_service(service, FAULTS[fault])
    job_id = _first_attempt_fails(
        app,
        lambda: request_sync(db.session(), nrps_course.course_id, trigger="test"),
        lambda: roster_status(db.session(), nrps_course.course_id),
        fault,
    )
    page = f"{nrps_course.lms.tool_url}/w/{nrps_course.lid}/roster"
    _staff_page(nrps_course.client, page, CODES[fault])

    platform.heal()
    _due_now(app, job_id)
    assert _drain(app).done == 1
    assert _job(app, job_id).status == JobStatus.DONE
    with app.app_context():
        synced = db.session.scalars(select(Member.lms_id).where(Member.lms_id.like("user-%")))
        assert sorted(synced) == [f"user-{i:05d}" for i in range(5)]
        assert roster_status(db.session(), nrps_course.course_id).state == "done"


def test_a_token_request_retried_after_a_timeout_signs_a_new_assertion(
    nrps_course: NrpsCourse,
) -> None:
    # The LMS is slow: it takes the first token request after the tool stopped waiting
    # and records its jti. The retry must carry a new jti, or the LMS refuses it as a replay.
    app, platform = nrps_course.app, nrps_course.platform
    nrps_course.set_roster([member(i) for i in range(3)])
    with platform.lock:
        platform.access_tokens.clear()
        platform.token_jtis.clear()
    with app.app_context():
        db.session.execute(delete(ServiceToken))
        db.session.commit()
    platform.break_service("token", Fault.hanging(READ_TIMEOUT + 0.3, times=1))
    with app.app_context():
        job_id = request_sync(db.session(), nrps_course.course_id, trigger="test")
        db.session.commit()
    assert _drain(app, limit=1).done == 1  # the HTTP retry got a token: no job retry needed
    assert _job(app, job_id).status == JobStatus.DONE
    deadline = time.monotonic() + 5
    while len(platform.token_jtis) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the slow first request is still being served
    assert len(platform.token_jtis) == 2
    assert len(set(platform.token_jtis)) == 2, platform.token_jtis


def test_the_roster_page_says_it_in_italian(nrps_course: NrpsCourse) -> None:
    client = browser()
    result = nrps_course.lms.launch(
        client,
        user={"sub": "teacher-2", "name": "Prof Verdi"},
        roles=[INSTRUCTOR],
        context={"id": CONTEXT},
        nrps=True,
        launch_presentation={"locale": "it-IT"},
    )
    assert result.page is not None
    lid = result.page.url.rstrip("/").rsplit("/", 1)[-1]
    nrps_course.platform.break_service("nrps", Fault.html())
    with nrps_course.app.app_context():
        request_sync(db.session(), nrps_course.course_id, trigger="test")
        db.session.commit()
    _drain(nrps_course.app, limit=1)
    url = f"{nrps_course.lms.tool_url}/w/{lid}/roster"
    _staff_page(client, url, "server_error", italian=True)
    page = client.get(url, timeout=10).text
    assert "502 Bad Gateway" in page and "&lt;html" not in page  # the page's title, no markup


# -- grade push ------------------------------------------------------------------------------------


GRADE_CASES = [
    *((s, f) for s in ("token", "lineitems") for f in FAULTS),
    # A 200 with an unreadable body is a taken score for any client: not a score fault.
    *(("scores", f) for f in FAULTS if f != "garbage"),
]
GRADE_IDS = [f"{s}-{f}" for s, f in GRADE_CASES]


def _assert_exactly_once(graded: GradedCourse, learners: int) -> None:
    taken = graded.platform.scores_taken()
    assert len(taken) == learners and set(taken.values()) == {1}, taken
    assert all(len(t) == 1 for t in graded.platform.scores.values())
    assert {r.status for r in graded.ledger().values()} <= {"sent", "settled"}


@pytest.mark.parametrize(
    ("service", "fault"), GRADE_CASES, ids=[f"{s}-{f}" for s, f in GRADE_CASES]
)
def test_a_grade_push_waits_out_each_lms_failure_and_every_score_is_taken_once(
    lms: Lms, app: Flask, service: str, fault: str
) -> None:
    graded = make_graded_course(lms, app, learners=10)
    platform = graded.platform
    platform.break_service(service, FAULTS[fault])
    job_id = _first_attempt_fails(
        app,
        lambda: request_push(db.session(), graded.placement_id, trigger="test"),
        lambda: push_status(db.session(), graded.placement_id),
        fault,
    )
    page = f"{lms.tool_url}/w/{graded.lid}/grades/{graded.placement_id}"
    _staff_page(graded.client, page, CODES[fault])
    assert graded.latest() == {} or fault == "hang"

    platform.heal()  # hanging score POSTs are now served: the LMS takes them late
    _due_now(app, job_id)
    assert _drain(app).done == 1
    assert len(graded.latest()) == 10
    _assert_exactly_once(graded, 10)
    again = graded.push_result()  # nothing changed: nothing is sent again
    assert again["sent"] == 0 and again["settled"] == 0
    _assert_exactly_once(graded, 10)


def test_a_push_through_intermittent_failures_takes_every_score_once(lms: Lms, app: Flask) -> None:
    graded = make_graded_course(lms, app, learners=30)
    platform = graded.platform
    platform.break_service("scores", Fault(503, times=12))
    for _ in range(10):
        with app.app_context():
            job_id = request_push(db.session(), graded.placement_id, trigger="test")
            db.session.commit()
        _due_now(app, job_id)
        _drain(app)
        if len(graded.latest()) == 30:
            break
    assert platform.service_requests["scores"] >= 30 + 12
    _assert_exactly_once(graded, 30)
