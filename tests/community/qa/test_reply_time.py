"""The typical time to a first answer: what it counts, and how long a page keeps it."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask

from lti_tool.community.qa import queries
from lti_tool.community.qa.models import Question, QuestionState
from lti_tool.courses.models import Platform
from lti_tool.extensions import db, utcnow

from .conftest import PEOPLE, CourseWorld, make_course, sign_in

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=utcnow().tzinfo)


def asked(
    world: CourseWorld,
    answered_after: timedelta | None,
    *,
    at: datetime = NOW - timedelta(days=1),
    title: str = "A question",
) -> Question:
    question = Question(
        course_id=world.course_id,
        author_id=world["marco"].member_id,
        title=title,
        state=QuestionState.ANSWERED if answered_after is not None else QuestionState.UNANSWERED,
        created_at=at,
        updated_at=at,
        last_activity_at=at,
        first_answer_at=at + answered_after if answered_after is not None else None,
    )
    db.session.add(question)
    db.session.commit()
    return question


def typical(world: CourseWorld) -> timedelta | None:
    return queries.typical_reply_time(db.session(), world.course_id, now=NOW)


def test_the_typical_reply_time_is_the_median_first_answer_wait(world: CourseWorld) -> None:
    asked(world, None)  # unanswered questions do not count
    asked(world, timedelta(hours=5, seconds=1))
    asked(world, timedelta(hours=1))
    assert typical(world) is None  # fewer than three answered questions
    asked(world, timedelta(hours=2))
    assert typical(world) == timedelta(hours=2)
    asked(world, timedelta(hours=9))
    # An even count: halfway between the middle two, to the microsecond.
    assert typical(world) == timedelta(hours=3, minutes=30, microseconds=500_000)


def test_deleted_questions_do_not_count(world: CourseWorld) -> None:
    for hours in (4, 5, 6):
        asked(world, timedelta(hours=hours))
    spam = asked(world, timedelta(minutes=1), title="Buy cheap essays")
    assert typical(world) == timedelta(hours=4, minutes=30)
    spam.deleted_at = NOW - timedelta(hours=12)
    db.session.commit()
    assert typical(world) == timedelta(hours=5)


def test_only_the_last_30_days_of_the_same_course_count(world: CourseWorld) -> None:
    for hours in (1, 2, 3):
        asked(world, timedelta(hours=hours), at=NOW - timedelta(days=30))
    for hours in (10, 20, 30):
        asked(world, timedelta(hours=hours), at=NOW - timedelta(days=30, seconds=1))
    other = make_course(db.session.get(Platform, world.platform_id), "course-2", PEOPLE)
    for hours in (40, 50, 60):
        asked(other, timedelta(hours=hours))
    assert typical(world) == timedelta(hours=2)
    assert typical(other) == timedelta(hours=50)


def test_each_process_keeps_a_course_s_reply_time_for_minutes(world: CourseWorld) -> None:
    clock = [1000.0]
    times = queries.ReplyTimes(ttl=600, clock=lambda: clock[0])
    other = make_course(db.session.get(Platform, world.platform_id), "course-2", PEOPLE)
    for hours in (1, 2, 3):
        asked(world, timedelta(hours=hours), at=utcnow() - timedelta(days=1))
    assert times.get(db.session(), world.course_id) == timedelta(hours=2)
    assert times.get(db.session(), other.course_id) is None
    for hours in (7, 8):  # answered since: not seen until the kept value is 10 minutes old
        asked(world, timedelta(hours=hours), at=utcnow() - timedelta(days=1))
    clock[0] += 599
    assert times.get(db.session(), world.course_id) == timedelta(hours=2)
    clock[0] += 1
    assert times.get(db.session(), world.course_id) == timedelta(hours=3)


def test_the_kept_reply_times_are_bounded(world: CourseWorld) -> None:
    times = queries.ReplyTimes(size=2)
    for course_id in (world.course_id, 998, 999):
        times.get(db.session(), course_id)
    assert list(times._values) == [998, 999]


def test_an_unanswered_question_page_does_not_read_the_answered_questions_each_time(
    app: Flask, site: CourseWorld
) -> None:
    clock = [1000.0]
    app.extensions["bottega_reply_times"] = queries.ReplyTimes(ttl=600, clock=lambda: clock[0])
    with app.app_context():
        for hours in (1, 2, 5):
            asked(site, timedelta(hours=hours), at=utcnow() - timedelta(days=1))
        waiting = asked(site, None, at=utcnow(), title="Still waiting").id
    giulia = sign_in(app, site, "giulia")
    expect = "No answer yet. Questions here usually get a first answer within %s."
    assert expect % "2 hours" in giulia.get(f"/w/L1/qa/{waiting}").get_data(as_text=True)
    with app.app_context():
        for hours in (20, 30):
            asked(site, timedelta(hours=hours), at=utcnow() - timedelta(days=1))
    # The same for a few minutes (the median of 5 questions would be 5 hours).
    assert expect % "2 hours" in giulia.get(f"/w/L1/qa/{waiting}").get_data(as_text=True)
    clock[0] += 600
    assert expect % "5 hours" in giulia.get(f"/w/L1/qa/{waiting}").get_data(as_text=True)
