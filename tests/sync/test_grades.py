"""Grade push over real HTTP against the test LMS's grade service (AGS 2.0)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lti_tool.community.engagement.models import EventKind
from lti_tool.community.grades.services import Rubric, save_rubric
from lti_tool.courses.models import Placement
from lti_tool.demo.install import register_both_sides
from lti_tool.extensions import db, utcnow
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.runtime import runtime_of
from lti_tool.lti.ags import SCOPE_SCORE
from lti_tool.lti.service_token import ServiceToken
from lti_tool.sync.grades import push_status, request_push

from ..lti_harness import CLIENT_ID, INSTRUCTOR, LEARNER, Lms
from .conftest import member
from .grades_helpers import GradedCourse, graded_launch, make_graded_course

pytestmark = pytest.mark.slow


@pytest.fixture
def graded(lms: Lms, app: Flask) -> GradedCourse:
    return make_graded_course(lms, app)


def test_a_push_sends_one_valid_score_per_active_learner(graded: GradedCourse) -> None:
    graded.course.set_roster([member(i) for i in range(9)] + [member(9, status="Inactive")])
    assert graded.course.sync().exit_code == 0
    graded.participate("user-00001", EventKind.ASK, times=2)  # 2 x 2 points
    graded.participate("user-00002", EventKind.ANSWER_ACCEPTED)  # 5 points
    graded.participate("user-00002", EventKind.UPVOTE)  # not in the rubric

    row = graded.push_result()

    latest = graded.latest()
    assert sorted(latest) == [f"user-{i:05d}" for i in range(9)]  # no teacher, no inactive
    assert row["learners"] == 9 and row["sent"] == 9 and row["settled"] == 0
    assert graded.platform.score_requests == 9  # one POST per learner
    for user, score in latest.items():
        assert score["gradingProgress"] == "FullyGraded"
        assert score["activityProgress"] in ("Initialized", "Submitted")
        assert score["scoreMaximum"] == 100
        assert datetime.fromisoformat(score["timestamp"]).tzinfo is not None
        expected = {"user-00001": 4, "user-00002": 5}.get(user, 0)
        assert score["scoreGiven"] == expected, user
    ledger = graded.ledger()
    assert {r.status for r in ledger.values()} == {"sent"}
    assert ledger["user-00002"].sent_score == 5 and ledger["user-00002"].sent_at is not None


def test_a_second_push_with_no_change_sends_nothing(graded: GradedCourse) -> None:
    first = graded.push_result()
    assert first["sent"] == 10
    before = graded.platform.score_requests
    second = graded.push_result()
    assert second["sent"] == 0 and second["changed"] == 0
    assert graded.platform.score_requests == before  # not one request
    graded.participate("user-00003", EventKind.ANSWER)
    earlier = graded.latest()["user-00003"]["timestamp"]
    third = graded.push_result()
    assert third["sent"] == 1 and graded.platform.score_requests == before + 1
    latest = graded.latest()["user-00003"]
    assert latest["scoreGiven"] == 3
    assert datetime.fromisoformat(latest["timestamp"]) > datetime.fromisoformat(earlier)
    text = graded.course.cli(
        "grades", "push", "--issuer", graded.course.lms.issuer, "--context", "course-101"
    )
    assert text.exit_code == 0
    assert "10 learners, 0 sent, 0 settled, 0 refused, 10 unchanged" in text.output


def test_the_rubric_sets_points_weekly_cap_and_maximum(graded: GradedCourse) -> None:
    graded.participate("user-00001", EventKind.ANSWER, times=10)  # this week: 10 x 4 = 40 -> 15
    graded.participate("user-00001", EventKind.ANSWER, times=2, days_ago=8)  # a week before: 8
    graded.participate("user-00002", EventKind.KUDOS_RECEIVED, times=30)  # capped weeks: 15
    graded.participate("user-00003", EventKind.GROUP_POST, times=3)
    with graded.app.app_context():
        save_rubric(
            db.session(),
            graded.placement_id,
            Rubric(answer=4, kudos_received=1, group_post=2, weekly_cap=15, score_maximum=20),
            graded.member_id("teacher-1"),
        )
    graded.push_result()
    latest = graded.latest()
    assert latest["user-00001"]["scoreGiven"] == 20  # 15 + 8, out of at most 20
    assert latest["user-00002"]["scoreGiven"] == 15
    assert latest["user-00003"]["scoreGiven"] == 6
    assert latest["user-00004"]["scoreGiven"] == 0
    assert {s["scoreMaximum"] for s in latest.values()} == {20}


@pytest.mark.parametrize("settings_overrides", [{"HTTP_RETRIES": "1", "HTTP_MAX_WAIT": "2"}])
def test_with_30_percent_of_score_posts_failing_every_learner_ends_with_the_latest_score(
    lms: Lms, app: Flask
) -> None:
    graded = make_graded_course(lms, app, learners=40)
    platform = graded.platform
    platform.ags_failure_rate = 0.3
    platform.ags_retry_after = "1"
    graded.push_result("--wait", "60")
    assert platform.score_failures > 0  # the LMS really failed, and was retried
    for i in range(0, 40, 3):  # new participation: new scores, sent through the same failures
        graded.participate(f"user-{i:05d}", EventKind.ANSWER, times=i % 4 + 1)
    graded.push_result("--wait", "60")
    latest = graded.latest()
    assert len(latest) == 40
    for i in range(40):
        expected = 3 * (i % 4 + 1) if i % 3 == 0 else 0
        assert latest[f"user-{i:05d}"]["scoreGiven"] == expected
    assert {r.status for r in graded.ledger().values()} <= {"sent", "settled"}
    failed_statuses = {500, 503, 429}
    assert set(platform.ags_failure_statuses) == failed_statuses


@pytest.mark.parametrize(
    "settings_overrides",
    [{"HTTP_READ_TIMEOUT": "0.5", "HTTP_RETRIES": "1", "JOBS_BACKOFF_BASE": "1"}],
)
def test_a_hanging_grade_service_fails_the_job_in_bounded_time_then_it_retries(
    graded: GradedCourse,
) -> None:
    graded.platform.ags_hang = threading.Event()
    with graded.app.app_context():
        job_id = request_push(db.session(), graded.placement_id, trigger="test")
        db.session.commit()
    runtime = runtime_of(graded.app)
    started = time.monotonic()
    summary = runtime.drain("test-worker", limit=1)
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed  # 0.5 s read timeouts and one retry: no stuck worker
    assert summary.retry == 1 and summary.done == 0
    with graded.app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.QUEUED and job.locked_by is None
        assert "did not answer in time" in (job.last_error or "")
        run_after = job.run_after
        status = push_status(db.session(), graded.placement_id)
    assert status.state == "retrying" and status.error_code == "timeout"
    assert graded.latest() == {}
    graded.platform.ags_hang.set()  # the LMS recovers
    delay = (run_after - utcnow()).total_seconds()
    assert delay <= 1.0  # the retry comes within the configured backoff
    time.sleep(max(0.0, delay) + 0.05)
    assert runtime.drain("test-worker").done == 1
    assert len(graded.latest()) == 10
    # Scores that reached the LMS before it hung are settled (409), never taken twice.
    assert all(len(t) == 1 for t in graded.platform.scores.values())


def test_a_refused_score_is_shown_with_the_lms_message_and_others_still_go(
    graded: GradedCourse,
) -> None:
    original = graded.platform.take_score

    def refuse_one(item: Any, body: Any) -> None:
        if body["userId"] == "user-00004":
            from lti_tool.demo.platform import PlatformError

            raise PlatformError("invalid_request", "user-00004 is not enrolled here")
        original(item, body)

    graded.platform.take_score = refuse_one
    result = graded.push("--wait", "0")
    assert result.exit_code == 0, result.output
    ledger = graded.ledger()
    assert ledger["user-00004"].status == "failed"
    assert "not enrolled here" in (ledger["user-00004"].error or "")
    assert sum(1 for r in ledger.values() if r.status == "sent") == 9
    graded.platform.take_score = original
    again = graded.push_result()  # the next push tries the refused one again
    assert again["sent"] == 1 and graded.ledger()["user-00004"].status == "sent"


def test_grade_service_tokens_are_kept_per_tenant(lms: Lms, app: Flask) -> None:
    first = make_graded_course(lms, app, "course-a", learners=3)
    platform = lms.platform
    tool = lms.tool_url
    with app.app_context():
        register_both_sides(db.session(), platform, tool, "second-client")
    item = platform.create_line_item(
        "second-client", "course-b", {"label": "B", "scoreMaximum": 10, "resourceLinkId": "rl-b"}
    )
    claim = platform.ags_claim("course-b", lineitem=item["id"])
    for sub, role in (("teacher-b", INSTRUCTOR), ("learner-b", LEARNER)):
        prepared = platform.prepare_launch(
            "second-client",
            user={"sub": sub},
            roles=[role],
            context={"id": "course-b"},
            resource_link={"id": "rl-b"},
            custom={"widget": "qa"},
            ags=claim,
        )
        launched = lms.launch(prepared=prepared)
        assert launched.page is not None and launched.page.status_code == 200

    first.push_result()
    second = first.course.cli(
        "grades",
        "push",
        "--issuer",
        lms.issuer,
        "--client-id",
        "second-client",
        "--context",
        "course-b",
        "--json",
    )
    assert second.exit_code == 0, second.output
    assert sorted(first.latest()) == ["user-00000", "user-00001", "user-00002"]
    assert sorted(platform.latest_scores(item["id"])) == ["learner-b"]
    with app.app_context():
        tokens = {
            (t.client_id, SCOPE_SCORE in t.scopes.split())
            for t in db.session.scalars(select(ServiceToken))
        }
    assert ("bottega-test-client", True) in tokens and ("second-client", True) in tokens

    # The second tenant's placement pointed at the first tenant's line item: its own token is
    # refused there (404, shown with the LMS's words), the first tenant's gradebook untouched,
    # and the push stops at the first 404 (no line item there for it) instead of trying each.
    with app.app_context():
        placement = db.session.scalar(select(Placement).where(Placement.lms_id == "rl-b"))
        assert placement is not None
        placement.services = {"ags": platform.ags_claim("course-a", lineitem=first.lineitem)}
        db.session.commit()
    taken = {k: len(v) for k, v in platform.scores.items()}
    again = first.course.cli(
        "grades",
        "push",
        "--issuer",
        lms.issuer,
        "--client-id",
        "second-client",
        "--context",
        "course-b",
        "--json",
    )
    assert '"status": "dead"' in again.output and "no longer has this line item" in again.output
    assert "learner-b" not in first.latest()
    assert {k: len(v) for k, v in platform.scores.items()} == taken
    ledger_error = next(iter(_ledger_errors(app, "rl-b")))
    assert ledger_error == "not_found: no such line item"  # the LMS's words, no Bottega English


def _ledger_errors(app: Flask, link: str) -> list[str]:
    from lti_tool.sync.grades import GradeScore

    with app.app_context():
        return [
            e
            for e in db.session.scalars(
                select(GradeScore.error)
                .join(Placement, Placement.id == GradeScore.placement_id)
                .where(Placement.lms_id == link)
            )
            if e
        ]


def test_bearer_tokens_never_go_to_another_host(graded: GradedCourse) -> None:
    with graded.app.app_context():
        placement = db.session.get(Placement, graded.placement_id)
        assert placement is not None
        placement.services = {
            "ags": {
                "scope": [SCOPE_SCORE],
                "lineitem": "https://attacker.example/ags/course-101/lineitems/1/lineitem",
            }
        }
        db.session.commit()
    tokens_before = graded.platform.token_requests
    result = graded.push("--wait", "0")
    assert result.exit_code == 1 and "not a host of this LMS registration" in result.output
    assert graded.platform.token_requests == tokens_before
    with graded.app.app_context():
        assert push_status(db.session(), graded.placement_id).error_code == "untrusted_host"


def test_a_placement_placed_as_graded_finds_or_creates_its_line_item_once(
    lms: Lms, app: Flask
) -> None:
    course = make_graded_course(lms, app, learners=2).course
    platform = lms.platform
    claim = platform.ags_claim(course.context_id)  # the container only, no bound line item
    graded_launch(
        lms, app, course.context_id, link="rl-dl", ags=claim, custom={"widget": "qa", "graded": "1"}
    )
    graded_launch(lms, app, course.context_id, link="rl-plain", ags=claim)  # not graded
    result = course.cli(
        "grades", "push", "--issuer", lms.issuer, "--context", course.context_id, "--json"
    )
    assert result.exit_code == 0, result.output
    items = [i for i in platform.line_items.values() if i.get("resourceLinkId") == "rl-dl"]
    assert len(items) == 1 and items[0]["tag"] == "participation"
    assert not [i for i in platform.line_items.values() if i.get("resourceLinkId") == "rl-plain"]
    assert len(platform.latest_scores(items[0]["id"])) == 2
    with app.app_context():  # forget what Bottega stored: it finds the line item again
        from lti_tool.sync.grades import GradePush

        db.session.execute(GradePush.__table__.update().values(lineitem_url=None))
        db.session.commit()
    assert (
        course.cli(
            "grades", "push", "--issuer", lms.issuer, "--context", course.context_id
        ).exit_code
        == 0
    )
    assert len([i for i in platform.line_items.values() if i.get("resourceLinkId") == "rl-dl"]) == 1


@pytest.mark.parametrize("settings_overrides", [{"HTTP_RETRIES": "2"}])
def test_a_line_item_created_behind_a_gateway_error_is_not_created_twice(
    lms: Lms, app: Flask
) -> None:
    """The LMS creates the column, then a gateway answers 502: Bottega does not POST again on
    the spot; its next attempt finds the column and sends the scores to it."""
    course = make_graded_course(lms, app, learners=2).course
    platform = lms.platform
    claim = platform.ags_claim(course.context_id)
    graded_launch(
        lms, app, course.context_id, link="rl-gw", ags=claim, custom={"widget": "qa", "graded": "1"}
    )
    platform.lineitem_create_failures = 1
    args = ("grades", "push", "--issuer", lms.issuer, "--context", course.context_id)
    course.cli(*args)  # the attempt ends on the 502
    assert platform.lineitem_posts == 1  # sent once, though HTTP_RETRIES allows two more
    assert course.cli(*args).exit_code == 0
    items = [i for i in platform.line_items.values() if i.get("resourceLinkId") == "rl-gw"]
    assert len(items) == 1 and platform.lineitem_posts == 1
    assert len(platform.latest_scores(items[0]["id"])) == 2


def test_a_deleted_gradebook_column_is_made_again_with_every_score(lms: Lms, app: Flask) -> None:
    """An instructor deletes Bottega's column in the LMS: the next push that has a score to
    send finds out (404), forgets the column, and the attempt after makes a new one with every
    learner's score, not only the changed one."""
    graded = make_graded_course(lms, app, learners=2)
    course = graded.course
    platform = lms.platform
    claim = platform.ags_claim(course.context_id)
    graded_launch(
        lms,
        app,
        course.context_id,
        link="rl-del",
        ags=claim,
        custom={"widget": "qa", "graded": "1"},
    )
    args = ("grades", "push", "--issuer", lms.issuer, "--context", course.context_id)
    assert course.cli(*args).exit_code == 0

    def columns() -> list[dict[str, Any]]:
        return [i for i in platform.line_items.values() if i.get("resourceLinkId") == "rl-del"]

    [old] = columns()
    platform.line_items = {k: v for k, v in platform.line_items.items() if v is not old}
    graded.participate("user-00001", EventKind.ASK)
    course.cli(*args)  # 404 from the scores endpoint: the column is forgotten
    assert course.cli(*args).exit_code == 0
    [new] = columns()
    assert new["id"] != old["id"] and len(platform.latest_scores(new["id"])) == 2


def test_an_expired_grade_service_token_is_refreshed_once(graded: GradedCourse) -> None:
    graded.push_result()
    tokens_before = graded.platform.token_requests
    graded.participate("user-00001", EventKind.ASK)
    graded.push_result()
    assert graded.platform.token_requests == tokens_before  # cached in the database
    graded.platform.expire_access_tokens()
    graded.participate("user-00002", EventKind.ASK)
    assert graded.push_result()["sent"] == 1
    assert graded.platform.token_requests == tokens_before + 1


def test_a_score_the_lms_holds_a_later_timestamp_for_is_settled_not_retried(
    graded: GradedCourse,
) -> None:
    later = {
        "userId": "user-00005",
        "timestamp": "2099-01-01T00:00:00+00:00",
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "scoreGiven": 99,
        "scoreMaximum": 100,
    }
    graded.platform.take_score(graded.platform.line_items[graded.lineitem], later)
    row = graded.push_result()
    assert row["sent"] == 9 and row["settled"] == 1
    assert graded.ledger()["user-00005"].status == "settled"
    assert graded.latest()["user-00005"]["scoreGiven"] == 99  # the LMS keeps its own
    requests_before = graded.platform.score_requests
    assert graded.push_result()["settled"] == 0  # settled is final: not sent again
    assert graded.platform.score_requests == requests_before


@pytest.mark.parametrize("settings_overrides", [{"GRADES_SCHEDULE_INTERVAL": "3600"}])
def test_the_schedule_pushes_every_graded_placement(graded: GradedCourse) -> None:
    summary = runtime_of(graded.app).drain("w")
    assert summary.scheduled == 1
    assert [o.kind for o in summary.outcomes] == ["grades.push_all", "grades.push"]
    assert summary.outcomes[0].result == {"queued": 1}
    assert len(graded.latest()) == 10


@pytest.mark.parametrize("settings_overrides", [{"JOBS_DEAD_AFTER": "0", "HTTP_RETRIES": "0"}])
def test_a_push_failing_past_the_dead_letter_age_is_dead_and_says_why(
    graded: GradedCourse,
) -> None:
    graded.platform.ags_failure_rate = 1.0
    graded.platform.ags_failure_statuses = (503,)
    with graded.app.app_context():
        job_id = request_push(db.session(), graded.placement_id, trigger="test")
        db.session.commit()
    assert runtime_of(graded.app).drain("w").dead == 1
    with graded.app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.DEAD
        assert "10 scores left to send" in (job.last_error or "")
        status = push_status(db.session(), graded.placement_id)
    assert status.state == "failed" and status.error_code == "server_error"
    assert "simulated failure" in (status.error_detail or "")
    assert {r.status for r in graded.ledger().values()} == {"pending"}
    page = graded.client.get(
        f"{graded.course.lms.tool_url}/w/{graded.lid}/grades/{graded.placement_id}", timeout=10
    )
    assert "The LMS had an internal error." in page.text and "simulated failure" in page.text


def test_the_default_rubric_grades_out_of_the_line_items_maximum(lms: Lms, app: Flask) -> None:
    course = make_graded_course(lms, app, learners=2).course
    item = lms.platform.create_line_item(
        CLIENT_ID,
        course.context_id,
        {"label": "Su 30", "scoreMaximum": 30, "resourceLinkId": "r30"},
    )
    graded_launch(
        lms,
        app,
        course.context_id,
        link="r30",
        ags=lms.platform.ags_claim(course.context_id, lineitem=item["id"]),
    )
    result = course.cli(
        "grades", "push", "--issuer", lms.issuer, "--context", course.context_id, "--json"
    )
    assert result.exit_code == 0, result.output
    assert {s["scoreMaximum"] for s in lms.platform.latest_scores(item["id"]).values()} == {30}


@pytest.mark.parametrize(
    "settings_overrides",
    [{"HTTP_RETRIES": "1", "HTTP_MAX_WAIT": "2", "GRADES_CONCURRENCY": "4"}],
)
def test_an_lms_asking_to_slow_down_pauses_the_whole_push(lms: Lms, app: Flask) -> None:
    """429 on every score: after one score's own retry the push stops and comes back after the
    Retry-After, rather than costing the LMS two more requests for each of 60 learners."""
    graded = make_graded_course(lms, app, learners=60)
    graded.platform.ags_failure_rate = 1.0
    graded.platform.ags_failure_statuses = (429,)
    graded.platform.ags_retry_after = "1"
    with graded.app.app_context():
        job_id = request_push(db.session(), graded.placement_id, trigger="test")
        db.session.commit()
    summary = runtime_of(graded.app).drain("w", limit=1)
    assert summary.retry == 1
    assert graded.platform.score_failures <= 2 * 4  # the four in flight, each tried twice
    with graded.app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.QUEUED
        status = push_status(db.session(), graded.placement_id)
    assert status.state == "retrying" and status.error_code == "rate_limited"
    assert {r.status for r in graded.ledger().values()} == {"pending"}
