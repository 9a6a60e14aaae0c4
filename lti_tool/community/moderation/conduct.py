"""The code of conduct of a course: the built-in text or the staff's versions, and who
accepted which version.

Plain functions like services.py; a new version is logged in the course's audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.community.content import MAX_BODY, render_markdown
from lti_tool.community.moderation import conduct_text
from lti_tool.community.moderation.models import ActionKind, ConductAcceptance, ConductVersion
from lti_tool.community.moderation.services import (
    REASON_MAX,
    Conflict,
    InvalidInput,
    log_action,
)
from lti_tool.extensions import utcnow

SUBJECT = "moderation_conduct"  # audit entries of code edits: subject_id is the version


@dataclass(frozen=True)
class Conduct:
    """The code a course's members accept now."""

    version: int
    body: str
    html: Markup
    custom: bool  # written by the course's staff (else the built-in text)
    created_at: datetime | None = None
    created_by: int | None = None


@lru_cache(maxsize=4)
def _default_html(body: str) -> Markup:
    return render_markdown(body)


def current_conduct(session: Session, course_id: int, locale: str | None = None) -> Conduct:
    """The course's current code: its latest edit, or the built-in text in ``locale``."""
    latest = session.scalar(
        select(ConductVersion)
        .where(ConductVersion.course_id == course_id)
        .order_by(ConductVersion.version.desc())
        .limit(1)
    )
    if latest is None:
        body = conduct_text.default_text(locale)
        return Conduct(conduct_text.DEFAULT_VERSION, body, _default_html(body), custom=False)
    return Conduct(
        latest.version,
        latest.body,
        Markup(latest.body_html),  # noqa: S704 -- rendered and cleaned by content.render_markdown
        custom=True,
        created_at=latest.created_at,
        created_by=latest.created_by,
    )


def _current_version_query(course_id: int) -> Any:
    return (
        select(func.coalesce(func.max(ConductVersion.version), conduct_text.DEFAULT_VERSION))
        .where(ConductVersion.course_id == course_id)
        .scalar_subquery()
    )


def acceptance_columns(course_id: Any, member_id: Any) -> tuple[Any, Any]:
    """SQL columns: the course's current version, and whether the member accepted it.

    ``course_id`` and ``member_id`` are values or bind parameters (a launch builds its
    statement once, with parameters, and folds these into it).
    """
    current = _current_version_query(course_id)
    accepted = (
        select(literal(1))
        .where(
            ConductAcceptance.course_id == course_id,
            ConductAcceptance.member_id == member_id,
            ConductAcceptance.version == current,
        )
        .exists()
    )
    return current, accepted


def pending_conduct_version(session: Session, course_id: int, member_id: int) -> int | None:
    """The version a member still has to accept, or None when they accepted the current one.

    One query: it runs on every launch.
    """
    version, done = session.execute(select(*acceptance_columns(course_id, member_id))).one()
    return None if done else int(version)


def conduct_to_show(
    session: Session, course_id: int, version: int | None, locale: str | None = None
) -> Conduct:
    """The current code, knowing its ``version`` when a query just read it: the built-in
    text needs no query (a course's own versions are numbered after it)."""
    if version == conduct_text.DEFAULT_VERSION:
        body = conduct_text.default_text(locale)
        return Conduct(conduct_text.DEFAULT_VERSION, body, _default_html(body), custom=False)
    return current_conduct(session, course_id, locale)


def accept_conduct(
    session: Session, course_id: int, member_id: int, version: int
) -> ConductAcceptance | None:
    """Record that a member accepted ``version`` (the one they were shown).

    Raises Conflict when the code changed since the page was shown; accepting twice is fine.
    """
    current = int(session.scalar(select(_current_version_query(course_id))) or 0)
    if version != current:
        raise Conflict(_l("The code of conduct changed meanwhile: please read the new version."))
    row = ConductAcceptance(
        course_id=course_id, member_id=member_id, version=version, accepted_at=utcnow()
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # already accepted (a second tab, a double click)
        session.rollback()
        return None
    return row


def edit_conduct(
    session: Session, course_id: int, editor_id: int, body: str, note: str = ""
) -> ConductVersion:
    """Save a new version of the course's code (``note``: what changed); every member accepts
    it again."""
    text = body.replace("\x00", "").strip()
    if not text:
        raise InvalidInput({"body": _l("Write the code of conduct.")})
    if len(text) > MAX_BODY:
        raise InvalidInput({"body": _l("Use at most %(n)d characters.", n=MAX_BODY)})
    if _unchanged(session, course_id, text):
        raise InvalidInput(
            {"body": _l("This is the current code: change it, or leave it as it is.")},
            _l("Nothing changed: members are not asked to accept the same code again."),
        )
    current = int(session.scalar(select(_current_version_query(course_id))) or 0)
    row = ConductVersion(
        course_id=course_id,
        version=current + 1,
        body=text,
        body_html=str(render_markdown(text)),
        created_by=editor_id,
        created_at=utcnow(),
    )
    session.add(row)
    log_action(
        session,
        course_id,
        editor_id,
        ActionKind.CONDUCT_EDIT,
        note.replace("\x00", "").strip()[:REASON_MAX],
        subject=(SUBJECT, current + 1),
    )
    try:
        session.commit()
    except IntegrityError as exc:  # someone saved a version meanwhile
        session.rollback()
        raise Conflict() from exc
    return row


def _unchanged(session: Session, course_id: int, text: str) -> bool:
    """Whether ``text`` is the current code (the form opens with it: a save without an edit
    would send every member through the code again)."""
    latest = session.scalar(
        select(ConductVersion.body)
        .where(ConductVersion.course_id == course_id)
        .order_by(ConductVersion.version.desc())
        .limit(1)
    )
    current = [latest] if latest is not None else [conduct_text.ENGLISH, conduct_text.ITALIAN]
    return _lines(text) in {_lines(body) for body in current}


def _lines(text: str) -> str:
    """Text as a browser may send it back: line ends and trailing spaces aside."""
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def conduct_versions(session: Session, course_id: int) -> list[tuple[ConductVersion, int]]:
    """The course's saved versions, newest first, each with how many members accepted it."""
    accepted = (
        select(func.count(ConductAcceptance.id))
        .where(
            ConductAcceptance.course_id == course_id,
            ConductAcceptance.version == ConductVersion.version,
        )
        .correlate(ConductVersion)
        .scalar_subquery()
    )
    rows = session.execute(
        select(ConductVersion, accepted)
        .where(ConductVersion.course_id == course_id)
        .order_by(ConductVersion.version.desc())
    ).all()
    return [(v, int(n)) for v, n in rows]


def acceptances(session: Session, course_id: int, version: int) -> int:
    """How many members accepted a version."""
    return int(
        session.scalar(
            select(func.count(ConductAcceptance.id)).where(
                ConductAcceptance.course_id == course_id, ConductAcceptance.version == version
            )
        )
        or 0
    )
