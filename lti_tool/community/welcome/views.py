"""The introductions space: introduce yourself, welcome others; staff see who waits for a hello."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.moderation.views import reason_labels
from lti_tool.community.welcome import services
from lti_tool.core.errors import error_response
from lti_tool.core.ids import parse_id
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
        "already_flagged": _("You have already flagged this post."),
        "reason": _("Choose a reason."),
    }.get(code, _("Write a few words first."))


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    course_id = _course_id()
    session = db.session()
    unanswered = request.args.get("unanswered") == "1" and g.viewer.can_manage_community
    # The introduction a refused form was for, or the one a link (the moderation queue) opens.
    wanted = context.get("failed_intro") or parse_id(request.args.get("intro", ""))
    entries = _entries(session, course_id, unanswered, wanted)
    return render_template(
        "welcome/index.html",
        viewer=g.viewer,
        entries=entries,
        # Hidden by moderators: a placeholder for members, the post marked for moderators.
        hidden=services.hidden_posts(session, course_id, entries),
        flag_reasons=reason_labels(),
        subjects={"intro": services.SUBJECT_INTRO, "reply": services.SUBJECT_REPLY},
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
    session: Session, course_id: int, unanswered: bool, wanted: int | None
) -> list[services.Entry]:
    """The introductions the page lists, and the one a refused form was for (its form holds
    the text) or a link asked for when it is not among them (an older one)."""
    entries = services.introductions(session, course_id, unanswered_only=unanswered)
    if wanted is not None and all(e.introduction.id != wanted for e in entries):
        entries = services.introductions(session, course_id, only=wanted) + entries
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


@bp.post("/<int:introduction_id>/flag")
@launch_required
@post_limit
def flag_introduction(lid: str, introduction_id: int) -> Any:
    return _flag(services.SUBJECT_INTRO, introduction_id)


@bp.post("/replies/<int:reply_id>/flag")
@launch_required
@post_limit
def flag_reply(lid: str, reply_id: int) -> Any:
    return _flag(services.SUBJECT_REPLY, reply_id)


def _flag(subject_type: str, subject_id: int) -> Any:
    """Flag an introduction or a reply; a refused flag comes back in its form as filled."""
    try:
        post = services.flag(
            db.session(),
            _course_id(),
            g.viewer.member_id,
            subject_type,
            subject_id,
            request.form.get("reason", ""),
            request.form.get("note", ""),
        )
    except services.WelcomeError as error:
        code = str(error)
        if code == "not_found":
            abort(404)
        if code == "own_post":
            return error_response(403, _("You cannot flag your own post."))
        status = 409 if code == "already_flagged" else 422
        return _flag_again(status, _message(code)) or error_response(status, _message(code))
    flash(_("Thank you: the moderators will look at it."), "info")
    anchor = f"intro-{services.introduction_id_of(post)}"
    return redirect(url_for("welcome.index", lid=g.viewer.lid, _anchor=anchor), 303)


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
    return _flag_again(status, message)


def _flag_again(status: int, message: str) -> tuple[str, int] | None:
    """The page with a refused flag's form open as it was filled; None when the request was
    no flag or names no post of the course."""
    subject_type = {
        "welcome.flag_introduction": services.SUBJECT_INTRO,
        "welcome.flag_reply": services.SUBJECT_REPLY,
    }.get(request.endpoint or "")
    args = request.view_args or {}
    if subject_type is None:
        return None
    subject_id = int(args.get("introduction_id") or args.get("reply_id") or 0)
    try:
        post = services.find_post(db.session(), _course_id(), subject_type, subject_id)
    except services.WelcomeError:
        return None
    return _page(
        status,
        flag_error=message,
        flag_failed=(subject_type, post.id),
        flag_form=request.form,
        failed_intro=services.introduction_id_of(post),
    )


keep_text_on_refusal(bp, _give_text_back)
