"""Moderation use cases: flags and their queue, hiding posts, warnings, the audit trail (the
code of conduct is in conduct.py).

Plain functions: a session and typed arguments in, one commit per use case. Every lookup is
filtered by the course, so a flag or post id of another course or LMS is a ``NotFound``. Who may
call them (staff and community managers) is checked by the views; every change a moderator
makes writes one ``ModerationAction`` in the same transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.community.moderation.models import (
    ActionKind,
    Flag,
    FlagReason,
    FlagStatus,
    HiddenPost,
    ModerationAction,
)
from lti_tool.community.moderation.subjects import Subject, resolve
from lti_tool.community.notifications.services import notify
from lti_tool.courses.models import Enrolment
from lti_tool.extensions import utcnow

REASON_MAX = 1_000
WARNING_MAX = 300  # a warning is read in full in the notification list
WARNING_KIND = "moderation_warning"


class FlagError(ValueError):
    """A flag that cannot be raised (unknown reason, already flagged)."""


class ModerationError(Exception):
    """A moderation use case that cannot be carried out; ``message`` is shown to the moderator."""

    default_message: Any = _l("This action cannot be completed.")

    def __init__(self, message: Any = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(str(self.message))


class NotFound(ModerationError):
    default_message = _l("There is no such flag or post in this course.")


class InvalidInput(ModerationError):
    """``errors`` maps form fields to messages."""

    default_message = _l("Please correct the highlighted fields.")

    def __init__(self, errors: dict[str, Any], message: Any = None) -> None:
        self.errors = errors
        super().__init__(message)


class Conflict(ModerationError):
    default_message = _l("This clashes with a change made meanwhile. Reload and try again.")


# --- raising a flag (Q&A, groups) ------------------------------------------------------------


def flag_content(
    session: Session,
    *,
    course_id: int,
    reporter_id: int,
    subject_type: str,
    subject_id: int,
    reason: str,
    note: str = "",
) -> Flag:
    """Store a member's flag on a post (the caller has checked the post is in the course)."""
    try:
        checked = FlagReason(reason)
    except ValueError as exc:
        raise FlagError("unknown reason") from exc
    existing = session.scalar(
        select(Flag).where(
            Flag.reporter_id == reporter_id,
            Flag.subject_type == subject_type,
            Flag.subject_id == subject_id,
        )
    )
    if existing is not None:
        raise FlagError("already flagged")
    flag = Flag(
        course_id=course_id,
        reporter_id=reporter_id,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=checked.value,
        note=note.strip()[:1000],
    )
    session.add(flag)
    try:
        session.commit()
    except IntegrityError as exc:  # the same flag sent twice at once (a double click)
        session.rollback()
        raise FlagError("already flagged") from exc
    return flag


# --- the queue -------------------------------------------------------------------------------


class QueueSort(enum.StrEnum):
    NEWEST = "newest"  # most recently flagged first
    MOST = "most"  # most flags first


@dataclass(frozen=True)
class FlagGroup:
    """The open flags on one post."""

    subject_type: str
    subject_id: int
    flag_id: int  # any of them identifies the post in URLs; the newest is used
    count: int
    last_flagged_at: datetime
    reasons: dict[str, int]  # reason -> how many flags give it
    notes: list[str]
    subject: Subject | None
    hidden: bool


def open_queue(
    session: Session, course_id: int, sort: QueueSort = QueueSort.NEWEST, limit: int = 100
) -> list[FlagGroup]:
    """Posts with open flags, newest or most flagged first, with their reasons (3 queries)."""
    count = func.count(Flag.id).label("n")
    last = func.max(Flag.created_at).label("last")
    order: list[ColumnElement[Any]] = (
        [last.desc(), count.desc()] if sort == QueueSort.NEWEST else [count.desc(), last.desc()]
    )
    groups = session.execute(
        select(Flag.subject_type, Flag.subject_id, count, last, func.max(Flag.id))
        .where(Flag.course_id == course_id, Flag.status == FlagStatus.OPEN.value)
        .group_by(Flag.subject_type, Flag.subject_id)
        .order_by(*order, Flag.subject_type, Flag.subject_id)
        .limit(limit)
    ).all()
    keys = [(t, i) for t, i, *_ in groups]
    if not keys:
        return []
    flags = session.scalars(
        select(Flag)
        .where(
            Flag.course_id == course_id,
            Flag.status == FlagStatus.OPEN.value,
            or_(*(and_(Flag.subject_type == t, Flag.subject_id == i) for t, i in keys)),
        )
        .order_by(Flag.created_at.desc(), Flag.id.desc())
    ).all()
    reasons: dict[tuple[str, int], dict[str, int]] = {}
    notes: dict[tuple[str, int], list[str]] = {}
    for flag in flags:
        key = (flag.subject_type, flag.subject_id)
        reasons.setdefault(key, {})
        reasons[key][flag.reason] = reasons[key].get(flag.reason, 0) + 1
        if flag.note:
            notes.setdefault(key, []).append(flag.note)
    subjects = resolve(session, course_id, keys)
    hidden = hidden_subjects(session, course_id, keys)
    return [
        FlagGroup(
            subject_type=t,
            subject_id=i,
            flag_id=newest,
            count=n,
            last_flagged_at=at,
            reasons=reasons.get((t, i), {}),
            notes=notes.get((t, i), []),
            subject=subjects.get((t, i)),
            hidden=(t, i) in hidden,
        )
        for t, i, n, at, newest in groups
    ]


def open_count(session: Session, course_id: int) -> int:
    """Posts waiting in the course's queue."""
    return int(
        session.scalar(
            select(func.count()).select_from(
                select(Flag.subject_type, Flag.subject_id)
                .where(Flag.course_id == course_id, Flag.status == FlagStatus.OPEN.value)
                .group_by(Flag.subject_type, Flag.subject_id)
                .subquery()
            )
        )
        or 0
    )


def find_flag(session: Session, course_id: int, flag_id: int) -> Flag:
    flag = session.scalar(select(Flag).where(Flag.id == flag_id, Flag.course_id == course_id))
    if flag is None:
        raise NotFound()
    return flag


@dataclass
class PostCase:
    """Everything known about one flagged post: its flags, whether it is hidden, what was done."""

    flag: Flag  # the flag the page was opened from
    subject: Subject | None
    flags: list[Flag]  # every flag on the post, newest first
    hidden: HiddenPost | None
    history: list[ModerationAction] = field(default_factory=list)

    @property
    def open_flags(self) -> list[Flag]:
        return [f for f in self.flags if f.status == FlagStatus.OPEN.value]


def post_case(session: Session, course_id: int, flag_id: int) -> PostCase:
    """The post a flag is about, with all its flags and its moderation history."""
    flag = find_flag(session, course_id, flag_id)
    key = (flag.subject_type, flag.subject_id)
    flags = list(
        session.scalars(
            select(Flag)
            .where(
                Flag.course_id == course_id,
                Flag.subject_type == flag.subject_type,
                Flag.subject_id == flag.subject_id,
            )
            .order_by(Flag.created_at.desc(), Flag.id.desc())
        )
    )
    history = list(
        session.scalars(
            select(ModerationAction)
            .where(
                ModerationAction.course_id == course_id,
                ModerationAction.subject_type == flag.subject_type,
                ModerationAction.subject_id == flag.subject_id,
            )
            .order_by(ModerationAction.created_at.desc(), ModerationAction.id.desc())
        )
    )
    return PostCase(
        flag=flag,
        subject=resolve(session, course_id, [key]).get(key),
        flags=flags,
        hidden=_hidden_row(session, course_id, *key),
        history=history,
    )


def _reason(text: str, field_name: str = "reason", limit: int = REASON_MAX) -> str:
    cleaned = text.replace("\x00", "").strip()
    if not cleaned:
        raise InvalidInput({field_name: _l("Say why: the audit trail keeps it.")})
    if len(cleaned) > limit:
        raise InvalidInput({field_name: _l("Use at most %(n)d characters.", n=limit)})
    return cleaned


def log_action(
    session: Session,
    course_id: int,
    actor_id: int,
    action: ActionKind,
    reason: str,
    *,
    subject: tuple[str, int] | None = None,
    target_member_id: int | None = None,
    flag_count: int = 0,
) -> ModerationAction:
    entry = ModerationAction(
        course_id=course_id,
        actor_id=actor_id,
        action=action.value,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        target_member_id=target_member_id,
        reason=reason,
        flag_count=flag_count,
        created_at=utcnow(),
    )
    session.add(entry)
    return entry


def _close_flags(
    session: Session,
    course_id: int,
    moderator_id: int,
    flag_id: int,
    reason: str,
    status: FlagStatus,
) -> int:
    why = _reason(reason)
    flag = find_flag(session, course_id, flag_id)
    open_flags = list(
        session.scalars(
            select(Flag).where(
                Flag.course_id == course_id,
                Flag.subject_type == flag.subject_type,
                Flag.subject_id == flag.subject_id,
                Flag.status == FlagStatus.OPEN.value,
            )
        )
    )
    if not open_flags:
        raise Conflict(_l("These flags were already handled."))
    now = utcnow()
    for item in open_flags:
        item.status = status.value
        item.resolved_at = now
        item.resolved_by = moderator_id
        item.resolution_note = why
    action = ActionKind.RESOLVE if status == FlagStatus.RESOLVED else ActionKind.DISMISS
    log_action(
        session,
        course_id,
        moderator_id,
        action,
        why,
        subject=(flag.subject_type, flag.subject_id),
        flag_count=len(open_flags),
    )
    session.commit()
    return len(open_flags)


def resolve_flags(
    session: Session, course_id: int, moderator_id: int, flag_id: int, reason: str
) -> int:
    """Close the open flags on a flag's post as handled; returns how many."""
    return _close_flags(session, course_id, moderator_id, flag_id, reason, FlagStatus.RESOLVED)


def dismiss_flags(
    session: Session, course_id: int, moderator_id: int, flag_id: int, reason: str
) -> int:
    """Close the open flags on a flag's post as needing no action; returns how many."""
    return _close_flags(session, course_id, moderator_id, flag_id, reason, FlagStatus.DISMISSED)


# --- hiding ----------------------------------------------------------------------------------


def _hidden_row(
    session: Session, course_id: int, subject_type: str, subject_id: int
) -> HiddenPost | None:
    return session.scalar(
        select(HiddenPost).where(
            HiddenPost.course_id == course_id,
            HiddenPost.subject_type == subject_type,
            HiddenPost.subject_id == subject_id,
        )
    )


def hide_post(
    session: Session,
    course_id: int,
    moderator_id: int,
    subject_type: str,
    subject_id: int,
    reason: str,
) -> HiddenPost:
    """Hide a post of the course from students (the caller checked it belongs to the course)."""
    why = _reason(reason)
    if _hidden_row(session, course_id, subject_type, subject_id) is not None:
        raise Conflict(_l("This post is already hidden."))
    row = HiddenPost(
        course_id=course_id,
        subject_type=subject_type,
        subject_id=subject_id,
        hidden_by=moderator_id,
        reason=why,
        hidden_at=utcnow(),
    )
    session.add(row)
    log_action(
        session, course_id, moderator_id, ActionKind.HIDE, why, subject=(subject_type, subject_id)
    )
    try:
        session.commit()
    except IntegrityError as exc:  # hidden by someone else meanwhile
        session.rollback()
        raise Conflict(_l("This post is already hidden.")) from exc
    return row


def restore_post(
    session: Session,
    course_id: int,
    moderator_id: int,
    subject_type: str,
    subject_id: int,
    reason: str,
) -> None:
    """Show a hidden post to students again."""
    why = _reason(reason)
    row = _hidden_row(session, course_id, subject_type, subject_id)
    if row is None:
        raise Conflict(_l("This post is not hidden."))
    session.delete(row)
    log_action(
        session,
        course_id,
        moderator_id,
        ActionKind.RESTORE,
        why,
        subject=(subject_type, subject_id),
    )
    session.commit()


def find_hidden(session: Session, course_id: int, hidden_id: int) -> HiddenPost:
    row = session.scalar(
        select(HiddenPost).where(HiddenPost.id == hidden_id, HiddenPost.course_id == course_id)
    )
    if row is None:
        raise NotFound()
    return row


@dataclass(frozen=True)
class HiddenView:
    row: HiddenPost
    subject: Subject | None


def hidden_posts(session: Session, course_id: int, limit: int = 200) -> list[HiddenView]:
    """The course's hidden posts, most recently hidden first."""
    rows = list(
        session.scalars(
            select(HiddenPost)
            .where(HiddenPost.course_id == course_id)
            .order_by(HiddenPost.hidden_at.desc(), HiddenPost.id.desc())
            .limit(limit)
        )
    )
    subjects = resolve(session, course_id, [(r.subject_type, r.subject_id) for r in rows])
    return [HiddenView(r, subjects.get((r.subject_type, r.subject_id))) for r in rows]


def hidden_subjects(
    session: Session, course_id: int, keys: Collection[tuple[str, int]]
) -> frozenset[tuple[str, int]]:
    """Which of these posts are hidden (one query)."""
    by_type: dict[str, set[int]] = {}
    for subject_type, subject_id in keys:
        by_type.setdefault(subject_type, set()).add(subject_id)
    if not by_type:
        return frozenset()
    rows = session.execute(
        select(HiddenPost.subject_type, HiddenPost.subject_id).where(
            HiddenPost.course_id == course_id,
            or_(
                *(
                    and_(HiddenPost.subject_type == t, HiddenPost.subject_id.in_(ids))
                    for t, ids in by_type.items()
                )
            ),
        )
    ).all()
    return frozenset((t, i) for t, i in rows)


def hidden_keys(
    session: Session, course_id: int, ids_by_type: Mapping[str, Collection[int]]
) -> frozenset[tuple[str, int]]:
    """``hidden_subjects`` for ids grouped by type: {"qa_answer": [1, 2], ...}."""
    return hidden_subjects(
        session, course_id, [(t, i) for t, ids in ids_by_type.items() for i in ids]
    )


def not_hidden(subject_type: str, id_column: Any) -> ColumnElement[bool]:
    """A WHERE clause keeping rows whose post (``id_column`` of ``subject_type``) is not hidden."""
    return ~exists().where(
        HiddenPost.subject_type == subject_type, HiddenPost.subject_id == id_column
    )


# --- warnings --------------------------------------------------------------------------------


def warn_member(
    session: Session,
    course_id: int,
    moderator_id: int,
    member_id: int,
    message: str,
    *,
    subject: tuple[str, int] | None = None,
) -> ModerationAction:
    """Send a member of the course an in-app warning with the moderator's words, and log it."""
    text = _reason(message, "message", WARNING_MAX)
    enrolled = session.scalar(
        select(Enrolment.id).where(
            Enrolment.course_id == course_id, Enrolment.member_id == member_id
        )
    )
    if enrolled is None:
        raise NotFound()
    entry = log_action(
        session,
        course_id,
        moderator_id,
        ActionKind.WARN,
        text,
        subject=subject,
        target_member_id=member_id,
    )
    session.flush()
    notify(
        session,
        course_id=course_id,
        recipients=[member_id],
        kind=WARNING_KIND,
        subject_type="moderation_action",
        subject_id=entry.id,
        actor_id=moderator_id,
        excerpt=text,
    )
    session.commit()
    return entry


# --- audit trail -----------------------------------------------------------------------------


def audit_trail(
    session: Session, course_id: int, *, limit: int = 100, before_id: int | None = None
) -> list[ModerationAction]:
    """The course's moderation actions, newest first; ``before_id`` pages back."""
    stmt = select(ModerationAction).where(ModerationAction.course_id == course_id)
    if before_id is not None:
        stmt = stmt.where(ModerationAction.id < before_id)
    return list(session.scalars(stmt.order_by(ModerationAction.id.desc()).limit(limit)))
