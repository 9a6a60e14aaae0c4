"""A post refused before its view runs (the posting rate limit, an expired CSRF token) must
still come back with its text. Each widget's blueprint says how to give its forms back; the
handlers here find the launch (they run before ``launch_required``) and choose the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, make_response, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from lti_tool.core.errors import error_response
from lti_tool.courses.access import Viewer, viewer_for

GiveBack = Callable[[int, str], Any]  # (status, message) -> the form page again, or None


def adopt_viewer(*, course_required: bool = True) -> Viewer | None:
    """The launch behind this request, also for handlers that run before launch_required;
    sets ``g.viewer`` and the page language when found."""
    viewer: Viewer | None = g.get("viewer") or viewer_for((request.view_args or {}).get("lid", ""))
    if viewer is None or (course_required and viewer.course_id is None):
        return None
    g.viewer, g.locale = viewer, viewer.locale
    return viewer


def expired_form_message() -> str:
    return _(
        "Your session expired before this was sent. Reload the page from your course and "
        "send again: your text is kept below."
    )


def keep_text_on_refusal(
    bp: Blueprint, give_back: GiveBack, *, course_required: bool = True
) -> None:
    """Answer a refused post on ``bp`` (429 rate limit, 400 expired CSRF token) with the form
    and its text where ``give_back`` knows the form, else with the plain error page."""

    def page(status: int, message: str) -> Any:
        known = adopt_viewer(course_required=course_required) is not None
        found = give_back(status, message) if known else None
        return found if found is not None else error_response(status)

    @bp.errorhandler(429)
    def too_many(exc: HTTPException) -> Any:
        message = _("You are posting very fast. Wait a minute, then send again: your text is kept.")
        response = make_response(page(429, message))
        for name, value in exc.get_headers():
            if name.lower() == "retry-after":
                response.headers[name] = value
        return response

    @bp.errorhandler(CSRFError)
    def expired(exc: CSRFError) -> Any:
        return page(400, expired_form_message())
