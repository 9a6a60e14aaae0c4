"""Who is looking at a page: the launch a browser holds, kept in the session cookie.

One browser may have several courses open in LMS tabs at once, so the session keeps several
launches, each under its own short id (``lid``) that appears in page URLs. The id alone grants
nothing: it only selects among launches the session cookie already proves.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, g, session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from lti_tool.courses.models import Course, Enrolment, EnrolmentStatus, Member, Placement
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db
from lti_tool.telemetry.context import set_tenant

MAX_LAUNCHES = 8
F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")


@dataclass(frozen=True)
class Viewer:
    """The member behind the current request and their rights in the course."""

    lid: str
    platform_id: int
    member_id: int
    course_id: int | None
    enrolment_id: int | None
    placement_id: int | None
    role: CourseRole
    widget: str
    locale: str | None
    community_manager: bool = False
    peer_mentor: bool = False

    @property
    def is_staff(self) -> bool:
        """Instructors and teaching assistants: from the LMS's context roles only."""
        return self.role.is_staff

    @property
    def can_manage_community(self) -> bool:
        return self.is_staff or self.community_manager


def remember_launch(
    *,
    platform_id: int,
    member_id: int,
    course_id: int | None,
    enrolment_id: int | None,
    placement_id: int | None,
    role: CourseRole,
    widget: str,
    locale: str | None,
) -> str:
    """Store a launch in the session and return its id."""
    lid = secrets.token_urlsafe(9)
    launches: dict[str, Any] = dict(session.get("launches") or {})
    launches[lid] = {
        "p": platform_id,
        "m": member_id,
        "c": course_id,
        "e": enrolment_id,
        "pl": placement_id,
        "r": int(role),
        "w": widget,
        "l": locale,
    }
    # Keep the newest few: a cookie has room for about 4 KB.
    while len(launches) > MAX_LAUNCHES:
        launches.pop(next(iter(launches)))
    session["launches"] = launches
    session.permanent = True
    set_tenant(platform_id, course_id)
    return lid


def launch_locale(lid: str) -> str | None:
    """The locale of a launch this browser holds (from the session cookie alone), or None."""
    data = (session.get("launches") or {}).get(lid)
    locale = data.get("l") if isinstance(data, dict) else None
    return locale if isinstance(locale, str) else None


# Every page's launch check reads two flags and the status of the enrolment: a Core row by
# primary key, built once (an ORM ``get`` building an Enrolment object cost several times as
# much).
_ENROLMENT_FLAGS = select(
    Enrolment.__table__.c.community_manager,
    Enrolment.__table__.c.peer_mentor,
    Enrolment.__table__.c.status,
).where(Enrolment.__table__.c.id == bindparam("enrolment_id"))


def viewer_for(lid: str) -> Viewer | None:
    """The viewer of a launch this browser holds, or None."""
    opened: OpenedLaunch | None = g.get("opened_launch")
    if opened is not None and opened.viewer.lid == lid:
        return opened.viewer  # this very request made the launch: nothing to read again
    data = (session.get("launches") or {}).get(lid)
    if not isinstance(data, dict):
        return None
    set_tenant(data["p"], data.get("c"))
    manager = mentor = False
    if data.get("e"):
        flags = db.session.execute(_ENROLMENT_FLAGS, {"enrolment_id": data["e"]}).first()
        if flags is None:
            return None
        manager, mentor, status = flags
        # A student the course's roster no longer lists (dropped, or made inactive in the LMS)
        # loses the launch their browser holds; a new launch, which the LMS allows only to
        # enrolled members, enrols them again. Not staff: an LMS administrator or a teacher may
        # open a course whose roster does not list them, and each roster sync marks them inactive.
        if status != EnrolmentStatus.ACTIVE and not CourseRole(data.get("r", 0)).is_staff:
            return None
    return Viewer(
        lid=lid,
        platform_id=data["p"],
        member_id=data["m"],
        course_id=data.get("c"),
        enrolment_id=data.get("e"),
        placement_id=data.get("pl"),
        role=CourseRole(data.get("r", 0)),
        widget=data.get("w", "home"),
        locale=data.get("l"),
        community_manager=manager,
        peer_mentor=mentor,
    )


@dataclass(frozen=True)
class OpenedLaunch:
    """A launch made by the current request, with the rows it has just written.

    When the launch POST answers with the widget page itself, the page reads these instead of
    the database. ``member``, ``course`` and the placement are transient ORM objects (not in
    the session, so their relationships do not load) with the values the launch wrote.
    """

    viewer: Viewer
    member: Member
    course: Course | None
    placement: Placement | None
    # What the launch's own transaction already looked up for the page, by name (e.g.
    # "conduct": the code of conduct version still to accept), so the page does not ask again.
    checks: dict[str, Any] = field(default_factory=dict)


def open_launch(
    viewer: Viewer,
    member: dict[str, Any],
    course: dict[str, Any] | None,
    placement: dict[str, Any] | None,
    checks: dict[str, Any] | None = None,
) -> None:
    """Let this request's pages use the launch it has just made (see OpenedLaunch)."""
    g.opened_launch = OpenedLaunch(
        viewer=viewer,
        member=_as_loaded(Member, member),
        course=_as_loaded(Course, course) if course is not None else None,
        placement=_as_loaded(Placement, placement) if placement is not None else None,
        checks=checks or {},
    )


def _as_loaded(model: type[M], values: dict[str, Any]) -> M:
    """A transient ``model`` instance holding ``values`` the way a loaded row holds its columns.

    For pages to read only: the constructor would record every value as a change to flush,
    which costs several times more, and nothing adds these objects to a session.
    """
    obj: M = model.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update(values)
    return obj


def launch_checks(viewer: Viewer) -> dict[str, Any]:
    """What this request's own launch looked up for ``viewer``'s page (see OpenedLaunch)."""
    opened: OpenedLaunch | None = g.get("opened_launch")
    if opened is not None and opened.viewer is viewer:
        return opened.checks
    return {}


def page_rows(viewer: Viewer) -> tuple[Member, Course | None, Placement | None] | None:
    """The member, course and placement of a viewer's launch, in one SELECT (or none)."""
    opened: OpenedLaunch | None = g.get("opened_launch")
    if opened is not None and opened.viewer is viewer:
        return opened.member, opened.course, opened.placement
    row = db.session.execute(
        select(Member, Course, Placement)
        .select_from(Member)
        .outerjoin(Course, Course.id == viewer.course_id)
        .outerjoin(Placement, Placement.id == viewer.placement_id)
        .where(Member.id == viewer.member_id)
    ).first()
    if row is None:
        return None
    return row[0], row[1], row[2]


def launch_required(view: F) -> F:
    """Resolve ``lid`` from the URL into ``g.viewer``; 401 when this browser has no such launch."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The launch's language comes from the cookie, so that even an error before the viewer
        # is known (the database away) speaks it.
        g.locale = launch_locale(kwargs.get("lid", ""))
        viewer = viewer_for(kwargs.get("lid", ""))
        if viewer is None:
            abort(401)
        g.viewer = viewer
        g.locale = viewer.locale
        return view(*args, **kwargs)

    return cast(F, wrapper)


def staff_required(view: F) -> F:
    """Like launch_required, and 403 for anyone who is not course staff or community manager."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not g.viewer.can_manage_community:
            abort(403)
        return view(*args, **kwargs)

    return launch_required(cast(F, wrapper))


def as_dict(viewer: Viewer) -> dict[str, Any]:
    return asdict(viewer)


def role_label(viewer: Viewer) -> str:
    """The viewer's role in words, in the page's language."""
    if viewer.community_manager and not viewer.is_staff:
        return _("Community manager")
    return role_label_for(viewer.role)


_ROLE_LABELS = {
    CourseRole.GUEST: _l("Guest"),
    CourseRole.LEARNER: _l("Student"),
    CourseRole.MENTOR: _l("Mentor"),
    CourseRole.TEACHING_ASSISTANT: _l("Tutor"),
    CourseRole.INSTRUCTOR: _l("Instructor"),
}


def role_label_for(role: CourseRole) -> str:
    """A course role in words, in the page's language (only that one is translated)."""
    return str(_ROLE_LABELS[role])
