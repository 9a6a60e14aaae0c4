"""engagement.record keeps each enrolment's last activity and first recognition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from lti_tool.community.engagement.models import EventKind
from lti_tool.community.engagement.services import backfill_enrolment_activity, record
from lti_tool.courses.models import Enrolment
from lti_tool.extensions import db

from .qa import conftest as qa_fixtures
from .qa.conftest import CourseWorld

world = qa_fixtures.world  # the Q&A course world (fixture)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def columns(course: CourseWorld, key: str) -> tuple[object, object]:
    row = db.session.execute(
        select(Enrolment.last_active_at, Enrolment.recognised_at).where(
            Enrolment.course_id == course.course_id, Enrolment.member_id == course[key].member_id
        )
    ).one()
    return row[0], row[1]


def event(course: CourseWorld, key: str, kind: EventKind, at: datetime) -> None:
    record(
        db.session,
        course_id=course.course_id,
        member_id=course[key].member_id,
        kind=kind,
        subject_type="qa_question",
        subject_id=1,
        at=at,
    )
    db.session.commit()


def test_record_keeps_last_activity_and_first_recognition(world: CourseWorld) -> None:
    assert columns(world, "giulia") == (None, None)
    event(world, "giulia", EventKind.ASK, T0 + timedelta(days=2))
    event(world, "giulia", EventKind.COMMENT, T0 + timedelta(days=1))  # older: no change
    event(world, "giulia", EventKind.UPVOTE_RECEIVED, T0 + timedelta(days=3))
    event(world, "giulia", EventKind.KUDOS_RECEIVED, T0 + timedelta(days=5))  # not the first
    assert columns(world, "giulia") == (T0 + timedelta(days=2), T0 + timedelta(days=3))
    assert columns(world, "marco") == (None, None)  # nobody else's enrolment moves

    db.session.execute(update(Enrolment).values(last_active_at=None, recognised_at=None))
    db.session.commit()
    backfill_enrolment_activity(db.session)  # as for events inserted in bulk
    db.session.commit()
    assert columns(world, "giulia") == (T0 + timedelta(days=2), T0 + timedelta(days=3))
