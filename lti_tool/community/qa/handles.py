"""``@handles`` of course members, derived from their names: "Giulia Rossi" is ``@giulia.rossi``.

A handle is unique in its course: when two members share a name, the one who joined Bottega
later gets a number (``@giulia.rossi2``), so existing handles never change hands.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Set

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.courses.models import Enrolment, EnrolmentStatus, Member

_NOT_HANDLE = re.compile(r"[^a-z0-9]+")


def base_handle(name: str, member_id: int) -> str:
    """Lower-case, dotted, accent-free words of a name."""
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
    ).casefold()
    handle = _NOT_HANDLE.sub(".", plain).strip(".")[:40].rstrip(".")
    return handle if len(handle) >= 2 else f"member.{member_id}"


def assign_handles(members: Iterable[tuple[int, str]]) -> dict[str, int]:
    """Handle -> member id for (member id, display name) pairs."""
    handles: dict[str, int] = {}
    for member_id, name in sorted(members):
        base = base_handle(name, member_id)
        handle, n = base, 1
        while handle in handles:
            n += 1
            handle = f"{base}{n}"
        handles[handle] = member_id
    return handles


def _written_name(name: str | None, given_name: str | None, family_name: str | None) -> str:
    """The name as the LMS gave it (not translated: a handle is the same in every language;
    without a name, ``base_handle`` gives ``member.<id>``)."""
    return name or " ".join(p for p in (given_name, family_name) if p)


def course_handles(session: Session, course_id: int) -> dict[str, int]:
    """Every active member's handle in a course.

    Handles are numbered over everyone ever enrolled, active or not: when the first Giulia Rossi
    leaves the course, ``@giulia.rossi2`` still names the second one rather than nobody, and
    ``@giulia.rossi`` never passes to the second (a mention would reach someone not meant).
    """
    rows = session.execute(
        select(Member.id, Member.name, Member.given_name, Member.family_name, Enrolment.status)
        .join(Enrolment, Enrolment.member_id == Member.id)
        .where(Enrolment.course_id == course_id)
    ).all()
    active = {row.id for row in rows if row.status == EnrolmentStatus.ACTIVE}
    handles = assign_handles((row.id, _written_name(*row[1:4])) for row in rows)
    return {handle: member_id for handle, member_id in handles.items() if member_id in active}


def handle_of(session: Session, course_id: int, member_id: int) -> str | None:
    """A member's handle in a course, or None when they are not an active member."""
    for handle, owner in course_handles(session, course_id).items():
        if owner == member_id:
            return handle
    return None


def resolve_mentions(session: Session, course_id: int, handles: Set[str]) -> set[int]:
    """The course members a set of ``@handles`` names."""
    if not handles:
        return set()
    known = course_handles(session, course_id)
    return {known[h] for h in handles if h in known}
