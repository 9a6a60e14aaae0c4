"""Peer-group pages: thin views over services.py.

A form that carries a member's text (a post, a link, the meeting note, a new set, a survey
question) comes back with that text when it is refused: by validation (422), by the posting
rate limit (429) or by an expired CSRF token (400).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime, ngettext
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.groups import services
from lti_tool.community.groups.models import AssignMode, ChangeReason, GroupSet
from lti_tool.community.groups.permissions import (
    Actor,
    GroupsError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Refused,
)
from lti_tool.community.moderation.models import FlagReason
from lti_tool.core.errors import error_response
from lti_tool.core.ids import parse_id
from lti_tool.courses.access import Viewer, launch_required, staff_required
from lti_tool.courses.refusals import keep_text_on_refusal
from lti_tool.extensions import db, limiter, utcnow

bp = Blueprint("groups", __name__, url_prefix="/w/<lid>/groups")

post_limit = limiter.shared_limit("10/minute;60/hour", scope="groups-post")
Page = tuple[str, int]


# --- helpers ---------------------------------------------------------------------------------


def _actor(viewer: Viewer | None = None) -> Actor:
    viewer = viewer or g.viewer
    if viewer is None or viewer.course_id is None:
        abort(404)
    return Actor(
        member_id=viewer.member_id,
        course_id=viewer.course_id,
        role=viewer.role,
        community_manager=viewer.community_manager,
    )


def _when(moment: datetime | None) -> str:
    return str(format_datetime(moment, "short")) if moment else _("never")


def _page(template: str, status: int = 200, **context: Any) -> Page:
    return render_template(
        template,
        viewer=g.viewer,
        actor=_actor(),
        csrf=generate_csrf(),
        label=services.group_label,
        when=_when,
        mode_labels=_mode_labels(),
        messages=get_flashed_messages(with_categories=True),
        **context,
    ), status


def _done(message: str, endpoint: str, **values: Any) -> BaseResponse:
    flash(message, "info")
    return redirect(url_for(endpoint, lid=g.viewer.lid, **values), code=303)


def _refused(exc: GroupsError, endpoint: str, **values: Any) -> Any:
    """A refusal with no text to give back: 404, 403, or back to the page with the reason."""
    db.session.rollback()
    if isinstance(exc, NotFound):
        abort(404)
    if isinstance(exc, PermissionDenied):
        return error_response(403, str(exc.message))
    flash(str(exc.message), "error")
    return redirect(url_for(endpoint, lid=g.viewer.lid, **values), code=303)


def _int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return parse_id(raw)


def _deadline(raw: str) -> datetime | None:
    """An HTML datetime-local value, read as UTC (the form says so)."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput({"signup_deadline": _("Enter a date and time.")}) from None


# --- index and sets --------------------------------------------------------------------------


@bp.get("/")
@launch_required
def index(lid: str) -> Page:
    """Students: their groups and the sets they can join; staff: every set."""
    actor = _actor()
    return _page(
        "groups/index.html",
        sets=services.list_sets(db.session(), actor),
        mine=services.my_groups(db.session(), actor),
    )


def _new_set_page(status: int = 200, errors: dict[str, Any] | None = None) -> Page:
    return _page("groups/new_set.html", status, form=request.form, errors=errors or {})


@bp.get("/sets/new")
@staff_required
def new_set(lid: str) -> Page:
    return _new_set_page()


@bp.post("/sets/new")
@staff_required
def new_set_post(lid: str) -> Any:
    form = request.form
    try:
        data = services.SetInput(
            name=form.get("name", ""),
            group_size=_int("group_size"),
            mode=form.get("mode", ""),
            group_count=_int("group_count"),
            signup_cap=_int("signup_cap"),
            signup_deadline=_deadline(form.get("signup_deadline", "")),
            rotating_facilitator=form.get("rotating_facilitator") == "on",
        )
        group_set = services.create_set(db.session(), _actor(), data)
    except InvalidInput as exc:
        db.session.rollback()
        return _new_set_page(422, exc.errors)
    return _done(_("Group set created."), "groups.set_page", set_id=group_set.id)


def _set_page(set_id: int, status: int = 200, errors: dict[str, Any] | None = None) -> Page:
    actor = _actor()
    session = db.session()
    try:
        group_set = services.find_set(session, actor, set_id)
    except NotFound:
        abort(404)
    context: dict[str, Any] = {
        "group_set": group_set,
        "questions": services.survey_questions(session, group_set.id),
        "form": request.form if request.method == "POST" else {},
        "errors": errors or {},
        "signup_open": _signup_open(group_set),
    }
    if actor.manages_groups:
        groups, unplaced = services.set_overview(session, actor, group_set.id)
        context.update(
            groups=groups,
            unplaced=unplaced,
            log=services.change_log(session, actor, group_set.id, limit=50),
            reasons=_change_labels(),
        )
    else:
        signup, mine = services.signup_overview(session, actor, group_set.id)
        context.update(
            signup=signup,
            my_group_id=mine,
            answers=services.my_answers(session, actor, group_set.id),
        )
    return _page("groups/set.html", status, **context)


def _signup_open(group_set: GroupSet) -> bool:
    return group_set.mode == AssignMode.SELF_SIGNUP and (
        group_set.signup_deadline is None or utcnow() < group_set.signup_deadline
    )


@bp.get("/sets/<int:set_id>")
@launch_required
def set_page(lid: str, set_id: int) -> Page:
    return _set_page(set_id)


@bp.post("/sets/<int:set_id>/questions")
@staff_required
def add_question(lid: str, set_id: int) -> Any:
    form = request.form
    try:
        services.add_question(
            db.session(),
            _actor(),
            set_id,
            form.get("prompt", ""),
            form.get("strategy", ""),
            form.get("options", "").splitlines(),
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _set_page(set_id, 422, exc.errors)
    except GroupsError as exc:
        return _refused(exc, "groups.set_page", set_id=set_id)
    return _done(_("Question added."), "groups.set_page", set_id=set_id)


@bp.post("/sets/<int:set_id>/questions/<int:question_id>/delete")
@staff_required
def delete_question(lid: str, set_id: int, question_id: int) -> Any:
    try:
        services.delete_question(db.session(), _actor(), set_id, question_id)
    except GroupsError as exc:
        return _refused(exc, "groups.set_page", set_id=set_id)
    return _done(_("Question deleted."), "groups.set_page", set_id=set_id)


@bp.post("/sets/<int:set_id>/survey")
@launch_required
def answer_survey(lid: str, set_id: int) -> Any:
    answers: dict[int, int | None] = {}
    for key, value in request.form.items():
        question_id = parse_id(key[1:]) if key.startswith("q") else None
        if question_id is not None:
            answers[question_id] = parse_id(value)
    try:
        services.save_answers(db.session(), _actor(), set_id, answers)
    except InvalidInput as exc:
        db.session.rollback()
        return _set_page(set_id, 422, exc.errors)
    except GroupsError as exc:
        return _refused(exc, "groups.set_page", set_id=set_id)
    return _done(_("Thank you: your answers are saved."), "groups.set_page", set_id=set_id)


@bp.post("/sets/<int:set_id>/form")
@staff_required
def form_groups(lid: str, set_id: int) -> Any:
    try:
        groups = services.form_groups(db.session(), _actor(), set_id)
    except GroupsError as exc:
        return _refused(exc, "groups.set_page", set_id=set_id)
    message = ngettext("%(num)d group formed.", "%(num)d groups formed.", len(groups))
    return _done(message, "groups.set_page", set_id=set_id)


@bp.post("/sets/<int:set_id>/move")
@staff_required
def move(lid: str, set_id: int) -> Any:
    member_id = _int("member_id")
    if member_id is None:
        abort(404)
    try:
        services.move_member(db.session(), _actor(), set_id, member_id, _int("group_id"))
    except GroupsError as exc:
        return _refused(exc, "groups.set_page", set_id=set_id)
    return _done(_("Membership changed."), "groups.set_page", set_id=set_id)


@bp.post("/sets/<int:set_id>/facilitator")
@staff_required
def rotating_facilitator(lid: str, set_id: int) -> Any:
    on = request.form.get("on") == "1"
    try:
        services.set_rotating_facilitator(db.session(), _actor(), set_id, on)
    except GroupsError as exc:
        return _refused(exc, "groups.set_page", set_id=set_id)
    message = _("Rotating facilitator turned on.") if on else _("Rotating facilitator turned off.")
    return _done(message, "groups.set_page", set_id=set_id)


@bp.post("/join/<int:group_id>")
@launch_required
def join(lid: str, group_id: int) -> Any:
    try:
        group = services.join_group(db.session(), _actor(), group_id)
    except Refused as exc:
        set_id = _int("set_id")
        if set_id is None:
            abort(409)
        return _refused(exc, "groups.set_page", set_id=set_id)
    except GroupsError as exc:
        return _refused(exc, "groups.index")
    return _done(_("You joined the group."), "groups.group_page", group_id=group.id)


@bp.post("/leave/<int:group_id>")
@launch_required
def leave(lid: str, group_id: int) -> Any:
    try:
        services.leave_group(db.session(), _actor(), group_id)
    except GroupsError as exc:
        return _refused(exc, "groups.index")
    return _done(_("You left the group."), "groups.index")


# --- the group space -------------------------------------------------------------------------


def _group_page(
    group_id: int,
    status: int = 200,
    *,
    failed: str | None = None,
    error: str | None = None,
    errors: dict[str, Any] | None = None,
    flag_post_id: int | None = None,
) -> Page:
    """The group space; ``failed`` names the form whose text came back (``flag_post_id``:
    the post a refused flag was about)."""
    actor = _actor()
    session = db.session()
    try:
        group = services.find_group(session, actor, group_id)
    except NotFound:
        abort(404)
    posts = services.group_posts(session, group)
    return _page(
        "groups/group.html",
        status,
        group=group,
        group_set=group.group_set,
        members=services.group_members(session, group),
        posts=posts,
        # Posts moderators hid: a placeholder for members, the post marked for staff.
        hidden=services.hidden_posts(session, actor, posts),
        links=services.group_links(session, group),
        failed=failed,
        form=request.form if failed else {},
        error=error,
        errors=errors or {},
        flag_post_id=flag_post_id,
        flag_reasons=_flag_reasons(),
    )


@bp.get("/<int:group_id>")
@launch_required
def group_page(lid: str, group_id: int) -> Page:
    return _group_page(group_id)


def _text_form(group_id: int, failed: str, action: Any, message: str) -> Any:
    try:
        action()
    except InvalidInput as exc:
        db.session.rollback()
        return _group_page(group_id, 422, failed=failed, error=str(exc.message), errors=exc.errors)
    except GroupsError as exc:
        return _refused(exc, "groups.group_page", group_id=group_id)
    return _done(message, "groups.group_page", group_id=group_id)


@bp.post("/<int:group_id>/posts")
@launch_required
@post_limit
def post(lid: str, group_id: int) -> Any:
    return _text_form(
        group_id,
        "post",
        lambda: services.add_post(db.session(), _actor(), group_id, request.form.get("body", "")),
        _("Message posted."),
    )


@bp.post("/<int:group_id>/links")
@launch_required
@post_limit
def link(lid: str, group_id: int) -> Any:
    form = request.form
    return _text_form(
        group_id,
        "link",
        lambda: services.add_link(
            db.session(),
            _actor(),
            group_id,
            form.get("title", ""),
            form.get("url", ""),
            form.get("note", ""),
        ),
        _("Shared with the group."),
    )


@bp.post("/<int:group_id>/meeting")
@launch_required
def meeting(lid: str, group_id: int) -> Any:
    return _text_form(
        group_id,
        "meeting",
        lambda: services.set_meeting_note(
            db.session(), _actor(), group_id, request.form.get("meeting", "")
        ),
        _("Next meeting saved."),
    )


@bp.post("/<int:group_id>/facilitator/next")
@launch_required
def next_facilitator(lid: str, group_id: int) -> Any:
    try:
        services.pass_facilitator(db.session(), _actor(), group_id)
    except GroupsError as exc:
        return _refused(exc, "groups.group_page", group_id=group_id)
    return _done(_("The facilitator's turn has passed on."), "groups.group_page", group_id=group_id)


@bp.post("/posts/<int:post_id>/delete")
@launch_required
def delete_post(lid: str, post_id: int) -> Any:
    try:
        removed = services.delete_post(db.session(), _actor(), post_id)
    except GroupsError as exc:
        return _refused(exc, "groups.index")
    return _done(_("Message deleted."), "groups.group_page", group_id=removed.group_id)


@bp.post("/posts/<int:post_id>/flag")
@launch_required
@post_limit
def flag_post(lid: str, post_id: int) -> Any:
    form = request.form
    try:
        flagged = services.flag_post(
            db.session(), _actor(), post_id, form.get("reason", ""), form.get("note", "")
        )
    except InvalidInput as exc:
        db.session.rollback()
        message = str(next(iter(exc.errors.values())))
        return _flag_again(post_id, 422, message) or error_response(422, message)
    except Refused as exc:
        group_id = _int("group_id")
        if group_id is None:
            abort(409)
        return _refused(exc, "groups.group_page", group_id=group_id)
    except GroupsError as exc:
        return _refused(exc, "groups.index")
    return _done(
        _("Thank you: the moderators will look at it."),
        "groups.group_page",
        group_id=flagged.group_id,
    )


@bp.post("/links/<int:link_id>/delete")
@launch_required
def delete_link(lid: str, link_id: int) -> Any:
    group_id = _int("group_id")
    try:
        services.delete_link(db.session(), _actor(), link_id)
    except GroupsError as exc:
        return _refused(exc, "groups.index")
    if group_id is None:
        return _done(_("Removed."), "groups.index")
    return _done(_("Removed."), "groups.group_page", group_id=group_id)


# --- staff: health ---------------------------------------------------------------------------


@bp.get("/health")
@staff_required
def health(lid: str) -> Page:
    """Group health: last activity per group and member, quiet groups, silent members."""
    raw = request.args.get("days", "7")
    days = min(int(raw), 365) if raw.isdigit() and int(raw) > 0 else 7
    report = services.group_health(db.session(), _actor(), quiet_days=days)
    return _page("groups/health.html", report=report, days=days)


# --- refused requests that keep the text -----------------------------------------------------


def _flag_again(post_id: int, status: int, message: str) -> Page | None:
    """The group page with a refused flag's form open as it was filled (the form names its
    group); None without one."""
    group_id = _int("group_id")
    if group_id is None:
        return None
    return _group_page(group_id, status, failed="flag", error=message, flag_post_id=post_id)


def _give_text_back(status: int, message: str) -> Page | None:
    args = request.view_args or {}
    endpoint = request.endpoint or ""
    forms = {"groups.post": "post", "groups.link": "link", "groups.meeting": "meeting"}
    if endpoint in forms:
        return _group_page(int(args["group_id"]), status, failed=forms[endpoint], error=message)
    if endpoint == "groups.flag_post":
        return _flag_again(int(args["post_id"]), status, message)
    if endpoint == "groups.new_set_post" and g.viewer.can_manage_community:
        return _page("groups/new_set.html", status, form=request.form, errors={}, error=message)
    return None


keep_text_on_refusal(bp, _give_text_back)


# --- labels ----------------------------------------------------------------------------------


def _mode_labels() -> dict[str, str]:
    return {
        AssignMode.MANUAL.value: _("Manual: staff place people"),
        AssignMode.RANDOM.value: _("Random"),
        AssignMode.BALANCED.value: _("Balanced, from a joining survey"),
        AssignMode.SELF_SIGNUP.value: _("Self-signup"),
    }


def _change_labels() -> dict[str, str]:
    return {
        ChangeReason.FORMED.value: _("Placed when the groups were formed"),
        ChangeReason.LATE_JOINER.value: _("Placed as a late joiner"),
        ChangeReason.LEFT_COURSE.value: _("Left the course"),
        ChangeReason.MOVED.value: _("Moved by staff"),
        ChangeReason.REMOVED.value: _("Taken out by staff"),
        ChangeReason.JOINED.value: _("Signed up"),
        ChangeReason.LEFT_GROUP.value: _("Left the group"),
    }


def _flag_reasons() -> dict[str, str]:
    return {
        FlagReason.SPAM.value: _("Spam"),
        FlagReason.OFFENSIVE.value: _("Offensive"),
        FlagReason.OFF_TOPIC.value: _("Off topic"),
        FlagReason.PERSONAL_DATA.value: _("Personal data"),
        FlagReason.OTHER.value: _("Something else"),
    }
