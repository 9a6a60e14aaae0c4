"""Moderation pages for staff and community managers, and the code-of-conduct gate for members.

Thin views over services.py. Every page and action is ``staff_required`` (a learner gets 403)
and looks flags and posts up within the viewer's course (another course's id is a 404). A
refused form (no reason given, an expired form token) comes back with what the moderator wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
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
    session,
    url_for,
)
from flask_babel import get_locale, ngettext, pgettext
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.moderation import conduct, services
from lti_tool.community.moderation.models import ActionKind, FlagReason, FlagStatus
from lti_tool.community.moderation.services import (
    Conflict,
    InvalidInput,
    ModerationError,
    NotFound,
    QueueSort,
)
from lti_tool.community.moderation.subjects import Subject, resolve
from lti_tool.core.errors import error_response
from lti_tool.core.ids import parse_id
from lti_tool.courses.access import (
    MAX_LAUNCHES,
    Viewer,
    launch_checks,
    launch_required,
    page_rows,
    role_label,
    staff_required,
)
from lti_tool.courses.models import Member
from lti_tool.courses.refusals import keep_text_on_refusal
from lti_tool.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("moderation", __name__, url_prefix="/w/<lid>/moderation")

Page = tuple[str, int]
DECISIONS = ("resolve", "dismiss", "hide", "hide_resolve", "restore")
PASSED_KEY = "coc"  # session: ids of launches whose member had accepted the code of conduct


# --- helpers ---------------------------------------------------------------------------------


def _course_id() -> int:
    if g.viewer.course_id is None:
        abort(404)
    return int(g.viewer.course_id)


def _names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.scalars(select(Member).where(Member.id.in_(wanted)))
    return {m.id: m.display_name for m in rows}


def _page(template: str, status: int = 200, **context: Any) -> Page:
    return render_template(
        template,
        viewer=g.viewer,
        messages=get_flashed_messages(with_categories=True, category_filter=["info", "error"]),
        reasons=reason_labels(),
        actions=action_labels(),
        statuses=status_labels(),
        **context,
    ), status


def _done(message: str, endpoint: str, **values: Any) -> BaseResponse:
    flash(message, "info")
    return redirect(url_for(endpoint, lid=g.viewer.lid, **values), code=303)


def _subject_url(subject: Subject | None) -> str | None:
    if subject is None or subject.endpoint is None:
        return None
    return url_for(subject.endpoint, lid=g.viewer.lid, **subject.values)


def _author_name(subject: Subject | None, names: dict[int, str]) -> str:
    """Moderation pages never reveal who wrote an anonymous post (a warning still reaches them)."""
    if subject is None or subject.author_id is None:
        return _("Unknown")
    if subject.anonymous:
        return _("Anonymous author")
    return names.get(subject.author_id, _("Unknown"))


# --- the queue -------------------------------------------------------------------------------


@bp.get("/")
@staff_required
def queue(lid: str) -> Page:
    """Posts with open flags, newest or most flagged first."""
    course_id = _course_id()
    try:
        sort = QueueSort(request.args.get("sort", QueueSort.NEWEST.value))
    except ValueError:
        sort = QueueSort.NEWEST
    groups = services.open_queue(db.session(), course_id, sort)
    names = _names(group.subject.author_id for group in groups if group.subject)
    return _page(
        "moderation/queue.html",
        groups=groups,
        sort=sort,
        sorts={QueueSort.NEWEST.value: _("Newest first"), QueueSort.MOST.value: _("Most flagged")},
        author=lambda subject: _author_name(subject, names),
        subject_url=_subject_url,
        type_labels=type_labels(),
    )


def _case_page(
    flag_id: int,
    status: int = 200,
    *,
    error: str | None = None,
    errors: dict[str, Any] | None = None,
    form: Any = None,
) -> Page:
    course_id = _course_id()
    try:
        case = services.post_case(db.session(), course_id, flag_id)
    except NotFound:
        abort(404)
    names = _names(
        [f.reporter_id for f in case.flags]
        + [f.resolved_by for f in case.flags]
        + [a.actor_id for a in case.history]
        + [case.subject.author_id if case.subject else None]
        + [case.hidden.hidden_by if case.hidden else None]
    )
    return _page(
        "moderation/case.html",
        status,
        case=case,
        names=names,
        author=_author_name(case.subject, names),
        subject_url=_subject_url(case.subject),
        type_labels=type_labels(),
        error=error,
        errors=errors or {},
        form=form if form is not None else {},
    )


@bp.get("/flags/<int:flag_id>")
@staff_required
def case(lid: str, flag_id: int) -> Page:
    """One flagged post: the post, every flag on it, and what moderators did."""
    return _case_page(flag_id)


def _refused(flag_id: int, exc: ModerationError) -> Page:
    db.session.rollback()
    if isinstance(exc, NotFound):
        abort(404)
    status = 422 if isinstance(exc, InvalidInput) else 409
    errors = exc.errors if isinstance(exc, InvalidInput) else {}
    return _case_page(flag_id, status, error=str(exc.message), errors=errors, form=request.form)


@bp.post("/flags/<int:flag_id>/decide")
@staff_required
def decide(lid: str, flag_id: int) -> Any:
    """Resolve or dismiss a post's open flags, hide it or restore it; always with a reason."""
    course_id, moderator = _course_id(), g.viewer.member_id
    decision = request.form.get("action", "")
    if decision not in DECISIONS:
        return _case_page(flag_id, 422, error=_("Choose what to do."), form=request.form)
    reason = request.form.get("reason", "")
    session = db.session()
    try:
        flag = services.find_flag(session, course_id, flag_id)
        subject = (flag.subject_type, flag.subject_id)
        if decision == "hide":
            services.hide_post(session, course_id, moderator, *subject, reason)
            message = _("The post is hidden: students see a placeholder.")
        elif decision == "hide_resolve":
            message = _hide_and_resolve(session, course_id, moderator, flag_id, subject, reason)
        elif decision == "restore":
            services.restore_post(session, course_id, moderator, *subject, reason)
            message = _("The post is visible again.")
        elif decision == "resolve":
            n = services.resolve_flags(session, course_id, moderator, flag_id, reason)
            message = ngettext("%(num)d flag resolved.", "%(num)d flags resolved.", n)
        else:
            n = services.dismiss_flags(session, course_id, moderator, flag_id, reason)
            message = ngettext("%(num)d flag dismissed.", "%(num)d flags dismissed.", n)
    except ModerationError as exc:
        return _refused(flag_id, exc)
    return _done(message, "moderation.case", flag_id=flag_id)


def _hide_and_resolve(
    session: Session,
    course_id: int,
    moderator: int,
    flag_id: int,
    subject: tuple[str, int],
    reason: str,
) -> str:
    """Both halves, each done once: another moderator may have done one of them meanwhile
    (hidden the post, or closed its flags); only when both were done already is it a 409."""
    try:
        services.hide_post(session, course_id, moderator, *subject, reason)
    except Conflict:
        session.rollback()
        services.resolve_flags(session, course_id, moderator, flag_id, reason)
        return _("The post was already hidden; its flags are resolved.")
    try:
        services.resolve_flags(session, course_id, moderator, flag_id, reason)
    except Conflict:
        session.rollback()
        return _("The post is hidden; its flags had already been handled.")
    return _("The post is hidden and its flags are resolved.")


@bp.post("/flags/<int:flag_id>/warn")
@staff_required
def warn(lid: str, flag_id: int) -> Any:
    """Send the post's author an in-app warning with the moderator's message."""
    course_id = _course_id()
    session = db.session()
    try:
        case_ = services.post_case(session, course_id, flag_id)
        if case_.subject is None or case_.subject.author_id is None:
            raise Conflict(_("The author of this post cannot be found."))
        services.warn_member(
            session,
            course_id,
            g.viewer.member_id,
            case_.subject.author_id,
            request.form.get("message", ""),
            subject=(case_.flag.subject_type, case_.flag.subject_id),
        )
    except ModerationError as exc:
        return _refused(flag_id, exc)
    return _done(_("The warning is sent to the author."), "moderation.case", flag_id=flag_id)


# --- hidden posts ----------------------------------------------------------------------------


def _hidden_page(
    status: int = 200, *, error: str | None = None, form: Any = None, failed: int | None = None
) -> Page:
    course_id = _course_id()
    items = services.hidden_posts(db.session(), course_id)
    names = _names([i.row.hidden_by for i in items])
    return _page(
        "moderation/hidden.html",
        status,
        items=items,
        names=names,
        subject_url=_subject_url,
        type_labels=type_labels(),
        error=error,
        form=form or {},
        failed=failed,
    )


@bp.get("/hidden")
@staff_required
def hidden(lid: str) -> Page:
    """Posts moderators hid, with who, when and why; each can be restored."""
    return _hidden_page()


@bp.post("/hidden/<int:hidden_id>/restore")
@staff_required
def restore(lid: str, hidden_id: int) -> Any:
    course_id = _course_id()
    session = db.session()
    try:
        row = services.find_hidden(session, course_id, hidden_id)
        services.restore_post(
            session,
            course_id,
            g.viewer.member_id,
            row.subject_type,
            row.subject_id,
            request.form.get("reason", ""),
        )
    except NotFound:
        abort(404)
    except ModerationError as exc:
        db.session.rollback()
        status, message = 409, exc.message
        if isinstance(exc, InvalidInput):
            status, message = 422, exc.errors.get("reason", exc.message)
        return _hidden_page(status, error=str(message), form=request.form, failed=hidden_id)
    return _done(_("The post is visible again."), "moderation.hidden")


# --- audit trail -----------------------------------------------------------------------------


@bp.get("/audit")
@staff_required
def audit(lid: str) -> Page:
    """Every moderation action in the course: who, what, when, why."""
    course_id = _course_id()
    before = request.args.get("before", "")
    entries = services.audit_trail(db.session(), course_id, before_id=parse_id(before))
    keys = [(e.subject_type, e.subject_id) for e in entries if e.subject_type and e.subject_id]
    subjects = resolve(db.session(), course_id, keys)
    names = _names([e.actor_id for e in entries] + [e.target_member_id for e in entries])

    def target(entry: Any) -> str:
        if entry.target_member_id is None:
            return ""
        subject = subjects.get((entry.subject_type, entry.subject_id))
        if subject is not None and subject.anonymous:
            return _("the author (anonymous post)")
        return names.get(entry.target_member_id, _("Unknown"))

    return _page(
        "moderation/audit.html",
        entries=entries,
        names=names,
        subjects=subjects,
        target=target,
        subject_url=_subject_url,
        type_labels=type_labels(),
        conduct_subject=conduct.SUBJECT,
        older_url=(
            url_for("moderation.audit", lid=lid, before=entries[-1].id)
            if len(entries) == 100
            else None
        ),
    )


# --- code of conduct: staff edit it ----------------------------------------------------------


def _conduct_page(
    status: int = 200, *, error: str | None = None, errors: dict[str, Any] | None = None
) -> Page:
    course_id = _course_id()
    current = conduct.current_conduct(db.session(), course_id, str(get_locale() or "en"))
    versions = conduct.conduct_versions(db.session(), course_id)
    names = _names([v.created_by for v, _n in versions])
    form = request.form if request.method == "POST" else {"body": current.body}
    return _page(
        "moderation/conduct.html",
        status,
        current=current,
        accepted=conduct.acceptances(db.session(), course_id, current.version),
        versions=versions,
        names=names,
        form=form,
        error=error,
        errors=errors or {},
    )


@bp.get("/conduct", endpoint="conduct")
@staff_required
def conduct_page(lid: str) -> Page:
    """The course's code of conduct, its versions, and the form to change it."""
    return _conduct_page()


@bp.post("/conduct")
@staff_required
def conduct_post(lid: str) -> Any:
    course_id = _course_id()
    try:
        row = conduct.edit_conduct(
            db.session(),
            course_id,
            g.viewer.member_id,
            request.form.get("body", ""),
            request.form.get("note", ""),
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _conduct_page(422, error=str(exc.message), errors=exc.errors)
    except Conflict as exc:
        db.session.rollback()
        return _conduct_page(409, error=str(exc.message))
    return _done(
        _("Version %(n)d is saved: members accept it on their next launch.", n=row.version),
        "moderation.conduct",
    )


# --- code of conduct: members accept it ------------------------------------------------------


def conduct_gate(viewer: Viewer, widget_title: str) -> Page | None:
    """The code-of-conduct page when this member has not accepted the current version, else
    None. Staff and community managers are not asked (they write and enforce it).

    Checked once per launch: the session remembers the launches that passed, so the Q&A list
    (where Q&A launches land) runs no query for it on later views. A new version of the code
    is therefore asked for on the member's next launch.
    """
    if viewer.course_id is None or viewer.can_manage_community:
        return None
    if viewer.lid in session.get(PASSED_KEY, ()):
        return None
    checks = launch_checks(viewer)  # the launch answering with this page looked it up
    if "conduct" in checks:
        version = checks["conduct"]
    else:
        version = conduct.pending_conduct_version(db.session(), viewer.course_id, viewer.member_id)
    if version is None:
        _passed(viewer.lid)
        return None
    return _gate_page(viewer, widget_title, version=version)


def _passed(lid: str) -> None:
    """Remember that this launch passed the gate (the latest few, like the launches)."""
    passed = [x for x in session.get(PASSED_KEY, ()) if x != lid][-(MAX_LAUNCHES - 1) :]
    session[PASSED_KEY] = [*passed, lid]


def _gate_page(
    viewer: Viewer,
    widget_title: str,
    status: int = 200,
    error: str | None = None,
    version: int | None = None,
) -> Page:
    """The code to accept (``version``: its number, when the caller just read it)."""
    assert viewer.course_id is not None
    rows = page_rows(viewer)  # no query right after the launch, else one
    member, course = rows[:2] if rows is not None else (None, None)
    if member is None or course is None:
        abort(401)
    locale = str(get_locale() or "en")
    return render_template(
        "moderation/accept.html",
        viewer=viewer,
        member=member,
        course=course,
        conduct=conduct.conduct_to_show(db.session(), viewer.course_id, version, locale),
        widget_title=widget_title,
        role=role_label(viewer),
        error=error,
    ), status


@bp.post("/conduct/accept")
@launch_required
def accept(lid: str) -> Any:
    """A member accepts the version they were shown, then goes on to their widget."""
    viewer = g.viewer
    course_id = _course_id()
    version = parse_id(request.form.get("version", ""))
    try:
        conduct.accept_conduct(
            db.session(), course_id, viewer.member_id, -1 if version is None else version
        )
    except Conflict as exc:
        db.session.rollback()
        return _gate_page(viewer, _("Code of conduct"), 409, str(exc.message))
    _passed(lid)
    return redirect(url_for("home.widget", lid=lid), code=303)


def _give_form_back(status: int, message: str) -> Any:
    """A refused post (an expired form token): the form again, with what was written."""
    viewer: Viewer = g.viewer
    args = request.view_args or {}
    if request.endpoint == "moderation.accept":
        return _gate_page(viewer, _("Code of conduct"), status, message)
    if not viewer.can_manage_community:
        return error_response(403)
    if request.endpoint in ("moderation.decide", "moderation.warn") and "flag_id" in args:
        return _case_page(int(args["flag_id"]), status, error=message, form=request.form)
    if request.endpoint == "moderation.conduct_post":
        return _conduct_page(status, error=message)
    if request.endpoint == "moderation.restore" and "hidden_id" in args:
        return _hidden_page(status, error=message, form=request.form, failed=int(args["hidden_id"]))
    return None


keep_text_on_refusal(bp, _give_form_back)


# --- labels ----------------------------------------------------------------------------------


def reason_labels() -> dict[str, str]:
    return {
        FlagReason.SPAM.value: _("Spam"),
        FlagReason.OFFENSIVE.value: _("Offensive"),
        FlagReason.OFF_TOPIC.value: _("Off topic"),
        FlagReason.PERSONAL_DATA.value: _("Personal data"),
        FlagReason.OTHER.value: _("Something else"),
    }


def status_labels() -> dict[str, str]:
    return {
        FlagStatus.OPEN.value: _("Open"),
        FlagStatus.RESOLVED.value: _("Resolved"),
        FlagStatus.DISMISSED.value: _("Dismissed"),
    }


def action_labels() -> dict[str, str]:
    return {
        ActionKind.RESOLVE.value: _("Resolved flags"),
        ActionKind.DISMISS.value: _("Dismissed flags"),
        ActionKind.HIDE.value: _("Hid a post"),
        ActionKind.RESTORE.value: _("Restored a post"),
        ActionKind.WARN.value: _("Warned a member"),
        ActionKind.CONDUCT_EDIT.value: _("Changed the code of conduct"),
    }


def type_labels() -> dict[str, str]:
    return {
        "qa_question": _("Question"),
        "qa_answer": _("Answer"),
        "qa_comment": pgettext("a kind of post", "Comment"),
        "groups_post": _("Group post"),
        "welcome_introduction": _("Introduction"),
        "welcome_reply": _("Reply to an introduction"),
    }
