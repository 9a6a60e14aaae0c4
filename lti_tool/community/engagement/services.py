"""Recording participation; part of the caller's transaction (no commit here)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from lti_tool.community.engagement.models import (
    ACTIVITY_KINDS,
    RECOGNITION_KINDS,
    EventKind,
    ParticipationEvent,
    WeekFigures,
)
from lti_tool.courses.models import Enrolment
from lti_tool.extensions import utcnow


def record(
    session: Session,
    *,
    course_id: int,
    member_id: int,
    kind: EventKind,
    subject_type: str,
    subject_id: int,
    actor_id: int | None = None,
    at: datetime | None = None,
) -> ParticipationEvent:
    """Add one participation event to the session."""
    event = ParticipationEvent(
        course_id=course_id,
        member_id=member_id,
        kind=kind.value,
        subject_type=subject_type,
        subject_id=subject_id,
        actor_id=actor_id,
        created_at=at or utcnow(),
    )
    session.add(event)
    _touch_enrolment(session, course_id, member_id, kind, event.created_at)
    moment = event.created_at
    week = moment.date() - timedelta(days=moment.weekday())
    if week < utcnow().date() - timedelta(days=utcnow().weekday()):
        # Recorded into a finished week: its figures are computed again on the next read.
        session.execute(
            delete(WeekFigures).where(
                WeekFigures.course_id == course_id, WeekFigures.week_start == week
            )
        )
    return event


def _touch_enrolment(
    session: Session, course_id: int, member_id: int, kind: EventKind, at: datetime
) -> None:
    """Keep the enrolment's last activity and first recognition (one UPDATE, no read)."""
    where = (Enrolment.course_id == course_id, Enrolment.member_id == member_id)
    if kind in RECOGNITION_KINDS:
        session.execute(
            update(Enrolment)
            .where(*where, Enrolment.recognised_at.is_(None))
            .values(recognised_at=at)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(
            update(Enrolment)
            .where(*where, or_(Enrolment.last_active_at.is_(None), Enrolment.last_active_at < at))
            .values(last_active_at=at)
            .execution_options(synchronize_session=False)
        )


def backfill_enrolment_activity(session: Session, course_ids: list[int] | None = None) -> None:
    """Recompute every enrolment's last activity and first recognition from the events (for
    events inserted in bulk, outside record(); the caller commits)."""
    scope = [Enrolment.course_id.in_(course_ids)] if course_ids else []

    def latest(kinds: Any, fn: Any) -> Any:
        return (
            select(fn(ParticipationEvent.created_at))
            .where(
                ParticipationEvent.course_id == Enrolment.course_id,
                ParticipationEvent.member_id == Enrolment.member_id,
                ParticipationEvent.kind.in_(kinds),
            )
            .scalar_subquery()
        )

    session.execute(
        update(Enrolment)
        .where(*scope)
        .values(
            last_active_at=latest(ACTIVITY_KINDS, func.max),
            recognised_at=latest([k.value for k in RECOGNITION_KINDS], func.min),
        )
        .execution_options(synchronize_session=False)
    )
