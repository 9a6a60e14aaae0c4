"""Handle a validated launch: record who came, into which course, with which role and widget."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from sqlalchemy import Connection, Integer, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.community.groups.services import late_joiner_sets_exist, place_late_joiners
from lti_tool.community.moderation.conduct import acceptance_columns
from lti_tool.courses import services
from lti_tool.courses.models import Member, Placement
from lti_tool.courses.roles import CourseRole, course_role
from lti_tool.extensions import utcnow
from lti_tool.lti.claims import Launch
from lti_tool.sync.privacy import erased_member_id


class RecentRows:
    """Ids of courses and placements this process upserted lately, with what it wrote.

    A course's title or a placement's widget rarely change between two launches: when a launch
    brings exactly what was written less than ``ttl`` seconds ago (or ``max_age``, when a caller
    asks for fresher), the upsert is skipped. At most ``size`` rows are kept, the least recently
    used leave first (cachetools' TTLCache).
    """

    def __init__(
        self, size: int = 4096, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self._rows: TTLCache[tuple[Any, ...], tuple[float, Any, int]] = TTLCache(
            size, ttl, timer=clock
        )
        self._lock = threading.Lock()  # a TTLCache changes as it is read: one thread at a time

    def get(
        self, key: tuple[Any, ...], fingerprint: Any, max_age: float | None = None
    ) -> int | None:
        with self._lock:
            try:
                written, found, row_id = self._rows[key]
            except KeyError:
                return None
        if found != fingerprint:
            return None
        if max_age is not None and self.clock() - written > max_age:
            return None
        return row_id

    def put(self, key: tuple[Any, ...], fingerprint: Any, row_id: int) -> None:
        with self._lock:
            self._rows[key] = (self.clock(), fingerprint, row_id)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


@dataclass(frozen=True)
class LaunchOutcome:
    """What the web layer needs to open the right page for the right person."""

    platform_id: int
    member_id: int
    course_id: int | None
    enrolment_id: int | None
    placement_id: int | None
    role: CourseRole
    widget: str
    locale: str | None
    deep_linking: bool
    community_manager: bool = False
    member: dict[str, Any] | None = None  # the member row's columns, as the launch left them
    placement: dict[str, Any] | None = None  # the placement row's columns, likewise
    # With page_checks: whether the code of conduct was checked, and the version the member
    # still has to accept (None: nothing to accept).
    conduct_checked: bool = False
    conduct_pending: int | None = None


_PAGE_CHECKS: dict[bool, Any] = {}
_PLACEMENT_KEYS = tuple(Placement.__table__.c.keys())


def _page_checks(*, with_placement: bool) -> Any:
    """One SELECT, built once: the course's current code of conduct version, whether the member
    accepted it, whether the course has formed groups a newcomer must be placed in and, with
    ``with_placement``, the placement row (no row at all if it is gone)."""
    stmt = _PAGE_CHECKS.get(with_placement)
    if stmt is None:
        course_id = bindparam("course_id", type_=Integer)
        member_id = bindparam("member_id", type_=Integer)
        current, accepted = acceptance_columns(course_id, member_id)
        stmt = select(current, accepted, late_joiner_sets_exist(course_id))
        if with_placement:
            table = Placement.__table__
            stmt = stmt.add_columns(*table.c).where(
                table.c.id == bindparam("placement_id", type_=Integer)
            )
        _PAGE_CHECKS[with_placement] = stmt
    return stmt


def handle_launch(
    session: Session,
    launch: Launch,
    recent: RecentRows | None = None,
    redo: Callable[[], None] | None = None,
    *,
    page_checks: bool = False,
) -> LaunchOutcome:
    """Upsert member, course, enrolment and placement in one transaction, race-free.

    With ``recent`` (one per app and process), unchanged course and placement rows are not
    written again; if a remembered row has gone, the launch is redone without the shortcut,
    after ``redo()`` has written again what the rolled-back transaction held before.
    With ``page_checks`` (the caller answers with the widget page), the code of conduct is
    checked in the same transaction, so that the page needs no query of its own.
    """
    if recent is None:
        return _handle(session, launch, RecentRows(size=0), page_checks)
    try:
        return _handle(session, launch, recent, page_checks)
    except IntegrityError:
        session.rollback()
        recent.clear()
        if redo is not None:
            redo()
        return _handle(session, launch, RecentRows(size=0), page_checks)


def _erased_member_row(connection: Connection, launch: Launch) -> dict[str, Any] | None:
    """For a data privacy launch by someone Bottega erased (and who has not come back through
    a course launch since), their anonymous member row. Looking at what is held must not store
    their profile again as a new member, whom roster syncs would then enrol in every course."""
    table = Member.__table__
    known = select(table.c.id).where(
        table.c.platform_id == launch.platform_id, table.c.lms_id == launch.user.lms_id
    )
    if connection.execute(known).first() is not None:
        return None
    erased_id = erased_member_id(connection, launch.platform_id, launch.user.lms_id)
    if erased_id is None:
        return None
    row = connection.execute(select(table).where(table.c.id == erased_id)).first()
    return dict(row._mapping) if row is not None else None


def _handle(
    session: Session, launch: Launch, recent_rows: RecentRows, page_checks: bool
) -> LaunchOutcome:
    now = utcnow()
    user = launch.user
    connection = session.connection()  # the launch's transaction: looked up once
    member = _erased_member_row(connection, launch) if launch.is_data_privacy else None
    if member is None:
        member = services.upsert_member_row(
            connection,
            launch.platform_id,
            user.lms_id,
            services.Profile(
                name=user.name,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                picture=user.picture,
                locale=user.locale,
            ),
            seen_at=now,
        )
    member_id = int(member["id"])
    course_id = enrolment_id = placement_id = None
    placement: dict[str, Any] | None = None
    community_manager = False
    remember: list[tuple[tuple[Any, ...], str, int]] = []
    conduct_checked, conduct_pending = False, None
    if launch.course is not None:
        info = services.CourseInfo(
            lms_id=launch.course.lms_id,
            title=launch.course.title,
            label=launch.course.label,
            services={k: v for k, v in launch.services.items() if k == "nrps"},
        )
        course_key = ("course", launch.platform_id, launch.deployment_pk, info.lms_id)
        course_print = json.dumps([info.title, info.label, info.services], sort_keys=True)
        course_id = recent_rows.get(course_key, course_print)
        if course_id is None:
            course_id = services.upsert_course(
                connection, launch.platform_id, launch.deployment_pk, info
            )
        enrolment = services.enrol(connection, course_id, member_id, list(launch.roles))
        enrolment_id, community_manager = enrolment.id, enrolment.community_manager
        role = course_role(launch.roles)
        placement_key: tuple[Any, ...] = ()
        placement_print = ""
        if launch.placement is not None:
            ags = {k: v for k, v in launch.services.items() if k == "ags"}
            if ags and launch.custom.get("graded") == "1":  # placed as graded (deep linking)
                ags["graded"] = True
            placement_key = ("placement", course_id, launch.placement.lms_id)
            placement_print = json.dumps(
                [launch.widget, launch.placement.title, ags], sort_keys=True
            )
            # Unchanged since this process wrote it: read it (in this transaction) below.
            placement_id = recent_rows.get(placement_key, placement_print)
        # Peer groups: a student new to a formed random or balanced set is placed now.
        late_joiners = role == CourseRole.LEARNER
        if page_checks and not role.is_staff and not community_manager:
            # Staff and community managers are never asked to accept the code of conduct.
            checks = connection.execute(
                _page_checks(with_placement=placement_id is not None),
                {"course_id": course_id, "member_id": member_id, "placement_id": placement_id},
            ).first()
            if checks is None:  # only when the remembered placement row is gone
                raise IntegrityError("remembered placement is gone", None, Exception())
            version, accepted, formed_sets = checks[:3]
            conduct_checked, conduct_pending = True, None if accepted else int(version)
            late_joiners = late_joiners and bool(formed_sets)
            if placement_id is not None:
                placement = dict(zip(_PLACEMENT_KEYS, checks[3:], strict=True))
        if late_joiners:
            place_late_joiners(session, course_id, member_ids=[member_id])
        if launch.placement is not None:
            if placement_id is not None and placement is None:
                placement = services.placement_row(connection, placement_id)
                if placement is None:
                    raise IntegrityError("remembered placement is gone", None, Exception())
            elif placement_id is None:
                placement = services.upsert_placement_row(
                    connection,
                    course_id,
                    launch.placement.lms_id,
                    launch.widget,
                    launch.placement.title,
                    ags,
                )
                placement_id = int(placement["id"])
                remember.append((placement_key, placement_print, placement_id))
        remember.append((course_key, course_print, course_id))
    session.commit()
    for key, fingerprint, row_id in remember:  # only rows that are surely written
        recent_rows.put(key, fingerprint, row_id)
    return LaunchOutcome(
        platform_id=launch.platform_id,
        member_id=member_id,
        course_id=course_id,
        enrolment_id=enrolment_id,
        placement_id=placement_id,
        role=course_role(launch.roles),
        widget=launch.widget,
        locale=launch.locale or user.locale,
        deep_linking=launch.is_deep_linking,
        community_manager=community_manager,
        member=member,
        placement=placement,
        conduct_checked=conduct_checked,
        conduct_pending=conduct_pending,
    )
