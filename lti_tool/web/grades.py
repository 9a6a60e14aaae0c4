"""The grades pages: per graded placement, the rubric, each learner's last sent score, and a
"Send grades now" button."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.community.grades.services import (
    Rubric,
    RubricError,
    has_rubric,
    parse_rubric,
    rubric_for,
    save_rubric,
)
from lti_tool.courses.access import staff_required
from lti_tool.courses.models import Placement
from lti_tool.extensions import db
from lti_tool.sync.grades import (
    PushStatus,
    graded_endpoint,
    graded_placements,
    ledger,
    push_status,
    request_push,
)
from lti_tool.web.lms_errors import lms_error_text

bp = Blueprint("grades", __name__, url_prefix="/w/<lid>/grades")


def _error_text(status: PushStatus) -> str | None:
    """The failure in the page's language (the LMS's own words are shown beside it)."""
    if status.error_code is None:
        return None
    texts = {
        "refused": _("The LMS refused the grades."),
        "unauthorized": _("The LMS refused Bottega's access to the gradebook."),
        "untrusted_host": _(
            "The gradebook address is not on this LMS's own host, so Bottega did not send "
            "its credentials there."
        ),
        "no_service": _("This placement's launches carry no grade service."),
        "lineitem_gone": _(
            "The LMS no longer has this activity's gradebook column (was it deleted?). "
            "Add the activity to the course again, or restore its column in the LMS."
        ),
    }
    return lms_error_text(status.error_code, texts, _("Sending the grades failed."))


def _placement(pid: int) -> Placement:
    """A graded placement of the viewer's course; 404 for any other."""
    placement = db.session.get(Placement, pid)
    if (
        placement is None
        or g.viewer.course_id is None
        or placement.course_id != g.viewer.course_id
        or graded_endpoint(placement.services) is None
    ):
        abort(404)
    return placement


def _live_context(placement: Placement) -> dict[str, Any]:
    """What the part of the status that changes during a push needs (no table)."""
    status = push_status(db.session(), placement.id)
    return {
        "viewer": g.viewer,
        "placement": placement,
        "status": status,
        "error_text": _error_text(status),
        "can_send": g.viewer.is_staff,
    }


def _status_context(placement: Placement) -> dict[str, Any]:
    return {
        **_live_context(placement),
        "rows": ledger(db.session(), placement.id, placement.course_id),
    }


def _page(
    placement: Placement,
    *,
    rubric: Rubric | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
) -> dict[str, Any]:
    session = db.session()
    status = _status_context(placement)
    default_maximum = status["status"].lineitem_maximum
    return {
        **status,
        "rubric": rubric or rubric_for(session, placement.id, default_maximum=default_maximum),
        "custom_rubric": has_rubric(session, placement.id),
        "form": form,
        "errors": errors or {},
        "saved": saved,
    }


@bp.get("/")
@staff_required
def index(lid: str) -> BaseResponse | str:
    """The course's graded placements (straight to the one launched, when it is graded)."""
    if g.viewer.course_id is None:
        abort(404)
    placements = graded_placements(db.session(), g.viewer.course_id)
    current = [p for p in placements if p.id == g.viewer.placement_id]
    if current:
        return redirect(url_for("grades.page", lid=lid, pid=current[0].id), code=303)
    return render_template("grades/index.html", viewer=g.viewer, placements=placements)


@bp.get("/<int:pid>")
@staff_required
def page(lid: str, pid: int) -> str:
    """One graded placement: rubric, scores sent, Send grades now."""
    return render_template("grades/page.html", **_page(_placement(pid)))


@bp.get("/<int:pid>/status")
@staff_required
def status(lid: str, pid: int) -> BaseResponse | str:
    """The status section; ``?part=live``, what the page polls during a push: only the part
    that changes while it is busy, the whole section (table too) once it is over."""
    placement = _placement(pid)
    if request.args.get("part") == "live":
        live = _live_context(placement)
        if live["status"].busy:
            return render_template("grades/_live.html", **live)
        response = make_response(
            render_template("grades/_status.html", **_status_context(placement))
        )
        response.headers["HX-Retarget"] = "#grades-status"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return render_template("grades/_status.html", **_status_context(placement))


@bp.post("/<int:pid>/rubric")
@staff_required
def rubric(lid: str, pid: int) -> tuple[str, int] | str:
    """Save the rubric; bad values come back with the form as typed and a 422."""
    placement = _placement(pid)
    if not g.viewer.is_staff:
        abort(403)
    form = {k: v[:32] for k, v in request.form.items() if k != "csrf_token"}
    try:
        new = parse_rubric(form)
    except RubricError as exc:
        messages = {
            "number": _("Enter a number."),
            "range": _("Enter a number within the allowed range."),
        }
        errors = {k: messages.get(v, messages["number"]) for k, v in exc.problems.items()}
        return render_template(
            "grades/page.html", **_page(placement, form=form, errors=errors)
        ), 422
    save_rubric(db.session(), placement.id, new, g.viewer.member_id)
    return render_template("grades/page.html", **_page(placement, saved=True))


@bp.post("/<int:pid>/push")
@staff_required
def push(lid: str, pid: int) -> BaseResponse | str:
    """Queue a push now (a pending one is brought forward, never doubled;
    a running one runs once more as soon as it ends)."""
    placement = _placement(pid)
    if not g.viewer.is_staff:
        abort(403)
    request_push(db.session(), placement.id, trigger="button", replace=True)
    db.session.commit()
    if request.headers.get("HX-Request"):
        return render_template("grades/_status.html", **_status_context(placement))
    return redirect(url_for("grades.page", lid=lid, pid=placement.id), code=303)


__all__ = ["bp"]
