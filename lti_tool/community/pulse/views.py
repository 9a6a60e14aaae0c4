"""Pulse pages: staff open, close and read pulses (in the dashboard's layout); students answer
the open one from the Q&A page. Thin over services.py.

A refused answer or pulse (invalid, closed, one already open, an expired form token) comes back
as its form with what was typed, and a 4xx status.
"""

from __future__ import annotations

import logging
from datetime import datetime
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
from flask_babel import format_date, format_decimal, format_time
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.dashboard.views import csv_response, dashboard_page, export_access
from lti_tool.community.pulse import services
from lti_tool.community.pulse.models import (
    COMMENT_MAX,
    DAYS_MAX,
    DAYS_MIN,
    DEFAULT_DAYS,
    QUESTION_MAX,
    QUESTION_MIN,
    SCALE,
    PulseSurvey,
)
from lti_tool.community.pulse.services import (
    Actor,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PulseError,
)
from lti_tool.core.errors import error_response, log_database_error
from lti_tool.courses.access import Viewer, launch_required, staff_required
from lti_tool.courses.refusals import keep_text_on_refusal
from lti_tool.courses.roles import CourseRole
from lti_tool.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("pulse", __name__, url_prefix="/w/<lid>/pulse")
Page = tuple[str, int]


def actor_of(viewer: Viewer | None = None) -> Actor:
    """The pulse actor of a launch; 404 outside a course."""
    viewer = viewer or g.viewer
    if viewer is None or viewer.course_id is None:
        abort(404)
    return Actor(
        member_id=viewer.member_id,
        course_id=viewer.course_id,
        can_manage=viewer.can_manage_community,
        learner=viewer.role == CourseRole.LEARNER and not viewer.can_manage_community,
    )


def scale_labels() -> dict[int, str]:
    """Words at both ends of the scale; the points between are their numbers."""
    return {1: _("Not well"), 5: _("Very well")}


def when(moment: datetime | None) -> str:
    """A date and time to the minute, as the page's language writes them."""
    if moment is None:
        return ""
    return f"{format_date(moment, 'medium')}, {format_time(moment, 'short')}"


def mean_text(mean: float | None) -> str:
    return "" if mean is None else str(format_decimal(mean, "0.0"))


def template_helpers() -> dict[str, Any]:
    """What the pulse templates (and the Q&A page's pulse box) use."""
    return {
        "pulse_question": services.question_text,
        "pulse_scale": SCALE,
        "pulse_scale_labels": scale_labels(),
        "pulse_when": when,
        "pulse_comment_max": COMMENT_MAX,
    }


# --- students ----------------------------------------------------------------------------------


def prompt_context(viewer: Viewer) -> dict[str, Any]:
    """For the Q&A page: the open pulse a student may answer (``pulse_prompt``), or nothing."""
    if viewer.course_id is None or viewer.can_manage_community:
        return {"pulse_prompt": None}
    prompt = services.prompt_for(db.session(), actor_of(viewer))
    return {"pulse_prompt": prompt, **(template_helpers() if prompt else {})}


def _answer_page(
    pulse_id: int, status: int = 200, error: str | None = None, errors: dict[str, Any] | None = None
) -> Page:
    """The answer form on a page of its own: without JavaScript, and after a refused answer
    (with what was sent)."""
    actor = actor_of()
    if not actor.learner:
        abort(403)
    session = db.session()
    try:
        pulse = services.find_pulse(session, actor.course_id, pulse_id)
    except NotFound:
        abort(404)
    mine = services.my_answer(session, pulse.id, actor.member_id)
    if request.method == "POST":
        form = {"score": request.form.get("score", ""), "comment": request.form.get("comment", "")}
    else:
        form = {
            "score": str(mine.score) if mine else "",
            "comment": mine.comment if mine else "",
        }
    return render_template(
        "pulse/answer.html",
        viewer=g.viewer,
        pulse=pulse,
        is_open=services.is_open(pulse),
        mine=mine,
        form=form,
        error=error,
        errors=errors or {},
        messages=get_flashed_messages(with_categories=True),
        **template_helpers(),
    ), status


@bp.get("/<int:pulse_id>/answer")
@launch_required
def answer_form(lid: str, pulse_id: int) -> Page:
    return _answer_page(pulse_id)


@bp.post("/<int:pulse_id>/answer")
@launch_required
def answer_post(lid: str, pulse_id: int) -> Any:
    """Answer (or change one's answer); then back to the Q&A page with a thank-you."""
    actor = actor_of()
    if not actor.learner:
        abort(403)
    try:
        services.answer(
            db.session(),
            actor,
            pulse_id,
            score=request.form.get("score"),
            comment=request.form.get("comment", ""),
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _answer_page(pulse_id, 422, str(exc.message), exc.errors)
    except NotFound:
        db.session.rollback()
        abort(404)
    except Conflict as exc:
        db.session.rollback()
        return _answer_page(pulse_id, 409, str(exc.message))
    except PulseError as exc:
        db.session.rollback()
        return error_response(403, str(exc.message))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log_database_error(exc, "answering a pulse")
        return _answer_page(
            pulse_id, 503, _("Your answer could not be saved just now. It is kept: try again.")
        )
    flash(_("Thank you for your answer! Staff see only totals, never who answered."), "info")
    return redirect(url_for("qa.index", lid=lid, _anchor="pulse"), code=303)


# --- staff -------------------------------------------------------------------------------------


def _results_page(
    pulse_id: int | None,
    status: int = 200,
    error: str | None = None,
    errors: dict[str, Any] | None = None,
) -> Page:
    """A pulse's results (``None``: the open pulse, or the form to open one), and the course's
    past pulses."""
    actor = actor_of()
    session = db.session()
    current = services.current_pulse(session, actor.course_id)
    try:
        shown = pulse_id if pulse_id is not None else (current.id if current else None)
        found = services.results(session, actor.course_id, shown) if shown else None
    except NotFound:
        abort(404)
    form = request.form if request.method == "POST" else {}
    return dashboard_page(
        "pulse/index.html",
        status,
        results=found,
        current=current,
        is_open=services.is_open,
        past=services.history(session, actor.course_id),
        mean_text=mean_text,
        min_shown=services.MIN_SHOWN,
        form=form,
        error=error,
        errors=errors or {},
        default_question=str(services.DEFAULT_QUESTION),
        days_min=DAYS_MIN,
        days_max=DAYS_MAX,
        default_days=DEFAULT_DAYS,
        question_min=QUESTION_MIN,
        question_max=QUESTION_MAX,
        **template_helpers(),
    )


@bp.get("/")
@staff_required
def index(lid: str) -> Page:
    return _results_page(None)


@bp.get("/<int:pulse_id>")
@staff_required
def results(lid: str, pulse_id: int) -> Page:
    return _results_page(pulse_id)


@bp.post("/open")
@staff_required
def open_post(lid: str) -> Any:
    actor = actor_of()
    form = request.form
    try:
        services.open_pulse(
            db.session(),
            actor,
            question=form.get("question", ""),
            days=form.get("days"),
            allow_comments=form.get("allow_comments") == "1",
        )
    except InvalidInput as exc:
        db.session.rollback()
        return _results_page(None, 422, str(exc.message), exc.errors)
    except Conflict as exc:
        db.session.rollback()
        return _results_page(None, 409, str(exc.message))
    except PermissionDenied as exc:
        db.session.rollback()
        return error_response(403, str(exc.message))
    flash(_("The pulse is open: students see it on the Questions and answers page."), "info")
    return redirect(url_for("pulse.index", lid=lid), code=303)


@bp.post("/<int:pulse_id>/close")
@staff_required
def close_post(lid: str, pulse_id: int) -> BaseResponse:
    try:
        services.close_pulse(db.session(), actor_of(), pulse_id)
    except NotFound:
        db.session.rollback()
        abort(404)
    flash(_("The pulse is closed."), "info")
    return redirect(url_for("pulse.results", lid=lid, pulse_id=pulse_id), code=303)


@bp.get("/<int:pulse_id>/export.csv")
@export_access
def export(lid: str, pulse_id: int) -> Any:
    """A pulse's figures and comments as CSV: no names, no member ids."""
    if not g.viewer.can_manage_community:
        abort(403)
    actor = actor_of()
    try:
        found = services.results(db.session(), actor.course_id, pulse_id)
    except NotFound:
        abort(404)
    pulse = found.pulse
    rows: list[tuple[object, object]] = [
        (_("Question"), services.question_text(pulse)),
        (_("Opened"), pulse.opened_at.isoformat(timespec="minutes")),
        (
            _("Closes") if services.is_open(pulse) else _("Closed"),
            _closing(pulse).isoformat(timespec="minutes"),
        ),
        (_("Answers"), found.answers),
        (_("Students"), found.learners),
        (
            _("Response rate (%)"),
            "" if found.rate_percent is None else found.rate_percent,
        ),
    ]
    if found.shown:
        words = scale_labels()
        for point in SCALE:
            label = f"{point} ({words[point]})" if point in words else str(point)
            rows.append((_("Answers with %(point)s", point=label), found.distribution[point]))
        rows.append((_("Mean (1 to 5)"), mean_text(found.mean)))
        rows += [(_("Comment"), comment) for comment in found.comments]
    else:
        rows.append((_("Note"), _("Too few answers yet to show without identifying anyone")))
    return csv_response(f"pulse-{pulse.id}", [_("Figure"), _("Value")], rows)


def _closing(pulse: PulseSurvey) -> datetime:
    """When the pulse closed, or will close."""
    return pulse.closed_at if pulse.closed_at is not None else pulse.closes_at


def _form_back(status: int, message: str) -> Any:
    """A refused post (an expired form token): its form again, with what was typed."""
    args = request.view_args or {}
    if request.endpoint == "pulse.answer_post":
        return _answer_page(int(args["pulse_id"]), status, message)
    if request.endpoint == "pulse.open_post" and g.viewer.can_manage_community:
        return _results_page(None, status, message)
    return None


keep_text_on_refusal(bp, _form_back)
