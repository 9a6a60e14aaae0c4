"""Recognition pages: celebrations, the member's own card, top helpers, peer mentors (staff)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.kudos import services as kudos_services
from lti_tool.community.kudos.views import Page, actor_of, render_page
from lti_tool.community.recognition import services
from lti_tool.community.recognition.services import InvalidInput, NotFound, PermissionDenied
from lti_tool.core.errors import error_response
from lti_tool.courses.access import launch_required, staff_required
from lti_tool.extensions import db

bp = Blueprint("recognition", __name__, url_prefix="/w/<lid>/recognition")

# Event kinds shown in a member's contribution history, in this order.
HISTORY_KINDS = (
    "ask",
    "answer",
    "comment",
    "answer_accepted",
    "upvote_received",
    "endorsement_received",
    "kudos_given",
    "kudos_received",
    "group_post",
)


def _history_labels() -> dict[str, str]:
    return {
        "ask": _("Questions asked"),
        "answer": _("Answers written"),
        "comment": _("Comments"),
        "answer_accepted": _("Answers accepted"),
        "upvote_received": _("Helpful votes received"),
        "endorsement_received": _("Endorsements received"),
        "kudos_given": _("Kudos given"),
        "kudos_received": _("Kudos received"),
        "group_post": _("Group posts"),
    }


@bp.get("/celebrations")
@launch_required
def celebrations(lid: str) -> Page:
    """The course's celebration feed: badges members earned, newest first."""
    actor = actor_of()
    return render_page(
        "recognition/celebrations.html",
        items=services.celebrations(db.session(), actor.course_id),
    )


@bp.get("/me")
@launch_required
def me(lid: str) -> Page:
    """The member's own card: kudos, badges and contribution history in this course."""
    actor = actor_of()
    session = db.session()
    card = services.profile_card(session, actor.course_id, actor.member_id)
    received = kudos_services.wall(
        session, actor.course_id, member_id=actor.member_id, received=True, per_page=5
    )
    return render_page(
        "recognition/me.html",
        card=card,
        received=received.items,
        history=[(k, card.contributions.get(k, 0)) for k in HISTORY_KINDS],
        history_labels=_history_labels(),
        week_points=services.my_week(session, actor.course_id, actor.member_id),
    )


@bp.get("/top-helpers")
@launch_required
def leaderboard(lid: str) -> Page:
    """This week's top helpers when staff turned the board on; one's own points always."""
    actor = actor_of()
    session = db.session()
    settings = services.get_settings(session, actor.course_id)
    show = settings.leaderboard_enabled or actor.can_manage
    return render_page(
        "recognition/leaderboard.html",
        enabled=settings.leaderboard_enabled,
        helpers=services.top_helpers(session, actor.course_id) if show else [],
        show=show,
        week_points=services.my_week(session, actor.course_id, actor.member_id),
        can_manage=actor.can_manage,
    )


@bp.post("/top-helpers")
@staff_required
def leaderboard_post(lid: str) -> BaseResponse:
    actor = actor_of()
    enabled = request.form.get("enabled") == "1"
    services.set_leaderboard(db.session(), actor, enabled)
    flash(
        _("The top helpers board is on for everyone in the course.")
        if enabled
        else _("The top helpers board is off. Students still see their own progress."),
        "info",
    )
    return redirect(url_for("recognition.leaderboard", lid=lid), code=303)


@bp.get("/mentors")
@staff_required
def mentors(lid: str) -> Page:
    """Likely peer mentors, ranked, with the reasons; staff grant or withdraw the role."""
    actor = actor_of()
    return render_page(
        "recognition/mentors.html",
        candidates=services.mentor_candidates(db.session(), actor.course_id),
        weights=services.MENTOR_WEIGHTS,
    )


@bp.post("/mentors/<int:enrolment_id>")
@staff_required
def mentor_post(lid: str, enrolment_id: int) -> Any:
    actor = actor_of()
    granted = request.form.get("grant") == "1"
    try:
        member = services.set_peer_mentor(db.session(), actor, enrolment_id, granted)
    except NotFound:
        db.session.rollback()
        abort(404)
    except (InvalidInput, PermissionDenied) as exc:
        db.session.rollback()
        message = (
            " ".join(str(m) for m in exc.errors.values())
            if isinstance(exc, InvalidInput)
            else str(exc.message)
        )
        return error_response(422 if isinstance(exc, InvalidInput) else 403, message)
    name = member.display_name
    flash(
        _("%(name)s is now a peer mentor.", name=name)
        if granted
        else _("%(name)s is no longer a peer mentor.", name=name),
        "info",
    )
    return redirect(url_for("recognition.mentors", lid=g.viewer.lid), code=303)
