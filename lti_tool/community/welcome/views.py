"""The introductions space: introduce yourself, welcome others; staff see who waits for a hello."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.welcome import services
from lti_tool.courses.access import launch_required
from lti_tool.courses.refusals import keep_text_on_refusal
from lti_tool.extensions import db, limiter

bp = Blueprint("welcome", __name__, url_prefix="/w/<lid>/welcome")

# One posting budget per member for introductions and welcomes (each welcome notifies).
post_limit = limiter.shared_limit("10/minute;60/hour", scope="welcome-post")


def _course_id() -> int:
    course_id: int | None = g.viewer.course_id
    if course_id is None:
        abort(404)
    return course_id


def _message(code: str) -> str:
    return {
        "empty": _("Write a few words first."),
        "too_long": _("Keep it under %(max)s characters.", max=services.BODY_MAX),
        "duplicate": _("You have already introduced yourself."),
    }.get(code, _("Write a few words first."))


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    course_id = _course_id()
    session = db.session()
    unanswered = request.args.get("unanswered") == "1" and g.viewer.can_manage_community
    return render_template(
        "welcome/index.html",
        viewer=g.viewer,
        entries=_entries(session, course_id, unanswered, context.get("failed_intro")),
        unanswered=unanswered,
        waiting=services.unanswered_count(session, course_id)
        if g.viewer.can_manage_community
        else 0,
        # The form stays when it comes back refused, even to say it was sent already.
        can_introduce=not _has_introduced() or "intro_error" in context,
        widget_title=_("Introductions"),
        **context,
    ), status


def _entries(
    session: Session, course_id: int, unanswered: bool, failed: int | None
) -> list[services.Entry]:
    """The introductions the page lists, and the one a refused welcome was for (its form holds
    the text) when it is not among them (an older one, opened from the unanswered list)."""
    entries = services.introductions(session, course_id, unanswered_only=unanswered)
    if failed is not None and all(e.introduction.id != failed for e in entries):
        entries = services.introductions(session, course_id, only=failed) + entries
    return entries


def _has_introduced() -> bool:
    return services.has_introduced(db.session(), _course_id(), g.viewer.member_id)


@bp.get("/")
@launch_required
def index(lid: str) -> tuple[str, int]:
    return _page()


@bp.post("/introduce")
@launch_required
@post_limit
def introduce(lid: str) -> BaseResponse | tuple[str, int]:
    body = request.form.get("body", "")
    try:
        services.introduce(db.session(), _course_id(), g.viewer.member_id, body)
    except services.WelcomeError as error:
        return _page(422, intro_error=_message(str(error)), kept_intro=body)
    flash(_("Thanks for introducing yourself!"), "info")
    return redirect(url_for("welcome.index", lid=lid), 303)


@bp.post("/<int:introduction_id>/reply")
@launch_required
@post_limit
def reply(lid: str, introduction_id: int) -> BaseResponse | tuple[str, int]:
    body = request.form.get("body", "")
    try:
        services.welcome(db.session(), _course_id(), g.viewer.member_id, introduction_id, body)
    except services.WelcomeError as error:
        if str(error) == "not_found":
            abort(404)
        return _page(
            422,
            reply_error=_message(str(error)),
            failed_intro=introduction_id,
            kept_reply=body,
        )
    flash(_("Your welcome is posted."), "info")
    return redirect(url_for("welcome.index", lid=lid, _anchor=f"intro-{introduction_id}"), 303)


@bp.post("/later")
@launch_required
def later(lid: str) -> BaseResponse:
    """Hide the prompt on the next launches; the introductions space stays in the menu."""
    services.postpone(db.session(), _course_id(), g.viewer.member_id)
    target = request.form.get("next", "")
    # Only a path of this tool, never another site.
    if not target.startswith(f"/w/{lid}/") or "//" in target or "\\" in target:
        target = url_for("home.widget", lid=lid)
    return redirect(target, 303)


# --- refused requests that keep the text -----------------------------------------------------


def _give_text_back(status: int, message: str) -> tuple[str, int] | None:
    """The page again, with the introduction or welcome that was refused before its view ran
    (the posting rate limit, an expired form token) in its form."""
    body = request.form.get("body", "")
    if request.endpoint == "welcome.introduce":
        return _page(status, intro_error=message, kept_intro=body)
    if request.endpoint == "welcome.reply":
        introduction_id = (request.view_args or {}).get("introduction_id")
        return _page(status, reply_error=message, failed_intro=introduction_id, kept_reply=body)
    return None


keep_text_on_refusal(bp, _give_text_back)
