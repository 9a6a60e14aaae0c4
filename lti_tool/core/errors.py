"""Short, translated error pages (or JSON) with no traceback, whatever went wrong."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def _messages(code: int) -> tuple[str, str]:
    table = {
        400: (_("Bad request"), _("The request could not be understood. Check what you sent.")),
        401: (_("Sign-in needed"), _("Open Bottega again from your course in the LMS.")),
        403: (_("Not allowed"), _("You do not have permission to see this page.")),
        404: (_("Page not found"), _("There is nothing at this address.")),
        405: (_("Method not allowed"), _("This address does not accept that kind of request.")),
        409: (_("Conflict"), _("This change clashes with another one. Reload and try again.")),
        413: (_("Too large"), _("What you sent is too large.")),
        422: (_("Cannot be processed"), _("Some of what you sent is not valid.")),
        429: (_("Too many requests"), _("Please wait a moment and try again.")),
        500: (_("Something went wrong"), _("An unexpected error happened. It has been logged.")),
        503: (_("Unavailable"), _("Bottega is temporarily unavailable. Try again shortly.")),
    }
    if code in table:
        return table[code]
    return (_("Error"), _("The request could not be completed."))


def wants_json() -> bool:
    """JSON for API clients, HTML for people."""
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(code: int, detail: str | None = None) -> tuple[Response | str, int]:
    """Render an error page or JSON body for an HTTP status code."""
    title, message = _messages(code)
    if wants_json():
        body = {"error": {"status": code, "title": title, "message": detail or message}}
        return jsonify(body), code
    return render_template(
        "errors/error.html", code=code, title=title, message=message, detail=detail
    ), code


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        body, status = error_response(exc.code or 500)
        response = app.make_response((body, status))
        # Keep the headers that tell a client what to do next (allowed methods, when to retry).
        for name, value in exc.get_headers():
            if name.lower() in {"allow", "retry-after"}:
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response | tuple[Response | str, int]:
        if isinstance(exc, HTTPException):
            return _http(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(InternalServerError.code)
