"""Widget pages a launch lands on; each capability fills its own page as it is built."""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template
from flask_babel import gettext as _

from lti_tool.courses.access import launch_required
from lti_tool.courses.models import Course, Member, Placement
from lti_tool.extensions import db

bp = Blueprint("home", __name__, url_prefix="/w")

STAFF_ONLY = frozenset({"dashboard"})


def _titles() -> dict[str, str]:
    return {
        "home": _("Community home"),
        "qa": _("Questions and answers"),
        "groups": _("Peer groups"),
        "kudos": _("Kudos"),
        "dashboard": _("Community dashboard"),
    }


@bp.get("/<lid>/")
@launch_required
def widget(lid: str) -> str:
    """The widget this placement shows."""
    viewer = g.viewer
    if viewer.widget in STAFF_ONLY and not viewer.can_manage_community:
        abort(403)
    course = db.session.get(Course, viewer.course_id) if viewer.course_id else None
    placement = db.session.get(Placement, viewer.placement_id) if viewer.placement_id else None
    member = db.session.get(Member, viewer.member_id)
    return render_template(
        "home/widget.html",
        viewer=viewer,
        course=course,
        placement=placement,
        member=member,
        widget_title=_titles()[viewer.widget],
    )


@bp.get("/<lid>/me")
@launch_required
def me(lid: str) -> str:
    """The member's own card: who Bottega thinks they are, and what the LMS shared."""
    member = db.session.get(Member, g.viewer.member_id)
    if member is None:
        abort(404)
    course = db.session.get(Course, g.viewer.course_id) if g.viewer.course_id else None
    return render_template("home/me.html", viewer=g.viewer, member=member, course=course)
