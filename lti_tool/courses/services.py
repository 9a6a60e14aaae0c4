"""Kernel use cases: race-free upserts of courses, members, enrolments and placements.

Twenty students opening a new course at the same second must all get in: every upsert is a
single ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL), never check-then-insert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lti_tool.courses.models import Course, Enrolment, EnrolmentStatus, Member, Placement
from lti_tool.extensions import utcnow


@dataclass(frozen=True)
class Profile:
    """What an LMS told us about a person; every field is optional."""

    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    picture: str | None = None
    locale: str | None = None

    def values(self) -> dict[str, str]:
        """Only the fields the LMS sent: a launch without email keeps the one we knew."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class CourseInfo:
    lms_id: str
    title: str = ""
    label: str = ""
    services: dict[str, Any] = field(default_factory=dict)


def dialect_insert(session: Session, model: Any) -> Any:
    """An INSERT that supports ON CONFLICT on this session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"upserts are not written for {dialect}")


def _upsert(
    session: Session,
    model: Any,
    keys: dict[str, Any],
    values: dict[str, Any],
    on_insert: dict[str, Any] | None = None,
) -> int:
    """Insert or update one row by its natural key; returns its id."""
    stmt = dialect_insert(session, model).values(**keys, **values, **(on_insert or {}))
    if values:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=values)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    row_id = session.execute(stmt.returning(model.id)).scalar()
    if row_id is None:  # DO NOTHING returns no row when the row existed
        filters = [getattr(model, k) == v for k, v in keys.items()]
        row_id = session.execute(select(model.id).where(*filters)).scalar_one()
    return int(row_id)


def upsert_course(session: Session, platform_id: int, deployment_pk: int, info: CourseInfo) -> int:
    """The course's id, created on first sight; title and services follow the LMS."""
    values: dict[str, Any] = {"title": info.title, "label": info.label}
    if info.services:
        values["services"] = info.services
    return _upsert(
        session,
        Course,
        {"platform_id": platform_id, "deployment_id": deployment_pk, "lms_id": info.lms_id},
        values,
        on_insert={"created_at": utcnow(), **({} if info.services else {"services": {}})},
    )


def upsert_member(
    session: Session, platform_id: int, lms_id: str, profile: Profile, seen_at: datetime | None
) -> int:
    """The member's id; the profile fields the LMS sent replace the old ones."""
    values: dict[str, Any] = profile.values()
    if seen_at is not None:
        values["last_seen_at"] = seen_at
    return _upsert(
        session,
        Member,
        {"platform_id": platform_id, "lms_id": lms_id},
        values,
        on_insert={"created_at": utcnow()},
    )


def upsert_enrolment(session: Session, course_id: int, member_id: int, roles: list[str]) -> int:
    """Enrol (or re-activate) a member with the roles the LMS gives them now."""
    now = utcnow()
    return _upsert(
        session,
        Enrolment,
        {"course_id": course_id, "member_id": member_id},
        {"roles": roles, "status": EnrolmentStatus.ACTIVE, "updated_at": now},
        on_insert={"created_at": now},
    )


def upsert_placement(
    session: Session,
    course_id: int,
    lms_id: str,
    widget: str,
    title: str,
    lms_services: dict[str, Any] | None = None,
) -> int:
    """Where a widget sits; the widget and grade endpoint follow the LMS's latest launch."""
    values: dict[str, Any] = {"widget": widget, "title": title}
    if lms_services:
        values["services"] = lms_services
    on_insert: dict[str, Any] = {"created_at": utcnow(), "settings": {}}
    if not lms_services:
        on_insert["services"] = {}
    return _upsert(
        session, Placement, {"course_id": course_id, "lms_id": lms_id}, values, on_insert
    )


def set_community_manager(session: Session, enrolment: Enrolment, granted: bool) -> None:
    """Grant or withdraw Bottega's community manager role in a course."""
    enrolment.community_manager = granted
    session.commit()


@dataclass(frozen=True)
class MemberRow:
    """One line of a course's member list."""

    enrolment_id: int
    member_id: int
    name: str
    email: str | None
    roles: list[str]
    status: str
    community_manager: bool
    last_seen_at: datetime | None


def course_members(session: Session, course_id: int) -> list[MemberRow]:
    """Everyone enrolled in a course, active first, by name."""
    rows = session.execute(
        select(Enrolment, Member)
        .join(Member, Member.id == Enrolment.member_id)
        .where(Enrolment.course_id == course_id)
    ).all()
    members = [
        MemberRow(
            enrolment_id=e.id,
            member_id=m.id,
            name=m.display_name,
            email=m.email,
            roles=list(e.roles or []),
            status=e.status.value,
            community_manager=e.community_manager,
            last_seen_at=m.last_seen_at,
        )
        for e, m in rows
    ]
    return sorted(members, key=lambda r: (r.status != "active", r.name.casefold()))


def find_enrolment(session: Session, course_id: int, enrolment_id: int) -> Enrolment | None:
    """An enrolment of this course only: ids from a form never reach another course."""
    return session.scalar(
        select(Enrolment).where(Enrolment.id == enrolment_id, Enrolment.course_id == course_id)
    )
