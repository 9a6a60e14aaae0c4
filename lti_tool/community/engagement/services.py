"""Recording participation; part of the caller's transaction (no commit here)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from lti_tool.community.engagement.models import EventKind, ParticipationEvent
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
    return event
