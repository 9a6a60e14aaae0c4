"""The roster page: an instructor's Sync roster button, its progress and its result."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse

from lti_tool.config import Settings
from lti_tool.courses.access import staff_required
from lti_tool.courses.models import Course
from lti_tool.extensions import db
from lti_tool.sync.roster import (
    RosterStatus,
    nrps_url,
    refresh_if_stale,
    request_sync,
    roster_status,
)
from lti_tool.web.lms_errors import lms_error_text

log = logging.getLogger(__name__)
bp = Blueprint("roster", __name__, url_prefix="/w")


def _error_text(status: RosterStatus) -> str | None:
    """The failure in the page's language, with what the LMS said."""
    if status.error_code is None:
        return None
    texts = {
        "refused": _("The LMS refused the roster request."),
        "unauthorized": _("The LMS refused Bottega's access to the roster."),
        "untrusted_host": _(
            "The roster address is not on this LMS's own host, so Bottega did not send "
            "its credentials there."
        ),
        "no_service": _("This course's launches carry no roster service."),
    }
    return lms_error_text(status.error_code, texts, _("The roster sync failed."))


def _course() -> Course:
    if g.viewer.course_id is None:
        abort(404)
    course = db.session.get(Course, g.viewer.course_id)
    if course is None:
        abort(404)
    return course


def _context(lid: str) -> dict[str, object]:
    course = _course()
    status = roster_status(db.session(), course.id)
    return {
        "viewer": g.viewer,
        "status": status,
        "error_text": _error_text(status),
        "has_service": nrps_url(course.services) is not None,
        "can_sync": g.viewer.is_staff,
    }


@bp.get("/<lid>/roster")
@staff_required
def page(lid: str) -> str:
    """The roster sync page."""
    return render_template("roster/page.html", **_context(lid))


@bp.get("/<lid>/roster/status")
@staff_required
def status(lid: str) -> str:
    """The progress fragment the page polls while a sync is queued or running."""
    return render_template("roster/_status.html", **_context(lid))


@bp.post("/<lid>/roster/sync")
@staff_required
def sync(lid: str) -> BaseResponse | str:
    """Queue a full roster sync now (a pending one is brought forward, never doubled;
    a running one runs once more as soon as it ends)."""
    if not g.viewer.is_staff:
        abort(403)
    course = _course()
    if nrps_url(course.services) is None:
        abort(409)
    request_sync(db.session(), course.id, full=True, trigger="button", replace=True)
    db.session.commit()
    if request.headers.get("HX-Request"):
        return render_template("roster/_status.html", **_context(lid))
    return redirect(url_for("roster.page", lid=lid), code=303)


def after_launch(course_id: int | None) -> None:
    """End of a launch: queue a background sync if this course's roster is stale; never fails."""
    if course_id is None:
        return
    settings: Settings = current_app.extensions["bottega_settings"]
    try:
        refresh_if_stale(db.session(), course_id, max_age=settings.roster.max_age)
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("could not queue a roster sync for course %s", course_id, exc_info=True)


__all__ = ["after_launch", "bp"]
