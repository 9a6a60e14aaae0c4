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
    """Add one notification per recipient (never to the actor); returns how many.

    A recipient who has not read the same news yet (same kind, subject and actor: an answer
    accepted, taken back and accepted again; a second answer by the same classmate) gets it
    once, moved up to now, rather than twice.
    """
    targets = sorted({r for r in recipients if r != actor_id})
    if not targets:
        return 0
    now = utcnow()
    same_actor = (
        Notification.actor_id.is_(None) if actor_id is None else Notification.actor_id == actor_id
    )
    unread = {
        n.member_id: n
        for n in session.scalars(
            select(Notification).where(
                Notification.course_id == course_id,
                Notification.member_id.in_(targets),
                Notification.read_at.is_(None),
                Notification.kind == kind,
                Notification.subject_type == subject_type,
                Notification.subject_id == subject_id,
                same_actor,
            )
        )
    }
    for earlier in unread.values():
        earlier.created_at, earlier.excerpt = now, excerpt[:300]
    session.add_all(
        Notification(
            course_id=course_id,
            member_id=r,
            kind=kind,
            actor_id=actor_id,
            subject_type=subject_type,
            subject_id=subject_id,
            excerpt=excerpt[:300],
            created_at=now,
        )
        for r in targets
        if r not in unread
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
