"""Introduce yourself, welcome others, and find who is still waiting for a hello."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.community.content import render, render_markdown
from lti_tool.community.engagement.models import EventKind
from lti_tool.community.engagement.services import record
from lti_tool.community.notifications.services import notify
from lti_tool.community.welcome.models import Introduction, Postponed, Welcome
from lti_tool.courses.models import Member, display_name
from lti_tool.extensions import utcnow

BODY_MAX = 4000


class WelcomeError(ValueError):
    """Refused input; the message is a code (empty, too_long, duplicate, not_found)."""


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
        subject_type="welcome_introduction",
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
    record(
        session,
        course_id=course_id,
        member_id=author_id,
        kind=EventKind.WELCOME,
        subject_type="welcome_introduction",
        subject_id=intro.id,
        at=now,
    )
    notify(
        session,
        course_id=course_id,
        recipients=[intro.member_id],
        kind="welcome",
        subject_type="welcome_introduction",
        subject_id=intro.id,
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


def _names(session: Session, ids: set[int]) -> dict[int, str]:
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
        stmt = stmt.where(Introduction.reply_count == 0).order_by(Introduction.created_at)
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
    names = _names(
        session,
        {i.member_id for i in intros} | {r.author_id for rs in replies.values() for r in rs},
    )
    return [
        Entry(
            i, names.get(i.member_id, ""), [(r, names.get(r.author_id, "")) for r in replies[i.id]]
        )
        for i in intros
    ]


def unanswered_count(session: Session, course_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Introduction)
            .where(Introduction.course_id == course_id, Introduction.reply_count == 0)
        )
        or 0
    )
