"""Kernel use cases: race-free upserts of courses, members, enrolments and placements.

Twenty students opening a new course at the same second must all get in: every upsert is a
single ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL), never check-then-insert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from lti_tool.courses.models import (
    Course,
    Enrolment,
    EnrolmentStatus,
    Member,
    Placement,
    display_name,
)
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


# Launch upserts: each statement is built once per dialect and executed with Core, so that a
# launch pays neither for building the statement nor for the ORM's bulk-insert machinery.
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(dialect: str, name: str) -> Any:
    stmt = _STATEMENTS.get((dialect, name))
    if stmt is None:
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
        if insert is None:
            raise NotImplementedError(f"upserts are not written for {dialect}")
        stmt = _STATEMENTS[(dialect, name)] = _BUILDERS[name](insert(_TABLES[name]))
    return stmt


# The launch's upserts take the transaction's Connection (or the Session, which finds it):
# a launch looks its connection up once, not once per statement.
Executor = Session | Connection


def _connection(session: Executor) -> Connection:
    return session if isinstance(session, Connection) else session.connection()


def _member_upsert(stmt: Any) -> Any:
    table = Member.__table__
    # A field the LMS did not send (None) keeps the value Bottega knew.
    return stmt.on_conflict_do_update(
        index_elements=["platform_id", "lms_id"],
        set_={
            **{f: func.coalesce(getattr(stmt.excluded, f), table.c[f]) for f in PROFILE_FIELDS},
            "last_seen_at": func.coalesce(stmt.excluded.last_seen_at, table.c.last_seen_at),
        },
    ).returning(*table.c)


def _course_upsert(stmt: Any, services: bool) -> Any:
    table = Course.__table__
    changes = {"title": stmt.excluded.title, "label": stmt.excluded.label}
    if services:
        changes["services"] = stmt.excluded.services
    return stmt.on_conflict_do_update(
        index_elements=["platform_id", "deployment_id", "lms_id"], set_=changes
    ).returning(table.c.id)


def _enrolment_upsert(stmt: Any) -> Any:
    table = Enrolment.__table__
    return stmt.on_conflict_do_update(
        index_elements=["course_id", "member_id"],
        set_={
            "roles": stmt.excluded.roles,
            "status": stmt.excluded.status,
            "updated_at": stmt.excluded.updated_at,
            "last_launch_at": stmt.excluded.last_launch_at,
            # A member first seen on a synced roster launches for the first time now.
            "first_launch_at": func.coalesce(
                table.c.first_launch_at, stmt.excluded.first_launch_at
            ),
        },
    ).returning(table.c.id, table.c.community_manager)


def _placement_upsert(stmt: Any, services: bool) -> Any:
    table = Placement.__table__
    changes = {"widget": stmt.excluded.widget, "title": stmt.excluded.title}
    if services:
        changes["services"] = stmt.excluded.services
    return stmt.on_conflict_do_update(
        index_elements=["course_id", "lms_id"], set_=changes
    ).returning(*table.c)


_TABLES: dict[str, Any] = {
    "member": Member.__table__,
    "course": Course.__table__,
    "course+services": Course.__table__,
    "enrolment": Enrolment.__table__,
    "placement": Placement.__table__,
    "placement+services": Placement.__table__,
}
_BUILDERS: dict[str, Any] = {
    "member": _member_upsert,
    "course": lambda stmt: _course_upsert(stmt, services=False),
    "course+services": lambda stmt: _course_upsert(stmt, services=True),
    "enrolment": _enrolment_upsert,
    "placement": lambda stmt: _placement_upsert(stmt, services=False),
    "placement+services": lambda stmt: _placement_upsert(stmt, services=True),
}


def _execute(session: Executor, name: str, params: dict[str, Any]) -> Any:
    connection = _connection(session)
    return connection.execute(_statement(connection.dialect.name, name), params).one()


def upsert_course(session: Executor, platform_id: int, deployment_pk: int, info: CourseInfo) -> int:
    """The course's id, created on first sight; title and services follow the LMS."""
    row = _execute(
        session,
        "course+services" if info.services else "course",
        {
            "platform_id": platform_id,
            "deployment_id": deployment_pk,
            "lms_id": info.lms_id,
            "title": info.title,
            "label": info.label,
            "services": info.services or {},
            "created_at": utcnow(),
        },
    )
    return int(row[0])


def upsert_member(
    session: Session, platform_id: int, lms_id: str, profile: Profile, seen_at: datetime | None
) -> int:
    """The member's id; the profile fields the LMS sent replace the old ones."""
    return int(upsert_member_row(session, platform_id, lms_id, profile, seen_at)["id"])


def upsert_member_row(
    session: Executor, platform_id: int, lms_id: str, profile: Profile, seen_at: datetime | None
) -> dict[str, Any]:
    """Like upsert_member, and every column of the member row as it is now."""
    row = _execute(
        session,
        "member",
        {
            "platform_id": platform_id,
            "lms_id": lms_id,
            "name": profile.name,
            "given_name": profile.given_name,
            "family_name": profile.family_name,
            "email": profile.email,
            "picture": profile.picture,
            "locale": profile.locale,
            "created_at": utcnow(),
            "last_seen_at": seen_at,
        },
    )
    return dict(row._mapping)


@dataclass(frozen=True)
class EnrolmentRef:
    id: int
    community_manager: bool


def enrol(session: Executor, course_id: int, member_id: int, roles: list[str]) -> EnrolmentRef:
    """Enrol (or re-activate) a member launching now, with the roles the LMS gives them now."""
    now = utcnow()
    row = _execute(
        session,
        "enrolment",
        {
            "course_id": course_id,
            "member_id": member_id,
            "roles": roles,
            "status": EnrolmentStatus.ACTIVE,
            "community_manager": False,
            "created_at": now,
            "updated_at": now,
            "first_launch_at": now,
            "last_launch_at": now,
        },
    )
    return EnrolmentRef(int(row[0]), bool(row[1]))


def upsert_enrolment(session: Session, course_id: int, member_id: int, roles: list[str]) -> int:
    """Enrol (or re-activate) a member with the roles the LMS gives them now."""
    return enrol(session, course_id, member_id, roles).id


def upsert_placement(
    session: Session,
    course_id: int,
    lms_id: str,
    widget: str,
    title: str,
    lms_services: dict[str, Any] | None = None,
) -> int:
    """Where a widget sits; the widget and grade endpoint follow the LMS's latest launch."""
    return int(upsert_placement_row(session, course_id, lms_id, widget, title, lms_services)["id"])


def upsert_placement_row(
    session: Executor,
    course_id: int,
    lms_id: str,
    widget: str,
    title: str,
    lms_services: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Like upsert_placement, and every column of the placement row as it is now."""
    row = _execute(
        session,
        "placement+services" if lms_services else "placement",
        {
            "course_id": course_id,
            "lms_id": lms_id,
            "widget": widget,
            "title": title,
            "settings": {},
            "services": lms_services or {},
            "created_at": utcnow(),
        },
    )
    return dict(row._mapping)


_PLACEMENT_BY_ID = select(*Placement.__table__.c).where(Placement.__table__.c.id == bindparam("id"))


def placement_row(session: Executor, placement_id: int) -> dict[str, Any] | None:
    """Every column of a placement, or None."""
    row = _connection(session).execute(_PLACEMENT_BY_ID, {"id": placement_id}).first()
    return dict(row._mapping) if row is not None else None


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


# -- roster sync: many rows per statement ------------------------------------------------------

PROFILE_FIELDS = ("name", "given_name", "family_name", "email", "picture", "locale")


@dataclass(frozen=True)
class RosterEntry:
    """One member of an LMS roster as a sync writes it (ids unique within one call)."""

    lms_id: str
    profile: Profile
    roles: tuple[str, ...]
    active: bool


def upsert_roster_members(
    session: Session, platform_id: int, entries: Sequence[RosterEntry]
) -> dict[str, int]:
    """Insert or update many members in one statement; returns ``lms_id -> member id``.

    A profile field the LMS did not send (None) keeps the value Bottega knew. The statement
    is executed with many parameter sets, so SQLAlchemy compiles it once and batches the rows.
    """
    if not entries:
        return {}
    now = utcnow()
    rows = [
        {
            "platform_id": platform_id,
            "lms_id": e.lms_id,
            **{f: getattr(e.profile, f) for f in PROFILE_FIELDS},
            "created_at": now,
        }
        for e in sorted(entries, key=lambda e: e.lms_id)  # one lock order: no deadlocks
    ]
    if session.get_bind().dialect.name == "postgresql":
        result = session.execute(_PG_MEMBERS, _pg_columns(rows, ("lms_id", *PROFILE_FIELDS)))
        result_rows = result.all()
        return {lms_id: int(member_id) for member_id, lms_id in result_rows}
    table = Member.__table__
    stmt = dialect_insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform_id", "lms_id"],
        set_={f: func.coalesce(getattr(stmt.excluded, f), table.c[f]) for f in PROFILE_FIELDS},
    ).returning(table.c.id, table.c.lms_id)
    result = session.connection().execute(stmt, rows)
    return {lms_id: int(member_id) for member_id, lms_id in result}


# PostgreSQL: one short statement over arrays (unnest), so the driver neither parses a long
# multi-row INSERT for every page nor sends one statement per row.
_PG_MEMBERS = text(
    """
    INSERT INTO member (platform_id, lms_id, name, given_name, family_name, email, picture,
                        locale, created_at)
    SELECT :platform_id, t.lms_id, t.name, t.given_name, t.family_name, t.email, t.picture,
           t.locale, :created_at
    FROM unnest(CAST(:lms_id AS TEXT[]), CAST(:name AS TEXT[]), CAST(:given_name AS TEXT[]),
                CAST(:family_name AS TEXT[]), CAST(:email AS TEXT[]), CAST(:picture AS TEXT[]),
                CAST(:locale AS TEXT[]))
         AS t(lms_id, name, given_name, family_name, email, picture, locale)
    ON CONFLICT (platform_id, lms_id) DO UPDATE SET
        name = COALESCE(excluded.name, member.name),
        given_name = COALESCE(excluded.given_name, member.given_name),
        family_name = COALESCE(excluded.family_name, member.family_name),
        email = COALESCE(excluded.email, member.email),
        picture = COALESCE(excluded.picture, member.picture),
        locale = COALESCE(excluded.locale, member.locale)
    RETURNING id, lms_id
    """
)
_PG_ENROLMENTS = text(
    """
    INSERT INTO enrolment (course_id, member_id, roles, status, community_manager, created_at,
                           updated_at)
    SELECT :course_id, t.member_id, CAST(t.roles AS JSON), t.status, false, :confirmed_at,
           :confirmed_at
    FROM unnest(CAST(:member_id AS INTEGER[]), CAST(:roles AS TEXT[]),
                CAST(:status AS VARCHAR[])) AS t(member_id, roles, status)
    ON CONFLICT (course_id, member_id) DO UPDATE SET
        roles = excluded.roles, status = excluded.status, updated_at = excluded.updated_at
    """
)


def _pg_columns(rows: list[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Row dicts as one list per column (plus the first row's scalars), for unnest()."""
    params: dict[str, Any] = {name: [row[name] for row in rows] for name in names}
    for name, value in rows[0].items():
        if name not in params:
            params[name] = value
    return params


def upsert_roster_enrolments(
    session: Session,
    course_id: int,
    rows: Sequence[tuple[int, Sequence[str], bool]],
    confirmed_at: datetime,
) -> None:
    """Insert or update many ``(member id, roles, active)`` enrolments in one statement.

    ``updated_at`` becomes ``confirmed_at`` on every row, so that after a full sync the
    enrolments the LMS did not list are exactly those not updated since it started.
    """
    if not rows:
        return
    values = [
        {
            "course_id": course_id,
            "member_id": member_id,
            "roles": list(roles),
            "status": EnrolmentStatus.ACTIVE if active else EnrolmentStatus.INACTIVE,
            "community_manager": False,
            "created_at": confirmed_at,
            "updated_at": confirmed_at,
        }
        for member_id, roles, active in sorted(rows, key=lambda r: r[0])
    ]
    if session.get_bind().dialect.name == "postgresql":
        ordered = sorted(rows, key=lambda r: r[0])
        session.execute(
            _PG_ENROLMENTS,
            {
                "course_id": course_id,
                "confirmed_at": confirmed_at,
                "member_id": [member_id for member_id, _, _ in ordered],
                "roles": [json.dumps(list(roles)) for _, roles, _ in ordered],
                "status": [
                    (EnrolmentStatus.ACTIVE if active else EnrolmentStatus.INACTIVE).value
                    for _, _, active in ordered
                ],
            },
        )
        return
    table = Enrolment.__table__
    stmt = dialect_insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["course_id", "member_id"],
        set_={
            "roles": stmt.excluded.roles,
            "status": stmt.excluded.status,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    # RETURNING makes SQLAlchemy send the rows as one multi-row INSERT ("insertmanyvalues")
    # instead of one statement per row.
    session.connection().execute(stmt.returning(table.c.id), values).all()


def deactivate_unconfirmed_enrolments(session: Session, course_id: int, since: datetime) -> int:
    """Mark inactive the active enrolments not confirmed since ``since``; returns how many.

    Nothing is deleted: a member who left keeps their posts, and comes back active when the
    LMS lists them again.
    """
    result = session.execute(
        update(Enrolment)
        .where(
            Enrolment.course_id == course_id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
            Enrolment.updated_at < since,
        )
        .values(status=EnrolmentStatus.INACTIVE, updated_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def member_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names by member id: the name columns only (no Member objects to build)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(Member.id, Member.name, Member.given_name, Member.family_name).where(
            Member.id.in_(wanted)
        )
    )
    return {row.id: display_name(*row) for row in rows}
