"""Pulse use cases: staff open and close, students answer and change, staff read figures only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.community.pulse import services
from lti_tool.community.pulse.models import PulseAnswer, PulseSurvey
from lti_tool.community.pulse.services import Conflict, InvalidInput, NotFound, PermissionDenied
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db, utcnow

from .conftest import CourseWorld, make_course, make_platform, pulse_actor

LEARNERS = {
    "giulia": ("Giulia Rossi", CourseRole.LEARNER),
    "marco": ("Marco Bianchi", CourseRole.LEARNER),
    "sara": ("Sara Verdi", CourseRole.LEARNER),
}


def _open(world: CourseWorld, **kwargs: object) -> PulseSurvey:
    return services.open_pulse(db.session(), pulse_actor(world, "prof"), **kwargs)  # type: ignore[arg-type]


def test_staff_open_a_pulse_with_the_default_question_for_seven_days(world: CourseWorld) -> None:
    pulse = _open(world)
    assert pulse.question == ""
    assert services.question_text(pulse) == "How is the course going for you?"
    assert pulse.allow_comments is True
    assert timedelta(days=7) - (pulse.closes_at - pulse.opened_at) == timedelta(0)
    assert services.current_pulse(db.session(), world.course_id) == pulse


@pytest.mark.parametrize("who", ["prof", "ta", "cm"])
def test_instructors_tas_and_community_managers_open_pulses(world: CourseWorld, who: str) -> None:
    pulse = services.open_pulse(
        db.session(), pulse_actor(world, who), question="  Is the pace   right? ", days="3"
    )
    assert pulse.question == "Is the pace right?"
    assert pulse.closes_at - pulse.opened_at == timedelta(days=3)


def test_students_cannot_open_a_pulse(world: CourseWorld) -> None:
    with pytest.raises(PermissionDenied):
        services.open_pulse(db.session(), pulse_actor(world, "giulia"), days=7)
    assert services.current_pulse(db.session(), world.course_id) is None


@pytest.mark.parametrize(
    ("question", "days", "field"),
    [
        ("Why?", 7, "question"),  # 4 characters
        ("x" * 201, 7, "question"),
        ("", 0, "days"),
        ("", 31, "days"),
        ("", "a week", "days"),
        ("", None, "days"),
    ],
)
def test_opening_checks_the_question_and_the_days(
    world: CourseWorld, question: str, days: object, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _open(world, question=question, days=days)
    assert set(refused.value.errors) == {field}
    assert db.session.scalar(select(func.count()).select_from(PulseSurvey)) == 0


def test_edges_of_the_question_and_days_are_accepted(world: CourseWorld) -> None:
    pulse = _open(world, question="x" * 200, days=30)
    services.close_pulse(db.session(), pulse_actor(world, "prof"), pulse.id)
    assert _open(world, question="Pace?", days=1).question == "Pace?"


def test_one_open_pulse_per_course(world: CourseWorld) -> None:
    first = _open(world)
    with pytest.raises(Conflict) as refused:
        _open(world, question="Another one?")
    assert "already open" in str(refused.value.message)
    services.close_pulse(db.session(), pulse_actor(world, "ta"), first.id)
    assert services.current_pulse(db.session(), world.course_id) is None
    second = _open(world, question="And now?")
    assert services.current_pulse(db.session(), world.course_id) == second


def test_a_pulse_past_its_days_is_closed(world: CourseWorld) -> None:
    pulse = _open(world, days=1)
    pulse.closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert not services.is_open(pulse)
    assert services.current_pulse(db.session(), world.course_id) is None
    assert _open(world).id != pulse.id  # a new one may open
    with pytest.raises(Conflict):
        services.answer(db.session(), pulse_actor(world, "giulia"), pulse.id, score=4)


def test_students_answer_once_and_may_change_while_open(world: CourseWorld) -> None:
    pulse = _open(world)
    giulia = pulse_actor(world, "giulia")
    services.answer(db.session(), giulia, pulse.id, score="2", comment="  Too fast  ")
    changed = services.answer(db.session(), giulia, pulse.id, score=4, comment="Better now")
    assert (changed.score, changed.comment) == (4, "Better now")
    rows = db.session.scalars(select(PulseAnswer)).all()
    assert [(r.member_id, r.score) for r in rows] == [(giulia.member_id, 4)]
    prompt = services.prompt_for(db.session(), giulia)
    assert prompt is not None and prompt.answer is not None and prompt.answer.score == 4
    services.close_pulse(db.session(), pulse_actor(world, "prof"), pulse.id)
    with pytest.raises(Conflict):
        services.answer(db.session(), giulia, pulse.id, score=1)
    assert services.my_answer(db.session(), pulse.id, giulia.member_id).score == 4  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("score", "comment", "field"),
    [
        (None, "", "score"),
        ("0", "", "score"),
        ("6", "", "score"),
        ("x", "", "score"),
        ("3", "y" * 1001, "comment"),
    ],
)
def test_answers_are_checked(world: CourseWorld, score: object, comment: str, field: str) -> None:
    pulse = _open(world)
    with pytest.raises(InvalidInput) as refused:
        services.answer(
            db.session(),
            pulse_actor(world, "giulia"),
            pulse.id,
            score=score,
            comment=comment,  # type: ignore[arg-type]
        )
    assert set(refused.value.errors) == {field}
    assert services.my_answer(db.session(), pulse.id, world["giulia"].member_id) is None


def test_a_comment_of_the_limit_is_kept_and_none_when_comments_are_off(world: CourseWorld) -> None:
    pulse = _open(world)
    kept = services.answer(
        db.session(), pulse_actor(world, "giulia"), pulse.id, score=3, comment="y" * 1000
    )
    assert kept.comment == "y" * 1000
    services.close_pulse(db.session(), pulse_actor(world, "prof"), pulse.id)
    quiet = _open(world, allow_comments=False)
    dropped = services.answer(
        db.session(), pulse_actor(world, "giulia"), quiet.id, score=3, comment="hi"
    )
    assert dropped.comment == ""


@pytest.mark.parametrize("who", ["prof", "ta", "cm"])
def test_staff_do_not_answer(world: CourseWorld, who: str) -> None:
    pulse = _open(world)
    with pytest.raises(PermissionDenied):
        services.answer(db.session(), pulse_actor(world, who), pulse.id, score=5)
    assert services.prompt_for(db.session(), pulse_actor(world, who)) is None


def test_results_are_withheld_below_three_answers(world: CourseWorld) -> None:
    pulse = _open(world)
    services.answer(db.session(), pulse_actor(world, "giulia"), pulse.id, score=1, comment="Lost")
    services.answer(db.session(), pulse_actor(world, "marco"), pulse.id, score=5)
    few = services.results(db.session(), world.course_id, pulse.id)
    # Three active learners: giulia, marco, sara (not the community manager, not staff).
    assert (few.answers, few.learners, few.learners_answered, few.rate_percent) == (2, 3, 2, 67)
    assert not few.shown
    assert (few.distribution, few.mean, few.comments) == ({}, None, [])

    services.answer(db.session(), pulse_actor(world, "sara"), pulse.id, score=3, comment="ok")
    enough = services.results(db.session(), world.course_id, pulse.id)
    assert enough.shown and enough.rate_percent == 100
    assert enough.distribution == {1: 1, 2: 0, 3: 1, 4: 0, 5: 1}
    assert enough.mean == pytest.approx(3.0)
    assert enough.comments == ["Lost", "ok"]  # by text, not by who or when


def test_history_lists_pulses_with_means_from_three_answers(world: CourseWorld) -> None:
    prof = pulse_actor(world, "prof")
    old = _open(world, question="First week?")
    for key, score in (("giulia", 2), ("marco", 3), ("sara", 3)):
        services.answer(db.session(), pulse_actor(world, key), old.id, score=score)
    services.close_pulse(db.session(), prof, old.id)
    new = _open(world, question="Second week?")
    services.answer(db.session(), pulse_actor(world, "giulia"), new.id, score=5)
    past = services.history(db.session(), world.course_id)
    assert [(p.pulse.id, p.answers) for p in past] == [(new.id, 1), (old.id, 3)]
    assert past[0].mean is None
    assert past[1].mean == pytest.approx(8 / 3)


def test_another_courses_pulse_is_not_found(world: CourseWorld) -> None:
    other = make_course(
        make_platform("https://other.example.org"),
        "course-2",
        {**LEARNERS, "prof": ("Other Prof", CourseRole.INSTRUCTOR)},
    )
    theirs = services.open_pulse(db.session(), pulse_actor(other, "prof"), days=7)
    ours = _open(world)  # each course has its own open pulse
    assert services.current_pulse(db.session(), world.course_id) == ours
    with pytest.raises(NotFound):
        services.answer(db.session(), pulse_actor(world, "giulia"), theirs.id, score=3)
    with pytest.raises(NotFound):
        services.results(db.session(), world.course_id, theirs.id)
    with pytest.raises(NotFound):
        services.close_pulse(db.session(), pulse_actor(world, "prof"), theirs.id)
    assert services.is_open(theirs)
    assert services.history(db.session(), world.course_id)[0].pulse.id == ours.id
    assert len(services.history(db.session(), world.course_id)) == 1


def test_three_staff_opening_at_once_open_one_pulse(app: Flask, world: CourseWorld) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite has one writer at a time)")
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def open_one(who: str) -> None:
        with app.app_context(), Session(db.engine) as session:
            barrier.wait(10)
            try:
                services.open_pulse(session, pulse_actor(world, who), question=f"From {who}?")
                outcomes.append("opened")
            except Conflict:
                session.rollback()
                outcomes.append("conflict")

    threads = [threading.Thread(target=open_one, args=(w,)) for w in ("prof", "ta", "cm")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict", "conflict", "opened"]
    assert db.session.scalar(select(func.count()).select_from(PulseSurvey)) == 1


def test_two_tabs_answering_at_once_leave_one_answer(app: Flask, world: CourseWorld) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite has one writer at a time)")
    pulse_id = _open(world).id  # read here: the threads must not touch this thread's session
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def send(score: int) -> None:
        with app.app_context(), Session(db.engine) as session:
            barrier.wait(10)
            try:
                services.answer(session, pulse_actor(world, "giulia"), pulse_id, score=score)
            except Exception as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in (2, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    scores = db.session.scalars(select(PulseAnswer.score)).all()
    assert len(scores) == 1 and scores[0] in (2, 5)
