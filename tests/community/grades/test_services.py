"""Participation scores from engagement events, by rubric; and the rubric form's checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from lti_tool.community.engagement.models import EventKind, ParticipationEvent
from lti_tool.community.engagement.services import record
from lti_tool.community.grades.services import (
    Rubric,
    RubricError,
    active_learners,
    compute_scores,
    parse_rubric,
)
from lti_tool.community.moderation import services as moderation
from lti_tool.community.qa import services as qa
from lti_tool.courses.models import Enrolment, EnrolmentStatus
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

from ..qa.conftest import CourseWorld, make_course, make_platform

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(app: Flask) -> CourseWorld:
    with app.app_context():
        platform = make_platform("https://lms.example.org")
        return make_course(
            platform,
            "c1",
            {
                "giulia": ("Giulia", CourseRole.LEARNER),
                "marco": ("Marco", CourseRole.LEARNER),
                "sara": ("Sara", CourseRole.LEARNER),
                "prof": ("Prof", CourseRole.INSTRUCTOR),
            },
        )


def _events(world: CourseWorld, key: str, kind: EventKind, at: datetime, n: int = 1) -> None:
    for i in range(n):
        record(
            db.session(),
            course_id=world.course_id,
            member_id=world[key].member_id,
            kind=kind,
            subject_type="qa_answer",
            subject_id=i,
            at=at,
        )
    db.session.commit()


def _scores(world: CourseWorld, rubric: Rubric) -> dict[str, float]:
    learners = active_learners(db.session(), world.course_id)
    scores = compute_scores(db.session(), world.course_id, rubric, [x.member_id for x in learners])
    names = {world[k].member_id: k for k in world.actors}
    return {names[m]: s for m, s in scores.items()}


def test_every_active_learner_gets_a_score_zero_included(app: Flask, world: CourseWorld) -> None:
    with app.app_context():
        _events(world, "giulia", EventKind.ASK, MONDAY, n=2)
        _events(world, "giulia", EventKind.ENDORSEMENT_RECEIVED, MONDAY)
        _events(world, "prof", EventKind.ANSWER, MONDAY)  # staff are not graded
        enrolment = db.session.query(Enrolment).filter_by(member_id=world["sara"].member_id).one()
        enrolment.status = EnrolmentStatus.INACTIVE
        db.session.commit()
        assert _scores(world, Rubric()) == {"giulia": 7.0, "marco": 0.0}


def test_each_kind_counts_its_points_and_others_count_nothing(
    app: Flask, world: CourseWorld
) -> None:
    rubric = Rubric(
        question=1,
        answer=10,
        accepted_answer=100,
        endorsement=1000,
        kudos_received=0.5,
        group_post=0.25,
        score_maximum=10000,
    )
    with app.app_context():
        for kind in (
            EventKind.ASK,
            EventKind.ANSWER,
            EventKind.ANSWER_ACCEPTED,
            EventKind.ENDORSEMENT_RECEIVED,
            EventKind.KUDOS_RECEIVED,
            EventKind.GROUP_POST,
            EventKind.UPVOTE_RECEIVED,
            EventKind.COMMENT,
            EventKind.KUDOS_GIVEN,
        ):
            _events(world, "marco", kind, MONDAY)
        assert _scores(world, rubric)["marco"] == 1111.75


def test_the_weekly_cap_and_the_maximum_bound_the_score(app: Flask, world: CourseWorld) -> None:
    with app.app_context():
        _events(world, "giulia", EventKind.ANSWER, MONDAY, n=5)  # 15 points in week 1
        _events(world, "giulia", EventKind.ANSWER, MONDAY + timedelta(days=6, hours=14), n=1)
        _events(world, "giulia", EventKind.ANSWER, MONDAY + timedelta(days=7), n=2)  # week 2: 6
        _events(world, "marco", EventKind.ANSWER, MONDAY, n=40)  # 120, capped at 10 a week
        capped = _scores(world, Rubric(weekly_cap=10))
        assert capped["giulia"] == 16.0  # 10 (capped) + 6
        assert capped["marco"] == 10.0
        assert _scores(world, Rubric(score_maximum=50))["marco"] == 50.0


def test_a_deleted_post_earns_its_author_nothing(app: Flask, world: CourseWorld) -> None:
    """Asking and deleting again and again, or spam a moderator deleted, adds no points; what
    others did on the post stays theirs."""
    with app.app_context():
        session = db.session()
        farmed = [
            qa.ask(session, world["giulia"], qa.QuestionInput(title=f"Domanda {i}", body="?"))
            for i in range(3)
        ]
        for question in farmed:
            qa.delete_question(session, world["giulia"], question.id)
        kept = qa.ask(session, world["marco"], qa.QuestionInput(title="Una domanda", body="?"))
        spam = qa.answer(session, world["giulia"], kept.id, "Compra ora!")
        qa.toggle_endorse(session, world["prof"], "answer", spam.id)
        qa.answer(session, world["sara"], kept.id, "La risposta.")
        note = qa.comment(session, world["giulia"], kept.id, "Anche qui: compra ora!")
        # The deleted questions are gone already; the answer and its endorsement count.
        assert _scores(world, Rubric()) == {"giulia": 6.0, "marco": 2.0, "sara": 3.0}
        qa.delete_answer(session, world["prof"], spam.id)  # a moderator removes it
        qa.delete_comment(session, world["giulia"], note.id)
        assert _scores(world, Rubric()) == {"giulia": 0.0, "marco": 2.0, "sara": 3.0}
        kinds = session.scalars(
            select(ParticipationEvent.kind).where(
                ParticipationEvent.member_id == world["giulia"].member_id
            )
        ).all()
        assert kinds == []
        staff = session.scalars(
            select(ParticipationEvent.kind).where(
                ParticipationEvent.member_id == world["prof"].member_id
            )
        ).all()
        assert staff == [EventKind.ENDORSE.value]  # the endorsement stays the instructor's


def test_a_hidden_post_earns_nothing_until_restored(app: Flask, world: CourseWorld) -> None:
    with app.app_context():
        session = db.session()
        question = qa.ask(session, world["giulia"], qa.QuestionInput(title="Una domanda", body="?"))
        spam = qa.answer(session, world["marco"], question.id, "Compra ora!")
        qa.toggle_endorse(session, world["prof"], "answer", spam.id)
        assert _scores(world, Rubric())["marco"] == 6.0
        moderation.hide_post(
            session, world.course_id, world["prof"].member_id, "qa_answer", spam.id, "Pubblicità"
        )
        assert _scores(world, Rubric()) == {"giulia": 2.0, "marco": 0.0, "sara": 0.0}
        moderation.restore_post(
            session, world.course_id, world["prof"].member_id, "qa_answer", spam.id, "Errore"
        )
        assert _scores(world, Rubric())["marco"] == 6.0


def test_a_rubric_form_is_checked_field_by_field() -> None:
    form = {
        "question": "2",
        "answer": "3,5",
        "accepted_answer": "5",
        "endorsement": "3",
        "kudos_received": "1",
        "group_post": "1",
        "weekly_cap": "",
        "score_maximum": "100",
    }
    assert parse_rubric(form) == Rubric(answer=3.5)
    with pytest.raises(RubricError) as caught:
        parse_rubric(
            {
                **form,
                "question": "tre",
                "group_post": "-1",
                "score_maximum": "0",
                "weekly_cap": "nan",
            }
        )
    assert caught.value.problems == {
        "question": "number",
        "group_post": "range",
        "score_maximum": "range",
        "weekly_cap": "range",
    }


def test_a_vote_taken_back_leaves_a_finished_weeks_figures(app: Flask, world: CourseWorld) -> None:
    """A vote given in a week that has ended, then withdrawn: the week's figures (computed
    once and kept) are computed again without it."""
    from sqlalchemy import update

    from lti_tool.community.dashboard import metrics

    with app.app_context():
        session = db.session()
        question = qa.ask(session, world["marco"], qa.QuestionInput(title="Una domanda", body="?"))
        answer = qa.answer(session, world["sara"], question.id, "La risposta.")
        qa.toggle_vote(session, world["giulia"], "answer", answer.id)
        last_week = metrics.monday(datetime.now(UTC).date()) - timedelta(weeks=1)
        session.execute(
            update(ParticipationEvent)
            .where(ParticipationEvent.member_id == world["giulia"].member_id)
            .values(created_at=datetime.combine(last_week, datetime.min.time(), UTC))
        )
        session.commit()
        [week] = metrics.weekly(session, world.course_id, last_week, last_week)
        assert week.active == 1  # Giulia's vote was her only activity that week
        qa.toggle_vote(session, world["giulia"], "answer", answer.id)  # taken back
        [week] = metrics.weekly(session, world.course_id, last_week, last_week)
        assert week.active == 0
