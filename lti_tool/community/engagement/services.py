"""Recording participation; part of the caller's transaction (no commit here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
    # Recorded into a finished week: its figures are computed again on the next read.
    _drop_finished_weeks(session, course_id, [event.created_at])
    return event


def _drop_finished_weeks(session: Session, course_id: int, moments: list[datetime]) -> None:
    """Forget the stored figures of the finished weeks these moments fall in."""
    this_monday = utcnow().date() - timedelta(days=utcnow().weekday())
    days = {m.astimezone(UTC).date() if m.tzinfo else m.date() for m in moments}
    weeks = {day - timedelta(days=day.weekday()) for day in days}
    weeks = {week for week in weeks if week < this_monday}
    if weeks:
        session.execute(
            delete(WeekFigures).where(
                WeekFigures.course_id == course_id, WeekFigures.week_start.in_(weeks)
            )
        )


def forget(session: Session, course_id: int, *where: Any) -> None:
    """Delete the course's events matching ``where`` (an action taken back, a post deleted), so
    that they count no more anywhere: grades, badges, figures (finished weeks they fall in are
    computed again)."""
    scope = (ParticipationEvent.course_id == course_id, *where)
    moments = list(session.scalars(select(ParticipationEvent.created_at).where(*scope)))
    if moments:
        session.execute(delete(ParticipationEvent).where(*scope))
        _drop_finished_weeks(session, course_id, moments)


def forget_authored(
    session: Session, course_id: int, subject_type: str, subject_id: int, author_id: int
) -> None:
    """A deleted post earns its author nothing: their events on it (writing it, the votes and
    endorsements it received) are deleted; what others did on it stays theirs."""
    forget(
        session,
        course_id,
        ParticipationEvent.subject_type == subject_type,
        ParticipationEvent.subject_id == subject_id,
        ParticipationEvent.member_id == author_id,
    )


def _touch_enrolment(
    session: Session, course_id: int, member_id: int, kind: EventKind, at: datetime
) -> None:
    """Keep the enrolment's last activity and first recognition (one UPDATE, no read; none
    for a placement)."""
    where = (Enrolment.course_id == course_id, Enrolment.member_id == member_id)
    if kind in RECOGNITION_KINDS:
        session.execute(
            update(Enrolment)
            .where(*where, Enrolment.recognised_at.is_(None))
            .values(recognised_at=at)
            .execution_options(synchronize_session=False)
        )
    elif kind.value in ACTIVITY_KINDS:
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
