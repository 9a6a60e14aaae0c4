"""Notify members, count and list what they have not read."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lti_tool.community.notifications.models import Notification
from lti_tool.extensions import utcnow


def notify(
    session: Session,
    *,
    course_id: int,
    recipients: Iterable[int],
    kind: str,
    subject_type: str,
    subject_id: int,
    actor_id: int | None = None,
    excerpt: str = "",
) -> int:
    """Add one notification per recipient (never to the actor); returns how many."""
    targets = sorted({r for r in recipients if r != actor_id})
    session.add_all(
        Notification(
            course_id=course_id,
            member_id=r,
            kind=kind,
            actor_id=actor_id,
            subject_type=subject_type,
            subject_id=subject_id,
            excerpt=excerpt[:300],
        )
        for r in targets
    )
    return len(targets)


def unread_count(session: Session, member_id: int, course_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.member_id == member_id,
                Notification.course_id == course_id,
                Notification.read_at.is_(None),
            )
        )
        or 0
    )


def recent(session: Session, member_id: int, course_id: int, limit: int = 30) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.member_id == member_id, Notification.course_id == course_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(session: Session, member_id: int, course_id: int) -> None:
    session.execute(
        update(Notification)
        .where(
            Notification.member_id == member_id,
            Notification.course_id == course_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    session.commit()
