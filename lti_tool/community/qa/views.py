"""Q&A pages: thin views over services.py and queries.py.

Every form that carries a member's text (ask, answer, comment, edits) comes back with that text
intact when it is refused: by validation (422), by the posting rate limit (429), by an expired
CSRF token (400) or by a database error (503).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_timedelta, get_locale, ngettext
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.content import render_markdown
from lti_tool.community.dashboard.playbook import templates as reply_templates
from lti_tool.community.moderation.services import hidden_keys
from lti_tool.community.moderation.views import conduct_gate, reason_labels
from lti_tool.community.notifications.services import mark_all_read
from lti_tool.community.pulse.views import prompt_context
from lti_tool.community.qa import queries, search, services
from lti_tool.community.qa.models import Question, QuestionState
from lti_tool.community.qa.permissions import (
    Actor,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QAError,
)
from lti_tool.community.qa.post_html import PostHtml
from lti_tool.core.errors import error_response, log_database_error
from lti_tool.core.i18n import time_ago
from lti_tool.core.ids import parse_id
from lti_tool.courses.access import Viewer, launch_required, staff_required
from lti_tool.courses.refusals import keep_text_on_refusal
from lti_tool.extensions import db, limiter, utcnow

log = logging.getLogger(__name__)

bp = Blueprint("qa", __name__, url_prefix="/w/<lid>/qa")

# One posting budget per member across questions, answers and comments.
post_limit = limiter.shared_limit("10/minute;60/hour", scope="qa-post")
FormPage = tuple[str, int]


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
        peer_mentor=viewer.peer_mentor,
    )


def _ago(moment: datetime | None, locale: str | None = None, now: datetime | None = None) -> str:
    """ "5 minutes ago", in the page's language (``now``: the page's moment)."""
    return time_ago(moment, locale or str(get_locale() or "en"), now)


def _duration(delta: timedelta | None) -> str:
    return "" if delta is None else str(format_timedelta(delta, granularity="minute"))


def _draft_key(*parts: object) -> str:
    viewer = g.viewer
    return ":".join(["qa", str(viewer.course_id), str(viewer.member_id), *map(str, parts)])


def _context(**context: Any) -> dict[str, Any]:
    """What every Q&A template reads: labels translated once, the form token, URL prefix."""
    viewer = g.viewer
    locale = _locale()
    labels, csrf = _labels(locale), generate_csrf()
    return {
        "viewer": viewer,
        "actor": _actor(viewer),
        "L": labels,
        "csrf": csrf,
        "h": PostHtml(
            labels,
            csrf,
            partial(_ago, locale=locale, now=utcnow()),
            partial(_count, locale=locale),
        ),
        "gettext": _template_gettext(locale),  # what the templates' _() calls
        "qa_url": url_for("qa.index", lid=viewer.lid),
        "ago": _ago,
        "duration": _duration,
        "draft_key": _draft_key,
        **context,
    }


def _page(
    template: str, status: int = 200, header: queries.Header | None = None, **context: Any
) -> FormPage:
    """Render a Q&A page with the header's data (who, unread count) and flashed messages;
    ``header`` when the page's own query read it already."""
    if header is None:
        header = queries.page_head(db.session(), _actor())[0]
    return render_template(
        template,
        **_context(
            me_name=header.name,
            unread=header.unread,
            cleared_drafts=get_flashed_messages(category_filter=["qa-draft-clear"]),
            messages=get_flashed_messages(with_categories=True, category_filter=["info", "error"]),
            **context,
        ),
    ), status


def _fragment(template: str, **context: Any) -> FormPage:
    """A piece of page for htmx to put in place."""
    return render_template(template, **_context(**context)), 200


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _done(message: str, endpoint: str, *, draft: str | None = None, **values: Any) -> BaseResponse:
    flash(message, "info")
    if draft:
        flash(draft, "qa-draft-clear")
    anchor = values.pop("_anchor", None)
    return redirect(url_for(endpoint, lid=g.viewer.lid, _anchor=anchor, **values), code=303)


def _form_text(name: str) -> str:
    return request.form.get(name, "")


def typical_reply_time(course_id: int) -> timedelta | None:
    """What an asker can expect: the course's median time to a first answer (kept for minutes by
    each process, see ``queries.ReplyTimes``)."""
    times: queries.ReplyTimes = current_app.extensions["bottega_reply_times"]
    return times.get(db.session(), course_id)


def _question_input() -> services.QuestionInput:
    tag_ids = []
    for raw in request.form.getlist("tags"):
        tag_id = parse_id(raw)
        if tag_id is not None:
            tag_ids.append(tag_id)
    return services.QuestionInput(
        title=_form_text("title"),
        body=_form_text("body"),
        tag_ids=tag_ids,
        anonymous=request.form.get("anonymous") == "on",
    )


def _refusal(exc: QAError, question_id: int | None = None) -> Any:
    """The page for a refused action that has no text to give back: 404, 403, or the question
    page again with the reason (a second flag, a vote clash)."""
    db.session.rollback()
    if isinstance(exc, NotFound):
        abort(404)
    if isinstance(exc, PermissionDenied):
        return error_response(403, str(exc.message))
    flash(str(exc.message), "error")
    target = request.form.get("next_question", "")
    if question_id is None:
        question_id = parse_id(target)
    if question_id is not None:
        return redirect(url_for("qa.question", lid=g.viewer.lid, question_id=question_id), code=303)
    return redirect(url_for("qa.index", lid=g.viewer.lid), code=303)


# --- forms that give text back ---------------------------------------------------------------


def _ask_page(
    status: int, error: str | None = None, errors: dict[str, Any] | None = None
) -> FormPage:
    actor = _actor()
    return _page(
        "qa/ask.html",
        status,
        form=request.form,
        chosen_tags={t for t in map(parse_id, request.form.getlist("tags")) if t is not None},
        tags=services.course_tags(db.session(), actor.course_id),
        settings=services.get_settings(db.session(), actor.course_id),
        error=error,
        errors=errors or {},
        question=None,
        typical_reply=typical_reply_time(actor.course_id),
    )


def _edit_question_page(
    question_id: int, status: int, error: str | None = None, errors: dict[str, Any] | None = None
) -> FormPage:
    actor = _actor()
    question = services.find_question(db.session(), actor, question_id)
    if not actor.can_change(question.author_id):
        abort(403)
    form = request.form if request.method == "POST" else None
    return _page(
        "qa/ask.html",
        status,
        form=form or {"title": question.title, "body": question.body},
        chosen_tags=(
            {t for t in map(parse_id, request.form.getlist("tags")) if t is not None}
            if form
            else {t.id for t in question.tags}
        ),
        tags=services.course_tags(db.session(), actor.course_id),
        settings=services.get_settings(db.session(), actor.course_id),
        error=error,
        errors=errors or {},
        question=question,
    )


def _question_page(
    question_id: int,
    status: int = 200,
    *,
    error: str | None = None,
    errors: dict[str, Any] | None = None,
    failed: str | None = None,
) -> FormPage:
    """The question page; ``failed="answer"`` when the answer form's text came back."""
    actor = _actor()
    thread = queries.question_thread(db.session(), actor, question_id)
    waiting = thread.question.state == QuestionState.UNANSWERED and not thread.question.deleted_at
    return _page(
        "qa/question.html",
        status,
        header=thread.header,
        thread=thread,
        # What an asker can expect, while nobody has answered yet.
        typical_reply=typical_reply_time(actor.course_id) if waiting else None,
        # Staff answer faster with the course's reply templates (the community manager's).
        reply_templates=reply_templates(db.session(), actor.course_id) if actor.is_staff else [],
        question=thread.question,
        failed=failed,
        form=request.form if failed else {},
        error=error,
        errors=errors or {},
        first_answer=(
            thread.question.first_answer_at - thread.question.created_at
            if thread.question.first_answer_at
            else None
        ),
        first_staff_answer=(
            thread.question.first_staff_answer_at - thread.question.created_at
            if thread.question.first_staff_answer_at
            else None
        ),
    )


def _comment_target() -> tuple[int | None, int | None]:
    """The answer and parent comment a comment form is about (from the query or the form)."""
    values = request.form if request.method == "POST" else request.args
    answer, parent = values.get("answer_id", ""), values.get("parent_id", "")
    return parse_id(answer), parse_id(parent)


def _question_title(actor: Actor, question_: Question) -> str:
    """The question's title as this viewer may see it: moderators hid it, the placeholder."""
    if actor.can_moderate:
        return question_.title
    if hidden_keys(db.session(), actor.course_id, {"qa_question": [question_.id]}):
        return _("Hidden by moderators")
    return question_.title


def _comment_page(
    question_id: int, status: int, error: str | None = None, errors: dict[str, Any] | None = None
) -> FormPage:
    """The comment (or reply) form on a page of its own, with the text when it came back."""
    actor = _actor()
    question_ = services.find_question(db.session(), actor, question_id)
    answer_id, parent_id = _comment_target()
    context: dict[str, Any] = {
        "question": question_,
        "question_title": _question_title(actor, question_),
        "answer_id": answer_id,
        "parent_id": parent_id,
        "allow_anonymous": services.get_settings(db.session(), actor.course_id).allow_anonymous,
        "form": request.form if request.method == "POST" else {},
        "error": error,
        "errors": errors or {},
    }
    if _is_htmx() and request.method == "GET":
        return _fragment("qa/_comment_form.html", **context)
    return _page("qa/comment.html", status, **context)


def _edit_answer_page(
    answer_id: int, status: int, error: str | None = None, errors: dict[str, Any] | None = None
) -> FormPage:
    actor = _actor()
    post, question = services.find_answer(db.session(), actor, answer_id)
    if not actor.can_change(post.author_id):
        abort(403)
    return _page(
        "qa/answer_edit.html",
        status,
        answer=post,
        question=question,
        question_title=_question_title(actor, question),
        form=request.form if request.method == "POST" else {"body": post.body},
        error=error,
        errors=errors or {},
    )


def _edit_comment_page(
    comment_id: int, status: int, error: str | None = None, errors: dict[str, Any] | None = None
) -> FormPage:
    actor = _actor()
    note = services.find_comment(db.session(), actor, comment_id)
    question_ = services.find_question(db.session(), actor, note.question_id)
    if not actor.can_change(note.author_id):
        abort(403)
    return _page(
        "qa/comment_edit.html",
        status,
        comment=note,
        question=question_,
        question_title=_question_title(actor, question_),
        form=request.form if request.method == "POST" else {"body": note.body},
        error=error,
        errors=errors or {},
    )


def _give_text_back(status: int, message: str) -> BaseResponse | FormPage | None:
    """Re-render the form a refused POST came from, with what the member wrote."""
    args = request.view_args or {}
    endpoint = request.endpoint or ""
    if endpoint == "qa.ask_post":
        return _ask_page(status, message)
    if endpoint == "qa.edit_question_post":
        return _edit_question_page(int(args["question_id"]), status, message)
    if endpoint == "qa.answer_post":
        return _question_page(int(args["question_id"]), status, error=message, failed="answer")
    if endpoint == "qa.comment_post":
        return _comment_page(int(args["question_id"]), status, message)
    if endpoint == "qa.edit_answer_post":
        return _edit_answer_page(int(args["answer_id"]), status, message)
    if endpoint == "qa.edit_comment_post":
        return _edit_comment_page(int(args["comment_id"]), status, message)
    if endpoint == "qa.flag":
        return _flag_page(int(args["question_id"]), status, message)
    return None


keep_text_on_refusal(bp, _give_text_back, course_required=False)


def _guarded(action: Any, on_error: Any) -> Any:
    """Run a posting use case; refusals and database errors give the form back with its text."""
    try:
        return action()
    except InvalidInput as exc:
        db.session.rollback()
        return on_error(422, str(exc.message), exc.errors)
    except (Conflict, PermissionDenied) as exc:
        db.session.rollback()
        status = 409 if isinstance(exc, Conflict) else 403
        return on_error(status, str(exc.message), {})
    except SQLAlchemyError as exc:
        db.session.rollback()
        log_database_error(exc, "posting to %s", request.path)
        return on_error(
            503,
            _("Your post could not be saved just now. Your text is kept: try again shortly."),
            {},
        )


# --- pages -----------------------------------------------------------------------------------


@bp.get("/")
@launch_required
def index(lid: str) -> FormPage:
    """The course's questions with filters, sorting and search."""
    # Q&A launches land here, not on home.widget: the code of conduct comes first here too.
    gate = conduct_gate(g.viewer, _("Questions and answers"))
    if gate is not None:
        return gate
    actor = _actor()
    args = request.args
    try:
        state = QuestionState(args.get("state", "")) if args.get("state") else None
    except ValueError:
        state = None
    try:
        sort = queries.Sort(args.get("sort", "newest"))
    except ValueError:
        sort = queries.Sort.NEWEST
    tag = args.get("tag", "")
    query = args.get("q", "").strip()[:200]
    filters = queries.ListFilters(
        state=state,
        tag_id=parse_id(tag),
        mine=args.get("mine") == "1",
        following=args.get("following") == "1",
        sort=queries.Sort.RELEVANCE if query and "sort" not in args else sort,
        query=query,
    )
    page_number = args.get("page", "1")
    header, settings, tag_choices = queries.list_head(db.session(), actor)
    page = queries.list_questions(
        db.session(),
        actor,
        filters,
        page=min(parse_id(page_number) or 1, 100_000),
        settings=settings,
    )

    def page_url(number: int) -> str:
        params: dict[str, Any] = {**args.to_dict(), "page": number}
        return url_for("qa.index", lid=lid, **params)

    return _page(
        "qa/index.html",
        header=header,
        page=page,
        prev_url=page_url(page.page - 1) if page.page > 1 else None,
        next_url=page_url(page.page + 1) if page.has_next else None,
        filters=filters,
        tags=tag_choices,
        sorts=_sort_labels(bool(query), _locale()),
        states=_labels(_locale())["states"],
        args=args,
        **prompt_context(g.viewer),
        # Moderators see hidden questions in the list, marked (students do not get them).
        hidden=hidden_keys(
            db.session(), actor.course_id, {"qa_question": [i.id for i in page.items]}
        )
        if actor.can_moderate
        else frozenset(),
    )


@bp.get("/ask")
@launch_required
def ask_form(lid: str) -> FormPage:
    return _ask_page(200)


@bp.post("/ask")
@launch_required
@post_limit
def ask_post(lid: str) -> Any:
    """Post a question; refused input comes back with the text."""
    actor = _actor()
    data = _question_input()

    def act() -> BaseResponse:
        question = services.ask(db.session(), actor, data)
        return _done(
            _("Your question is posted."),
            "qa.question",
            draft=_draft_key("ask"),
            question_id=question.id,
        )

    return _guarded(act, lambda status, message, errors: _ask_page(status, message, errors))


@bp.get("/duplicates")
@launch_required
def duplicates(lid: str) -> FormPage:
    """Likely duplicates of the title being typed (an htmx fragment)."""
    actor = _actor()
    title = request.args.get("title", "")[:200]
    similar = search.similar_questions(db.session(), actor.course_id, title) if title else []
    return render_template(
        "qa/_duplicates.html", viewer=g.viewer, similar=similar, states=_state_labels()
    ), 200


@bp.get("/<int:question_id>")
@launch_required
def question(lid: str, question_id: int) -> FormPage:
    try:
        return _question_page(question_id)
    except NotFound:
        abort(404)


@bp.get("/<int:question_id>/edit")
@launch_required
def edit_question_form(lid: str, question_id: int) -> FormPage:
    try:
        return _edit_question_page(question_id, 200)
    except NotFound:
        abort(404)


@bp.post("/<int:question_id>/edit")
@launch_required
@post_limit
def edit_question_post(lid: str, question_id: int) -> Any:
    actor = _actor()
    data = _question_input()

    def act() -> BaseResponse:
        services.edit_question(db.session(), actor, question_id, data)
        return _done(_("Your changes are saved."), "qa.question", question_id=question_id)

    try:
        return _guarded(
            act,
            lambda status, message, errors: _edit_question_page(
                question_id, status, message, errors
            ),
        )
    except NotFound:
        abort(404)


@bp.post("/<int:question_id>/answers")
@launch_required
@post_limit
def answer_post(lid: str, question_id: int) -> Any:
    actor = _actor()

    def act() -> BaseResponse:
        post = services.answer(
            db.session(),
            actor,
            question_id,
            _form_text("body"),
            anonymous=request.form.get("anonymous") == "on",
        )
        return _done(
            _("Your answer is posted."),
            "qa.question",
            draft=_draft_key("answer", question_id),
            question_id=question_id,
            _anchor=f"answer-{post.id}",
        )

    try:
        return _guarded(
            act,
            lambda status, message, errors: _question_page(
                question_id, status, error=message, errors=errors, failed="answer"
            ),
        )
    except NotFound:
        abort(404)


@bp.get("/<int:question_id>/comment")
@launch_required
def comment_form(lid: str, question_id: int) -> FormPage:
    """The form to comment on the question, on an answer (answer_id) or reply (parent_id)."""
    try:
        return _comment_page(question_id, 200)
    except NotFound:
        abort(404)


@bp.post("/<int:question_id>/comments")
@launch_required
@post_limit
def comment_post(lid: str, question_id: int) -> Any:
    actor = _actor()
    answer_id, parent_id = _comment_target()
    target = (
        f"reply-{parent_id}" if parent_id else f"comment-a{answer_id}" if answer_id else "comment-q"
    )

    def act() -> BaseResponse:
        note = services.comment(
            db.session(),
            actor,
            question_id,
            _form_text("body"),
            answer_id=answer_id,
            parent_id=parent_id,
            anonymous=request.form.get("anonymous") == "on",
        )
        return _done(
            _("Your comment is posted."),
            "qa.question",
            draft=_draft_key(target, question_id),
            question_id=question_id,
            _anchor=f"comment-{note.id}",
        )

    try:
        return _guarded(
            act,
            lambda status, message, errors: _comment_page(question_id, status, message, errors),
        )
    except NotFound:
        abort(404)


@bp.get("/<int:question_id>/flag")
@launch_required
def flag_form(lid: str, question_id: int) -> FormPage:
    """The form to flag the question, one of its answers or comments."""
    return _flag_page(question_id)


def _flag_page(question_id: int, status: int = 200, error: str | None = None) -> FormPage:
    """The flag form on a page of its own (or in place, for htmx); a refused flag comes back
    with its reason and note."""
    actor = _actor()
    values = request.form if request.method == "POST" else request.args
    kind, post_id = values.get("kind", ""), parse_id(values.get("post_id", ""))
    if kind not in services.SUBJECT_TYPES or post_id is None:
        abort(400)
    try:
        question_ = services.find_question(db.session(), actor, question_id)
    except NotFound:
        abort(404)
    context: dict[str, Any] = {
        "question": question_,
        "question_title": _question_title(actor, question_),
        "kind": kind,
        "post_id": post_id,
        "reasons": _flag_reasons(),
        "form": request.form if request.method == "POST" else {},
        "error": error,
    }
    if _is_htmx() and request.method == "GET":
        return _fragment("qa/_flag_form.html", **context)
    return _page("qa/flag.html", status, **context)


@bp.get("/answers/<int:answer_id>/edit")
@launch_required
def edit_answer_form(lid: str, answer_id: int) -> FormPage:
    try:
        return _edit_answer_page(answer_id, 200)
    except NotFound:
        abort(404)


@bp.post("/answers/<int:answer_id>/edit")
@launch_required
@post_limit
def edit_answer_post(lid: str, answer_id: int) -> Any:
    actor = _actor()

    def act() -> BaseResponse:
        post = services.edit_answer(db.session(), actor, answer_id, _form_text("body"))
        return _done(
            _("Your changes are saved."),
            "qa.question",
            question_id=post.question_id,
            _anchor=f"answer-{post.id}",
        )

    try:
        return _guarded(
            act,
            lambda status, message, errors: _edit_answer_page(answer_id, status, message, errors),
        )
    except NotFound:
        abort(404)


@bp.get("/comments/<int:comment_id>/edit")
@launch_required
def edit_comment_form(lid: str, comment_id: int) -> FormPage:
    try:
        return _edit_comment_page(comment_id, 200)
    except NotFound:
        abort(404)


@bp.post("/comments/<int:comment_id>/edit")
@launch_required
@post_limit
def edit_comment_post(lid: str, comment_id: int) -> Any:
    actor = _actor()

    def act() -> BaseResponse:
        note = services.edit_comment(db.session(), actor, comment_id, _form_text("body"))
        return _done(
            _("Your changes are saved."),
            "qa.question",
            question_id=note.question_id,
            _anchor=f"comment-{note.id}",
        )

    try:
        return _guarded(
            act,
            lambda status, message, errors: _edit_comment_page(comment_id, status, message, errors),
        )
    except NotFound:
        abort(404)


@bp.get("/<int:question_id>/history")
@launch_required
def question_history(lid: str, question_id: int) -> FormPage:
    return _history("question", question_id)


@bp.get("/answers/<int:answer_id>/history")
@launch_required
def answer_history(lid: str, answer_id: int) -> FormPage:
    return _history("answer", answer_id)


@bp.get("/comments/<int:comment_id>/history")
@launch_required
def comment_history(lid: str, comment_id: int) -> FormPage:
    return _history("comment", comment_id)


def _history(kind: str, post_id: int) -> FormPage:
    actor = _actor()
    subject = {services.SUBJECT_TYPES[kind]: [post_id]}
    if not actor.can_moderate and hidden_keys(db.session(), actor.course_id, subject):
        abort(404)  # hidden by moderators: earlier versions too
    try:
        revisions = queries.history(db.session(), actor, kind, post_id)
        if kind == "question":
            question_ = services.find_question(db.session(), actor, post_id)
            current: Any = question_
        elif kind == "comment":
            current = services.find_comment(db.session(), actor, post_id)
            question_ = services.find_question(db.session(), actor, current.question_id)
        else:
            current, question_ = services.find_answer(db.session(), actor, post_id)
    except NotFound:
        abort(404)
    return _page(
        "qa/history.html",
        kind=kind,
        revisions=revisions,
        current=current,
        question=question_,
        markdown=render_markdown,  # earlier versions are rendered here, not stored rendered
    )


# --- one-click actions -----------------------------------------------------------------------


def _act(action: Any, message: str, question_id: int | None, anchor: str | None = None) -> Any:
    try:
        action()
    except QAError as exc:
        return _refusal(exc, question_id)
    if question_id is None:
        return _done(message, "qa.index")
    return _done(message, "qa.question", question_id=question_id, _anchor=anchor)


@bp.post("/<int:question_id>/delete")
@launch_required
def delete_question(lid: str, question_id: int) -> Any:
    actor = _actor()
    return _act(
        lambda: services.delete_question(db.session(), actor, question_id),
        _("The question is deleted."),
        None,
    )


@bp.post("/answers/<int:answer_id>/delete")
@launch_required
def delete_answer(lid: str, answer_id: int) -> Any:
    actor = _actor()
    try:
        question_ = services.delete_answer(db.session(), actor, answer_id)
    except QAError as exc:
        return _refusal(exc)
    return _done(_("The answer is deleted."), "qa.question", question_id=question_.id)


@bp.post("/comments/<int:comment_id>/delete")
@launch_required
def delete_comment(lid: str, comment_id: int) -> Any:
    actor = _actor()
    try:
        note = services.delete_comment(db.session(), actor, comment_id)
    except QAError as exc:
        return _refusal(exc)
    return _done(_("The comment is deleted."), "qa.question", question_id=note.question_id)


@bp.post("/<int:question_id>/vote")
@launch_required
def vote_question(lid: str, question_id: int) -> Any:
    actor = _actor()
    return _act(
        lambda: services.toggle_vote(db.session(), actor, "question", question_id),
        _("Thanks, your vote is counted (press again to take it back)."),
        question_id,
    )


@bp.post("/answers/<int:answer_id>/vote")
@launch_required
def vote_answer(lid: str, answer_id: int) -> Any:
    actor = _actor()
    return _answer_action(
        answer_id,
        lambda: services.toggle_vote(db.session(), actor, "answer", answer_id),
        _("Thanks, your vote is counted (press again to take it back)."),
        _("Your vote is taken back."),
    )


@bp.post("/answers/<int:answer_id>/accept")
@launch_required
def accept_answer(lid: str, answer_id: int) -> Any:
    actor = _actor()
    return _answer_action(
        answer_id,
        lambda: services.accept(db.session(), actor, answer_id),
        _("You accepted this answer."),
        _("The answer is no longer accepted."),
    )


@bp.post("/answers/<int:answer_id>/endorse")
@launch_required
def endorse_answer(lid: str, answer_id: int) -> Any:
    actor = _actor()
    return _answer_action(
        answer_id,
        lambda: services.toggle_endorse(db.session(), actor, "answer", answer_id),
        _("The answer is endorsed."),
        _("The endorsement is withdrawn."),
    )


def _answer_action(answer_id: int, action: Any, on: str, off: str) -> Any:
    actor = _actor()
    question_id: int | None = None
    try:
        post, _question = services.find_answer(db.session(), actor, answer_id)
        question_id = post.question_id
        result = action()
    except QAError as exc:
        return _refusal(exc, question_id)
    return _done(
        on if result else off, "qa.question", question_id=question_id, _anchor=f"answer-{answer_id}"
    )


@bp.post("/<int:question_id>/endorse")
@launch_required
def endorse_question(lid: str, question_id: int) -> Any:
    actor = _actor()
    try:
        endorsed = services.toggle_endorse(db.session(), actor, "question", question_id)
    except QAError as exc:
        return _refusal(exc, question_id)
    return _done(
        _("The question is endorsed.") if endorsed else _("The endorsement is withdrawn."),
        "qa.question",
        question_id=question_id,
    )


@bp.post("/<int:question_id>/follow")
@launch_required
def follow(lid: str, question_id: int) -> Any:
    actor = _actor()
    following = request.form.get("follow") == "1"
    return _act(
        lambda: services.set_following(db.session(), actor, question_id, following),
        _("You will be notified of new answers.")
        if following
        else _("You will no longer be notified about this question."),
        question_id,
    )


@bp.post("/<int:question_id>/flag")
@launch_required
@post_limit
def flag(lid: str, question_id: int) -> Any:
    actor = _actor()
    kind = request.form.get("kind", "")
    post_id = parse_id(request.form.get("post_id", ""))
    if kind not in services.SUBJECT_TYPES or post_id is None:
        abort(400)
    return _act(
        lambda: services.flag(
            db.session(),
            actor,
            kind,
            post_id,
            request.form.get("reason", ""),
            request.form.get("note", ""),
        ),
        _("Thank you: the moderators will look at it."),
        question_id,
    )


# --- staff and notifications -----------------------------------------------------------------


@bp.get("/unanswered")
@staff_required
def unanswered(lid: str) -> FormPage:
    """Questions nobody has answered, oldest first, with their age."""
    actor = _actor()
    return _page("qa/unanswered.html", queue=queries.unanswered_queue(db.session(), actor))


@bp.get("/notifications")
@launch_required
def notifications(lid: str) -> FormPage:
    actor = _actor()
    return _page(
        "qa/notifications.html",
        items=queries.notifications(db.session(), actor),
    )


@bp.post("/notifications/read")
@launch_required
def notifications_read(lid: str) -> BaseResponse:
    actor = _actor()
    mark_all_read(db.session(), actor.member_id, actor.course_id)
    return _done(_("All notifications are marked as read."), "qa.notifications")


@bp.get("/settings")
@staff_required
def settings(lid: str) -> FormPage:
    return _settings_page(200)


def _settings_page(status: int, errors: dict[str, Any] | None = None) -> FormPage:
    actor = _actor()
    if not actor.is_staff:
        abort(403)
    return _page(
        "qa/settings.html",
        status,
        settings=services.get_settings(db.session(), actor.course_id),
        tags=services.course_tags(db.session(), actor.course_id),
        errors=errors or {},
        form=request.form,
    )


@bp.post("/settings")
@staff_required
def settings_post(lid: str) -> Any:
    actor = _actor()
    try:
        services.update_settings(
            db.session(),
            actor,
            allow_anonymous=request.form.get("allow_anonymous") == "on",
            staff_see_anonymous=request.form.get("staff_see_anonymous") == "on",
        )
    except PermissionDenied:
        abort(403)
    return _done(_("Settings saved."), "qa.settings")


@bp.post("/settings/tags")
@staff_required
def tag_post(lid: str) -> Any:
    actor = _actor()
    tag_id = request.form.get("tag_id", "")
    try:
        services.save_tag(
            db.session(),
            actor,
            request.form.get("name", ""),
            request.form.get("label", ""),
            tag_id=parse_id(tag_id),
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _settings_page(422, exc.errors)
    except QAError as exc:
        return _refusal(exc)
    return _done(_("Tag saved."), "qa.settings")


@bp.post("/settings/tags/<int:tag_id>/delete")
@staff_required
def tag_delete(lid: str, tag_id: int) -> Any:
    actor = _actor()
    try:
        services.delete_tag(db.session(), actor, tag_id)
    except QAError as exc:
        return _refusal(exc)
    return _done(_("Tag deleted."), "qa.settings")


# --- labels ----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _labels(locale: str) -> dict[str, Any]:
    """Words the Q&A templates repeat for every post, translated once per language (``locale``
    is the current request's: it keys the cache)."""
    return {
        "states": _state_labels(),
        "anonymous": _("Anonymous classmate"),
        "anonymous_to_classmates": _("anonymous to classmates"),
        "anonymous_option": _("Anonymous to classmates"),
        "you": _("you"),
        "answer_by": _("Answer by"),
        "accepted": _("Accepted answer"),
        "accept": _("Accept this answer"),
        "unaccept": _("Accepted (undo)"),
        "endorsed": _("Endorsed by staff"),
        "endorsed_by_mentor": _("Endorsed by a peer mentor"),
        "endorsed_short": _("Endorsed"),
        "tags": _("Tags"),
        "endorse": _("Endorse"),
        "unendorse": _("Withdraw endorsement"),
        "staff_answer": _("Staff answer"),
        "helpful": _("Helpful"),
        "edit": _("Edit"),
        "edited": _("edited"),
        "delete": _("Delete"),
        "delete_answer": _("Delete this answer"),
        "delete_comment": _("Delete this comment"),
        "edit_comment": _("Edit this comment"),
        "deleted_for_moderators": _("Deleted (visible to moderators only)"),
        "comment_deleted": _("This comment was deleted."),
        "comments_on_answer": _("Comments on this answer"),
        "add_comment": _("Comment"),
        "reply": _("Reply"),
        "flag": _("Flag"),
        "your_comment": _("Your comment"),
        "your_reply": _("Your reply"),
        "send_comment": _("Send comment"),
        "send_reply": _("Send reply"),
        "draft_restored": _("Your unsent draft is back."),
        "peer_mentor": _("Peer mentor"),
        "give_kudos": _("Give kudos"),
        "hidden": _("Hidden by moderators"),
        "hidden_mark": _("Hidden by moderators: students see a placeholder."),
    }


@lru_cache(maxsize=8)
def _template_gettext(locale: str) -> Callable[..., Markup]:
    """``_()`` for the Q&A templates in one language (``locale``: the current request's): each
    message is looked up once; Flask-Babel's own goes through the request context every time,
    which was a twentieth of the question page's CPU. Works like Jinja's newstyle gettext."""
    translated: dict[str, Markup] = {}

    def template_gettext(message: str, /, **variables: Any) -> Markup:
        text = translated.get(message)
        if text is None:
            text = translated[message] = Markup(_(message))  # noqa: S704 -- our catalog
        return text % variables if variables else text

    return template_gettext


def _count(kind: str, n: int, locale: str) -> str:
    """ "3 answers", "1 helpful" in the page's language (cached: lists repeat them)."""
    return _count_words(kind, n, locale)


@lru_cache(maxsize=1024)
def _count_words(kind: str, n: int, locale: str) -> str:
    if kind == "answers":
        return ngettext("%(num)d answer", "%(num)d answers", n)
    return ngettext("%(num)d helpful", "%(num)d helpful", n)


def _state_labels() -> dict[str, str]:
    return {
        QuestionState.UNANSWERED.value: _("Unanswered"),
        QuestionState.ANSWERED.value: _("Answered"),
        QuestionState.RESOLVED.value: _("Resolved"),
    }


def _locale() -> str:
    return str(get_locale() or "en")


@lru_cache(maxsize=16)
def _sort_labels(query: bool, locale: str) -> dict[str, str]:
    """The list's sort choices (with "Best match" for a search) in ``locale``, the current
    request's: it keys the cache."""
    labels = {
        queries.Sort.NEWEST.value: _("Newest"),
        queries.Sort.HELPFUL.value: _("Most helpful"),
        queries.Sort.UNANSWERED.value: _("Unanswered first"),
        queries.Sort.ACTIVITY.value: _("Recent activity"),
    }
    if query:
        labels = {queries.Sort.RELEVANCE.value: _("Best match"), **labels}
    return labels


def _flag_reasons() -> dict[str, str]:
    return reason_labels()  # moderation owns the reasons and their words
