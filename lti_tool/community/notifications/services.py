"""Notify members, count and list what they have not read."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, func, or_, select, update
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
    once, moved up to now, rather than twice (unless it was e-mailed: then the news is new).
    """
    targets = sorted({r for r in recipients if r != actor_id})
    if not targets:
        return 0
    now = utcnow()
    same_actor = (
        Notification.actor_id.is_(None) if actor_id is None else Notification.actor_id == actor_id
    )
    # Not one that went out in an e-mail (the news is new to the e-mail too, and moving it up
    # would take back the e-mail's time, which keeps the next one an hour away); one passed
    # over for an e-mail is due again. Checked again by the UPDATE: a notification read or
    # mailed meanwhile is left as it is and the news gets a row of its own.
    movable = and_(
        Notification.read_at.is_(None),
        or_(
            Notification.emailed_at.is_(None),
            Notification.emailed_at == Notification.created_at,
        ),
    )
    earlier = list(
        session.scalars(
            select(Notification.id).where(
                Notification.course_id == course_id,
                Notification.member_id.in_(targets),
                Notification.kind == kind,
                Notification.subject_type == subject_type,
                Notification.subject_id == subject_id,
                same_actor,
                movable,
            )
        )
    )
    unread = (
        set(
            session.scalars(
                update(Notification)
                .where(Notification.id.in_(earlier), movable)
                .values(created_at=now, excerpt=excerpt[:300], emailed_at=None)
                .returning(Notification.member_id)
            )
        )
        if earlier
        else set()
    )
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
