"""Introduce yourself, welcome others, and find who is still waiting for a hello."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.community.content import render, render_markdown
from lti_tool.community.engagement.models import EventKind
from lti_tool.community.engagement.services import record
from lti_tool.community.moderation.services import (
    FlagError,
    flag_content,
    hidden_keys,
    hidden_subjects,
    not_hidden,
)
from lti_tool.community.notifications.services import notify
from lti_tool.community.welcome.models import Introduction, Postponed, Welcome
from lti_tool.courses.models import Member, display_name
from lti_tool.extensions import utcnow

BODY_MAX = 4000
# What moderation calls introductions and their replies (flags, hidden posts, the audit trail).
SUBJECT_INTRO = "welcome_introduction"
SUBJECT_REPLY = "welcome_reply"
SUBJECTS = (SUBJECT_INTRO, SUBJECT_REPLY)


class WelcomeError(ValueError):
    """Refused input; the message is a code (empty, too_long, duplicate, not_found, own_post,
    already_flagged, reason)."""


def _check(body: str) -> str:
    body = body.strip()
    if not body:
        raise WelcomeError("empty")
    if len(body) > BODY_MAX:
        raise WelcomeError("too_long")
    return body


def has_introduced(session: Session, course_id: int, member_id: int) -> bool:
    return (
        session.scalar(
            select(Introduction.id).where(
                Introduction.course_id == course_id, Introduction.member_id == member_id
            )
        )
        is not None
    )


def should_prompt(session: Session, course_id: int, member_id: int) -> bool:
    """True until the member has introduced themselves or chosen "later"."""
    if session.get(Postponed, (course_id, member_id)) is not None:
        return False
    return not has_introduced(session, course_id, member_id)


def postpone(session: Session, course_id: int, member_id: int) -> None:
    if session.get(Postponed, (course_id, member_id)) is None:
        session.add(Postponed(course_id=course_id, member_id=member_id, created_at=utcnow()))
        try:
            session.commit()
        except IntegrityError:  # a double click
            session.rollback()


def introduce(session: Session, course_id: int, member_id: int, body: str) -> Introduction:
    body = _check(body)
    now = utcnow()
    intro = Introduction(
        course_id=course_id,
        member_id=member_id,
        body=body,
        body_html=str(render_markdown(body)),
        created_at=now,
    )
    session.add(intro)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise WelcomeError("duplicate") from None
    record(
        session,
        course_id=course_id,
        member_id=member_id,
        kind=EventKind.INTRODUCE,
        subject_type=SUBJECT_INTRO,
        subject_id=intro.id,
        at=now,
    )
    session.commit()
    return intro


def welcome(
    session: Session, course_id: int, author_id: int, introduction_id: int, body: str
) -> Welcome:
    body = _check(body)
    intro = session.get(Introduction, introduction_id)
    if intro is None or intro.course_id != course_id:
        raise WelcomeError("not_found")
    if hidden_keys(session, course_id, {SUBJECT_INTRO: [intro.id]}):
        # Moderators hid it: no one is shown its form, and a welcome would notify its author.
        raise WelcomeError("not_found")
    rendered = render(body)
    now = utcnow()
    reply = Welcome(
        course_id=course_id,
        introduction_id=intro.id,
        author_id=author_id,
        body=body,
        body_html=str(rendered.html),
        created_at=now,
    )
    session.add(reply)
    if author_id == intro.member_id:
        # A word added to one's own introduction: a reply, not a welcome. The staff's list of
        # introductions nobody has welcomed keeps it, and it counts as no welcome given.
        session.commit()
        return reply
    session.execute(
        update(Introduction)
        .where(Introduction.id == intro.id)
        .values(reply_count=Introduction.reply_count + 1)
    )
    session.flush()
    # The reply, not the introduction: once moderators hide the reply, it earns its author
    # nothing and the notification stops quoting it (hiding the introduction touches neither).
    record(
        session,
        course_id=course_id,
        member_id=author_id,
        kind=EventKind.WELCOME,
        subject_type=SUBJECT_REPLY,
        subject_id=reply.id,
        at=now,
    )
    notify(
        session,
        course_id=course_id,
        recipients=[intro.member_id],
        kind="welcome",
        subject_type=SUBJECT_REPLY,
        subject_id=reply.id,
        actor_id=author_id,
        excerpt=rendered.excerpt(200),
    )
    session.commit()
    return reply


@dataclass(frozen=True)
class Entry:
    introduction: Introduction
    author: str
    replies: list[tuple[Welcome, str]]


def names(session: Session, ids: set[int]) -> dict[int, str]:
    """Names as every other page shows them: never the LMS's user id (which classmates would
    see when the LMS shares no name), a given and family name in full, an erased member's."""
    if not ids:
        return {}
    rows = session.execute(
        select(Member.id, Member.name, Member.given_name, Member.family_name).where(
            Member.id.in_(ids)
        )
    )
    return {row.id: display_name(*row) for row in rows}


def _waiting() -> tuple[ColumnElement[bool], ...]:
    """Introductions nobody has welcomed: no reply by someone else that moderators left visible
    (a hidden reply is no welcome), and not hidden themselves (only moderators can read those)."""
    welcomed = exists().where(
        Welcome.introduction_id == Introduction.id,
        Welcome.author_id != Introduction.member_id,
        not_hidden(SUBJECT_REPLY, Welcome.id),
    )
    return (~welcomed, not_hidden(SUBJECT_INTRO, Introduction.id))


def introductions(
    session: Session,
    course_id: int,
    *,
    unanswered_only: bool = False,
    before: datetime | None = None,
    limit: int = 30,
    only: int | None = None,
) -> list[Entry]:
    """Introductions, newest first (or the oldest unanswered first), with their replies;
    ``only``: that one introduction of the course (a page giving a refused reply back)."""
    stmt = select(Introduction).where(Introduction.course_id == course_id)
    if only is not None:
        stmt = stmt.where(Introduction.id == only)
    elif unanswered_only:
        stmt = stmt.where(*_waiting()).order_by(Introduction.created_at)
    else:
        stmt = stmt.order_by(Introduction.created_at.desc(), Introduction.id.desc())
        if before is not None:
            stmt = stmt.where(Introduction.created_at < before)
    intros = list(session.scalars(stmt.limit(limit)))
    replies: dict[int, list[Welcome]] = {i.id: [] for i in intros}
    if intros:
        for reply in session.scalars(
            select(Welcome)
            .where(Welcome.introduction_id.in_(replies))
            .order_by(Welcome.created_at, Welcome.id)
        ):
            replies[reply.introduction_id].append(reply)
    authors = names(
        session,
        {i.member_id for i in intros} | {r.author_id for rs in replies.values() for r in rs},
    )
    return [
        Entry(
            i,
            authors.get(i.member_id, ""),
            [(r, authors.get(r.author_id, "")) for r in replies[i.id]],
        )
        for i in intros
    ]


def unanswered_count(session: Session, course_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Introduction)
            .where(Introduction.course_id == course_id, *_waiting())
        )
        or 0
    )


def hidden_posts(
    session: Session, course_id: int, entries: Sequence[Entry]
) -> frozenset[tuple[str, int]]:
    """The (subject type, id) of the listed introductions and replies moderators hid."""
    keys = [(SUBJECT_INTRO, e.introduction.id) for e in entries]
    keys += [(SUBJECT_REPLY, r.id) for e in entries for r, _name in e.replies]
    return hidden_subjects(session, course_id, keys)


def find_post(
    session: Session, course_id: int, subject_type: str, subject_id: int
) -> Introduction | Welcome:
    """An introduction or a reply of the course (another course's id: not_found)."""
    post: Introduction | Welcome | None = None
    if subject_type == SUBJECT_INTRO:
        post = session.scalar(
            select(Introduction).where(
                Introduction.id == subject_id, Introduction.course_id == course_id
            )
        )
    elif subject_type == SUBJECT_REPLY:
        post = session.scalar(
            select(Welcome).where(Welcome.id == subject_id, Welcome.course_id == course_id)
        )
    if post is None:
        raise WelcomeError("not_found")
    return post


def introduction_id_of(post: Introduction | Welcome) -> int:
    return post.id if isinstance(post, Introduction) else post.introduction_id


def author_of(post: Introduction | Welcome) -> int:
    return post.member_id if isinstance(post, Introduction) else post.author_id


def flag(
    session: Session,
    course_id: int,
    reporter_id: int,
    subject_type: str,
    subject_id: int,
    reason: str,
    note: str = "",
) -> Introduction | Welcome:
    """Flag someone else's introduction or reply for the moderators (the one queue)."""
    post = find_post(session, course_id, subject_type, subject_id)
    if author_of(post) == reporter_id:
        raise WelcomeError("own_post")
    try:
        flag_content(
            session,
            course_id=course_id,
            reporter_id=reporter_id,
            subject_type=subject_type,
            subject_id=post.id,
            reason=reason,
            note=note,
        )
    except FlagError as exc:
        session.rollback()
        raise WelcomeError(
            "already_flagged" if str(exc) == "already flagged" else "reason"
        ) from exc
    return post
