"""Badges: rules are rows, each fires once per member, and any capability's events trigger them."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.community.engagement.models import EventKind
from lti_tool.community.engagement.services import record
from lti_tool.community.notifications.models import Notification
from lti_tool.community.qa import services as qa
from lti_tool.community.qa.services import QuestionInput
from lti_tool.community.recognition import services
from lti_tool.community.recognition.evaluation import (
    JOB_KIND,
    evaluate_member,
    longest_weekly_streak,
)
from lti_tool.community.recognition.models import BadgeAward, BadgeRule, RuleMode
from lti_tool.community.recognition.rules import active_rules
from lti_tool.extensions import db, utcnow
from lti_tool.jobs.models import Job
from lti_tool.jobs.runtime import runtime_of

from .conftest import CourseWorld


def _events(world: CourseWorld, key: str, kind: EventKind, n: int = 1, **extra: object) -> None:
    for i in range(n):
        record(
            db.session(),
            course_id=world.course_id,
            member_id=world[key].member_id,
            kind=kind,
            subject_type=str(extra.get("subject_type", "qa_answer")),
            subject_id=1000 + i,
            actor_id=extra.get("actor_id"),  # type: ignore[arg-type]
            at=extra.get("at"),  # type: ignore[arg-type]
        )
    db.session.commit()


def _badges(world: CourseWorld, key: str) -> list[str]:
    return sorted(
        db.session.scalars(
            select(BadgeRule.code)
            .join(BadgeAward, BadgeAward.rule_id == BadgeRule.id)
            .where(
                BadgeAward.course_id == world.course_id,
                BadgeAward.member_id == world[key].member_id,
            )
        )
    )


def _evaluate(world: CourseWorld, key: str) -> list[str]:
    awarded = evaluate_member(db.session(), world.course_id, world[key].member_id)
    db.session.commit()
    return [a.rule.code for a in awarded]


def test_the_rules_are_rows_in_a_table(world: CourseWorld) -> None:
    codes = [r.code for r in active_rules(db.session())]
    assert codes == [
        "first_question",
        "first_answer",
        "first_accepted_answer",
        "helpful_10",
        "helped_5_peers",
        "kudos_5",
        "active_4_weeks",
        "group_facilitator",
    ]


def test_a_first_question_badge_fires_exactly_once(world: CourseWorld) -> None:
    qa.ask(db.session(), world["giulia"], QuestionInput(title="Come si integra x?"))
    assert _evaluate(world, "giulia") == ["first_question"]
    qa.ask(db.session(), world["giulia"], QuestionInput(title="E come si deriva?"))
    assert _evaluate(world, "giulia") == []  # evaluated again: nothing new
    assert _badges(world, "giulia") == ["first_question"]
    notes = db.session.scalars(select(Notification.excerpt).where(Notification.kind == "badge"))
    assert list(notes) == ["First question"]


def test_what_a_hidden_post_earned_counts_towards_no_badge(world: CourseWorld) -> None:
    from lti_tool.community.moderation.services import hide_post, restore_post

    _events(world, "marco", EventKind.UPVOTE_RECEIVED, 10, actor_id=world["sara"].member_id)
    prof = world["prof"].member_id
    hide_post(db.session(), world.course_id, prof, "qa_answer", 1000, "spam")  # 1 of 10 votes
    db.session.commit()
    assert "helpful_10" not in _evaluate(world, "marco")
    restore_post(db.session(), world.course_id, prof, "qa_answer", 1000, "not spam after all")
    db.session.commit()
    assert "helpful_10" in _evaluate(world, "marco")


def test_thresholds_count_events(world: CourseWorld) -> None:
    _events(world, "marco", EventKind.UPVOTE_RECEIVED, 9, actor_id=world["sara"].member_id)
    assert "helpful_10" not in _evaluate(world, "marco")
    _events(world, "marco", EventKind.UPVOTE_RECEIVED, 1, actor_id=world["sara"].member_id)
    assert "helpful_10" in _evaluate(world, "marco")


def test_helped_five_peers_counts_different_people(world: CourseWorld) -> None:
    peers = ["giulia", "sara", "cm", "prof", "ta"]
    # Many votes from one classmate are one peer helped.
    _events(world, "marco", EventKind.UPVOTE_RECEIVED, 6, actor_id=world["giulia"].member_id)
    assert "helped_5_peers" not in _evaluate(world, "marco")
    for key in peers[1:4]:
        _events(world, "marco", EventKind.ANSWER_ACCEPTED, actor_id=world[key].member_id)
    assert "helped_5_peers" not in _evaluate(world, "marco")
    # A vote on a question is not help given with an answer.
    _events(
        world,
        "marco",
        EventKind.UPVOTE_RECEIVED,
        actor_id=world["ta"].member_id,
        subject_type="qa_question",
    )
    assert "helped_5_peers" not in _evaluate(world, "marco")
    _events(world, "marco", EventKind.UPVOTE_RECEIVED, actor_id=world["ta"].member_id)
    assert "helped_5_peers" in _evaluate(world, "marco")


def test_four_weeks_in_a_row(world: CourseWorld) -> None:
    now = utcnow()
    for weeks_ago in (0, 1, 2, 4):  # a gap: 3 in a row
        _events(world, "sara", EventKind.COMMENT, at=now - timedelta(weeks=weeks_ago))
    assert "active_4_weeks" not in _evaluate(world, "sara")
    _events(world, "sara", EventKind.ANSWER, at=now - timedelta(weeks=3))
    assert "active_4_weeks" in _evaluate(world, "sara")


def test_received_events_do_not_make_a_member_active(world: CourseWorld) -> None:
    now = utcnow()
    for weeks_ago in range(5):
        _events(world, "sara", EventKind.UPVOTE_RECEIVED, at=now - timedelta(weeks=weeks_ago))
    assert "active_4_weeks" not in _evaluate(world, "sara")


def test_weekly_streaks() -> None:
    from datetime import date

    monday = date(2026, 11, 2)
    assert longest_weekly_streak([]) == 0
    assert longest_weekly_streak([monday, monday + timedelta(days=6)]) == 1  # Monday..Sunday
    assert longest_weekly_streak([monday + timedelta(weeks=w) for w in (0, 1, 2, 5, 6)]) == 3
    assert longest_weekly_streak([monday - timedelta(days=1), monday]) == 2  # Sunday, Monday


def test_group_facilitator_and_kudos_badges(world: CourseWorld) -> None:
    _events(world, "sara", EventKind.GROUP_FACILITATOR, subject_type="groups_group")
    _events(world, "sara", EventKind.KUDOS_RECEIVED, 5, subject_type="kudos_award")
    assert set(_evaluate(world, "sara")) == {"group_facilitator", "kudos_5"}


def test_a_new_rule_is_data_only(world: CourseWorld) -> None:
    active_rules(db.session())
    db.session.add(
        BadgeRule(
            code="three_comments",
            name="Three comments",
            kinds="comment",
            mode=RuleMode.COUNT.value,
            threshold=3,
            position=99,
        )
    )
    db.session.commit()
    _events(world, "sara", EventKind.COMMENT, 3)
    assert "three_comments" in _evaluate(world, "sara")
    assert services.celebrations(db.session(), world.course_id)[0].badge == "Three comments"


def test_committed_events_of_any_capability_queue_an_evaluation(
    app: Flask, world: CourseWorld
) -> None:
    qa.ask(db.session(), world["giulia"], QuestionInput(title="Una domanda qualsiasi"))
    jobs = list(db.session.scalars(select(Job).where(Job.kind == JOB_KIND)))
    assert len(jobs) == 1
    assert jobs[0].payload == {"members": [[world.course_id, world["giulia"].member_id]]}
    # A rolled-back transaction queues nothing.
    record(
        db.session(),
        course_id=world.course_id,
        member_id=world["marco"].member_id,
        kind=EventKind.ASK,
        subject_type="qa_question",
        subject_id=1,
    )
    db.session.flush()
    db.session.rollback()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Job)) == 1
    summary = runtime_of(app).drain("test-worker")
    assert [(o.kind, o.result) for o in summary.outcomes if o.kind == JOB_KIND] == [
        (JOB_KIND, {"awarded": 1})
    ]
    db.session.expire_all()
    assert _badges(world, "giulia") == ["first_question"]
    feed = services.celebrations(db.session(), world.course_id)
    assert [(c.name, c.badge) for c in feed] == [("Giulia Rossi", "First question")]


def test_the_badge_notification_is_in_the_members_language(world: CourseWorld) -> None:
    from lti_tool.courses.models import Member

    member = db.session.get(Member, world["giulia"].member_id)
    assert member is not None
    member.locale = "it"
    db.session.commit()
    _events(world, "giulia", EventKind.ASK, subject_type="qa_question")
    _evaluate(world, "giulia")
    note = db.session.scalar(select(Notification.excerpt).where(Notification.kind == "badge"))
    assert note == "Prima domanda"


def test_concurrent_evaluations_award_once(app: Flask, world: CourseWorld) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite has one writer at a time)")
    _events(world, "giulia", EventKind.ASK, subject_type="qa_question")
    active_rules(db.session())  # the default rules are in the table before the race
    db.session.commit()
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            with app.app_context(), Session(db.engine) as session:
                barrier.wait(10)
                awarded = evaluate_member(session, world.course_id, world["giulia"].member_id)
                session.commit()
                results.append(len(awarded))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sum(results) == 1
    assert _badges(world, "giulia") == ["first_question"]
    assert (
        db.session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == "badge")
        )
        == 1
    )


def test_the_backfill_command_awards_earned_badges_once(
    app: Flask, site: CourseWorld, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        record(
            db.session(),
            course_id=site.course_id,
            member_id=site["giulia"].member_id,
            kind=EventKind.ASK,
            subject_type="qa_question",
            subject_id=1,
        )
        db.session.commit()
    first = runner.invoke(args=["badges", "evaluate", "--all"])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == f"course {site.course_id}: 1 badges awarded"
    again = runner.invoke(args=["badges", "evaluate", "--all", "--json"])
    assert again.exit_code == 0 and '"awarded": 0' in again.output
    with app.app_context():
        assert _badges(site, "giulia") == ["first_question"]
