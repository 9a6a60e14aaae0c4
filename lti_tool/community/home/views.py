"""Widget pages a launch lands on; each capability fills its own page as it is built."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.moderation.views import conduct_gate
from lti_tool.community.notifications.mail import mail_on, wants_mail
from lti_tool.community.welcome.services import should_prompt
from lti_tool.config import Settings
from lti_tool.courses.access import launch_required, page_rows, role_label_for, staff_required
from lti_tool.courses.models import Course, Member
from lti_tool.courses.roles import CourseRole, course_role
from lti_tool.courses.services import course_members, find_enrolment, set_community_manager
from lti_tool.extensions import db

bp = Blueprint("home", __name__, url_prefix="/w")

STAFF_ONLY = frozenset({"dashboard"})


_TITLES = {
    "home": _l("Community home"),
    "qa": _l("Questions and answers"),
    "groups": _l("Peer groups"),
    "kudos": _l("Kudos"),
    "dashboard": _l("Community dashboard"),
}


def _title(widget: str) -> str:
    """One widget's title, in the page's language (only that one is translated)."""
    return str(_TITLES[widget])


def _titles() -> dict[str, str]:
    return {widget: str(title) for widget, title in _TITLES.items()}


@bp.get("/<lid>/")
@launch_required
def widget(lid: str) -> str | tuple[str, int] | BaseResponse:
    """The widget this placement shows."""
    viewer = g.viewer
    if viewer.widget in STAFF_ONLY and not viewer.can_manage_community:
        abort(403)
    # Members accept the course's code of conduct before anything else (one query once done).
    gate = conduct_gate(viewer, _title(viewer.widget))
    if gate is not None:
        return gate
    # A student who has not introduced themselves (nor chosen "later") sees a welcome prompt.
    welcome = (
        viewer.course_id is not None
        and not viewer.can_manage_community
        and should_prompt(db.session(), viewer.course_id, viewer.member_id)
    )
    extra: dict[str, Any] = {"welcome": 1} if welcome else {}
    if viewer.widget == "qa" and viewer.course_id is not None:
        return redirect(url_for("qa.index", lid=lid, **extra))
    if viewer.widget == "dashboard" and viewer.course_id is not None:
        return redirect(url_for("dashboard.overview", lid=lid))
    if viewer.widget == "kudos" and viewer.course_id is not None:
        return redirect(url_for("kudos.wall", lid=lid, **extra))
    if viewer.widget == "groups" and viewer.course_id is not None:
        return redirect(url_for("groups.index", lid=lid, **extra))
    row = page_rows(viewer)  # one SELECT, or none right after the launch
    if row is None:
        abort(401)
    member, course, placement = row
    return render_template(
        "home/widget.html",
        viewer=viewer,
        course=course,
        placement=placement,
        member=member,
        welcome_prompt=welcome,
        widget_title=_title(viewer.widget),
    )


@bp.get("/<lid>/me")
@launch_required
def me(lid: str) -> str:
    """The member's own card: who Bottega thinks they are, and what the LMS shared."""
    member = db.session.get(Member, g.viewer.member_id)
    if member is None:
        abort(404)
    course = db.session.get(Course, g.viewer.course_id) if g.viewer.course_id else None
    settings: Settings = current_app.extensions["bottega_settings"]
    return render_template(
        "home/me.html",
        viewer=g.viewer,
        member=member,
        course=course,
        mail_on=mail_on(settings),
        wants_mail=wants_mail(db.session(), member.id),
    )


@bp.get("/<lid>/members")
@staff_required
def members(lid: str) -> str:
    """Course members and their roles; instructors grant the community manager role here."""
    if g.viewer.course_id is None:
        abort(404)
    rows = course_members(db.session(), g.viewer.course_id)
    return render_template(
        "home/members.html",
        viewer=g.viewer,
        rows=rows,
        role_name=lambda roles: role_label_for(course_role(roles)),
        can_grant=g.viewer.role == CourseRole.INSTRUCTOR,
        widget_title=_titles()[g.viewer.widget],
    )


@bp.post("/<lid>/members/<int:enrolment_id>/community-manager")
@staff_required
def community_manager(lid: str, enrolment_id: int) -> BaseResponse:
    """Grant or withdraw the community manager role (instructors only)."""
    if g.viewer.role != CourseRole.INSTRUCTOR or g.viewer.course_id is None:
        abort(403)
    enrolment = find_enrolment(db.session(), g.viewer.course_id, enrolment_id)
    if enrolment is None:
        abort(404)
    granted = request.form.get("grant") == "1"
    set_community_manager(db.session(), enrolment, granted)
    name = enrolment.member.display_name
    flash(
        _("%(name)s is now a community manager.", name=name)
        if granted
        else _("%(name)s is no longer a community manager.", name=name)
    )
    return redirect(url_for("home.members", lid=lid), code=303)
