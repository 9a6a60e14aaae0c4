"""The instructor's grades page: rubric form, scores sent with their time and status, and the
"Send grades now" button."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urljoin

import pytest
from flask import Flask
from sqlalchemy import select

from lti_tool.community.engagement.models import EventKind
from lti_tool.extensions import db
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.queue import claim, run_one, sweep
from lti_tool.jobs.runtime import runtime_of
from lti_tool.sync.grades import JOB_KIND, _set_state, request_push

from ..lti_harness import LEARNER, Lms, browser, csrf_token
from .grades_helpers import GradedCourse, make_graded_course

pytestmark = pytest.mark.slow


@pytest.fixture
def graded(lms: Lms, app: Flask) -> GradedCourse:
    return make_graded_course(lms, app, learners=3)


def _url(graded: GradedCourse, path: str = "") -> str:
    return f"{graded.course.lms.tool_url}/w/{graded.lid}/grades/{graded.placement_id}{path}"


def _drain(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "work", "--burst"])
    assert result.exit_code == 0, result.output


def test_the_launched_graded_placement_opens_its_grades_page(graded: GradedCourse) -> None:
    index = graded.client.get(f"{graded.course.lms.tool_url}/w/{graded.lid}/grades/", timeout=10)
    assert index.status_code == 200 and index.url == _url(graded)
    assert "Participation grade: Partecipazione" in index.text
    assert "No grades have been sent yet." in index.text
    assert index.text.count("Not sent yet") == 3  # every active learner, none sent


def test_send_grades_now_sends_and_shows_each_learners_score_time_and_status(
    graded: GradedCourse,
) -> None:
    graded.participate("user-00001", EventKind.ANSWER, times=2)
    page = graded.client.get(_url(graded), timeout=10)
    token = csrf_token(page.text)
    refused = graded.client.post(_url(graded, "/push"), timeout=10)  # no CSRF token
    assert refused.status_code == 400
    sent = graded.client.post(
        _url(graded, "/push"), data={"csrf_token": token}, allow_redirects=False, timeout=10
    )
    assert sent.status_code == 303
    with graded.app.app_context():
        [job] = db.session.scalars(select(Job).where(Job.kind == JOB_KIND)).all()
        assert job.status == JobStatus.QUEUED and job.payload["trigger"] == "button"
    queued = graded.client.get(urljoin(_url(graded), sent.headers["Location"]), timeout=10)
    assert "Waiting for a worker to send the grades" in queued.text
    _drain(graded.app)
    done = graded.client.get(_url(graded), timeout=10)
    assert "3 scores sent, 0 unchanged." in done.text
    assert done.text.count(">Sent<") == 3
    assert "6 / 100" in done.text and "UTC" in done.text


def test_a_bad_rubric_keeps_what_was_typed_and_a_good_one_is_used(graded: GradedCourse) -> None:
    page = graded.client.get(_url(graded), timeout=10)
    form = {
        "csrf_token": csrf_token(page.text),
        "question": "1",
        "answer": "due",  # not a number
        "accepted_answer": "4",
        "endorsement": "2",
        "kudos_received": "1",
        "group_post": "1",
        "weekly_cap": "",
        "score_maximum": "0",  # must be above zero
    }
    bad = graded.client.post(_url(graded, "/rubric"), data=form, timeout=10)
    assert bad.status_code == 422
    assert 'value="due"' in bad.text and "Enter a number." in bad.text
    assert "Enter a number within the allowed range." in bad.text
    form.update(answer="2,5", score_maximum="10")
    good = graded.client.post(_url(graded, "/rubric"), data=form, timeout=10)
    assert good.status_code == 200 and "Rubric saved." in good.text
    graded.participate("user-00002", EventKind.ANSWER, times=2)
    graded.push_result()
    assert graded.latest()["user-00002"]["scoreGiven"] == 5
    assert graded.latest()["user-00002"]["scoreMaximum"] == 10


def test_students_and_other_courses_cannot_reach_a_grades_page(
    graded: GradedCourse, lms: Lms
) -> None:
    student = browser()
    result = lms.launch(
        student,
        user={"sub": "user-00001"},
        roles=[LEARNER],
        context={"id": graded.course.context_id},
        resource_link={"id": "rl-graded-qa"},
        custom={"widget": "qa"},
    )
    assert result.page is not None
    student_lid = result.page.url.split("/w/", 1)[1].split("/", 1)[0]
    own = f"{lms.tool_url}/w/{student_lid}/grades/{graded.placement_id}"
    assert student.get(own, timeout=10).status_code == 403
    other = browser()
    launched = lms.launch(
        other,
        user={"sub": "teacher-9"},
        roles=["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
        context={"id": "another-course"},
    )
    assert launched.page is not None
    other_lid = launched.page.url.split("/w/", 1)[1].split("/", 1)[0]
    foreign = f"{lms.tool_url}/w/{other_lid}/grades/{graded.placement_id}"
    assert other.get(foreign, timeout=10).status_code == 404
    assert other.get(f"{lms.tool_url}/w/{other_lid}/grades/", timeout=10).status_code == 200


def test_send_grades_now_during_a_push_sends_the_new_rubric_right_after_it(
    graded: GradedCourse,
) -> None:
    """The push running computed its scores before the rubric changed: the click is honoured
    when it ends, not dropped until the next scheduled push (and never run beside it)."""
    graded.participate("user-00001", EventKind.ANSWER, times=2)
    with graded.app.app_context():
        job_id = request_push(db.session(), graded.placement_id, trigger="schedule")
        db.session.commit()
    inside, release = threading.Event(), threading.Event()
    original = graded.platform.take_score

    def slow(item: Any, body: Any) -> None:
        inside.set()
        release.wait(20)
        original(item, body)

    graded.platform.take_score = slow
    runtime = runtime_of(graded.app)
    outcomes: list[Any] = []

    def work() -> None:
        with graded.app.app_context():
            outcomes.append(run_one(runtime.session_factory, "w1", job_id, runtime.settings.jobs))

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert inside.wait(20)  # the push runs, with the default rubric's scores
        page = graded.client.get(_url(graded), timeout=10)
        form = {
            "csrf_token": csrf_token(page.text),
            "question": "1",
            "answer": "10",
            "accepted_answer": "4",
            "endorsement": "2",
            "kudos_received": "1",
            "group_post": "1",
            "weekly_cap": "",
            "score_maximum": "100",
        }
        saved = graded.client.post(_url(graded, "/rubric"), data=form, timeout=10)
        assert saved.status_code == 200 and "Rubric saved." in saved.text
        clicked = graded.client.post(
            _url(graded, "/push"),
            data={"csrf_token": form["csrf_token"]},
            headers={"HX-Request": "true"},
            timeout=10,
        )
        assert clicked.status_code == 200
        assert "Sending grades…" in clicked.text
        assert "Another push was asked for meanwhile" in clicked.text
        assert run_one(runtime.session_factory, "w2", job_id, runtime.settings.jobs) is None
    finally:
        release.set()
        worker.join(30)
        graded.platform.take_score = original
    assert [o.status for o in outcomes] == ["done"]
    assert graded.latest()["user-00001"]["scoreGiven"] == 6  # the old rubric: 2 answers x 3
    after = graded.client.get(_url(graded, "/status"), timeout=10)
    assert "Waiting for a worker to send the grades" in after.text
    assert "Another push" not in after.text
    _drain(graded.app)
    assert graded.latest()["user-00001"]["scoreGiven"] == 20  # the new one, at once
    with graded.app.app_context():
        jobs = db.session.execute(select(Job.id, Job.status).where(Job.kind == JOB_KIND)).all()
    assert [tuple(j) for j in jobs] == [(job_id, JobStatus.DONE)]
    done = graded.client.get(_url(graded), timeout=10)
    assert "Last push:" in done.text


@pytest.mark.parametrize("settings_overrides", [{"JOBS_LEASE": "0.1", "JOBS_MAX_ATTEMPTS": "1"}])
def test_send_grades_now_after_a_worker_died_mid_push_is_shown_queued(
    graded: GradedCourse,
) -> None:
    """A worker killed on the last attempt leaves the push "running" and its job dead: the
    next click must show the new push waiting, not the old failure."""
    runtime = runtime_of(graded.app)
    with graded.app.app_context():
        request_push(db.session(), graded.placement_id, trigger="schedule")
        db.session.commit()
    old = claim(runtime.session_factory, "ghost", lease=0.1)  # then the worker dies
    assert old is not None
    with graded.app.app_context():  # what push_grades writes as it starts
        _set_state(db.session(), graded.placement_id, status="running", job_id=old.id)
        db.session.commit()
    time.sleep(0.2)
    assert sweep(runtime.session_factory, runtime.settings).dead == 1
    page = graded.client.get(_url(graded), timeout=10)
    assert "Sending the grades failed." in page.text
    clicked = graded.client.post(
        _url(graded, "/push"),
        data={"csrf_token": csrf_token(page.text)},
        headers={"HX-Request": "true"},
        timeout=10,
    )
    assert clicked.status_code == 200
    assert "Waiting for a worker to send the grades" in clicked.text
    assert "Sending the grades failed." not in clicked.text


@pytest.mark.parametrize("settings_overrides", [{"JOBS_BACKOFF_BASE": "600"}])
def test_try_again_now_brings_a_push_waiting_for_its_retry_forward(graded: GradedCourse) -> None:
    """The LMS failed, the retry is minutes away; it is back, and the instructor need not wait."""
    graded.platform.ags_failure_rate = 1.0
    graded.platform.ags_failure_statuses = (503,)
    with graded.app.app_context():
        request_push(db.session(), graded.placement_id, trigger="test")
        db.session.commit()
    _drain(graded.app)
    page = graded.client.get(_url(graded), timeout=10)
    assert "Bottega will try again at" in page.text and 'hx-trigger="every 30s"' in page.text
    assert '<button type="submit" class="qa-button" >Try again now</button>' in page.text
    graded.platform.ags_failure_rate = 0.0
    graded.client.post(
        _url(graded, "/push"), data={"csrf_token": csrf_token(page.text)}, timeout=10
    )
    assert "Waiting for a worker to send the grades" in graded.client.get(_url(graded)).text
    _drain(graded.app)
    final = graded.client.get(_url(graded), timeout=10).text
    assert "3 scores sent" in final and final.count(">Sent<") == 3


def test_the_page_polls_only_what_changes_during_a_push(graded: GradedCourse) -> None:
    """While a push runs the page asks every 2 s for its status, not for the whole table (a
    big course's ledger); the answer once it is over brings the table up to date."""
    page = graded.client.get(_url(graded), timeout=10)
    graded.client.post(
        _url(graded, "/push"), data={"csrf_token": csrf_token(page.text)}, timeout=10
    )
    busy = graded.client.get(_url(graded, "/status?part=live"), timeout=10)
    assert "Waiting for a worker to send the grades" in busy.text
    assert 'hx-trigger="every 2s"' in busy.text and "status?part=live" in busy.text
    assert "<table" not in busy.text and "HX-Retarget" not in busy.headers
    _drain(graded.app)
    over = graded.client.get(_url(graded, "/status?part=live"), timeout=10)
    assert (
        over.headers["HX-Retarget"] == "#grades-status" and over.headers["HX-Reswap"] == "outerHTML"
    )
    assert over.text.startswith('<section id="grades-status"') and over.text.count(">Sent<") == 3
    assert "hx-trigger" not in over.text  # nothing more to poll
