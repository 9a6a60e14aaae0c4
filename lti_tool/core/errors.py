"""Short, translated error pages (or JSON) with no traceback, whatever went wrong."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

from lti_tool.extensions import db

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


DATABASE_RETRY_AFTER = "5"  # seconds: about what a database restart or failover takes


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (down, restarting, pool empty),
    as opposed to a bug in a query."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def log_database_error(exc: BaseException, doing: str, *args: object) -> None:
    """Log a database failure: one line while the database is away (no traceback per
    request during a restart, and none holding dead connections), a traceback otherwise."""
    if database_unavailable(exc):
        log.warning("database unavailable while " + doing + ": %s", *args, str(exc))
    else:
        log.exception("database error while " + doing, *args)


def _kept_fields() -> list[tuple[str, str]]:
    """What a refused form sent, to give back: every field but the CSRF token."""
    if request.method != "POST" or request.is_json:
        return []
    return [(k, v) for k, v in request.form.items(multi=True) if k != "csrf_token"]


def database_error_response() -> Response:
    """503 with Retry-After; a form's text is given back with a button to send it again."""
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: nothing to roll back
        log.debug("rollback failed while the database is away", exc_info=True)
    kept = _kept_fields()
    title, message = _messages(503)
    if wants_json():
        body = {"error": {"status": 503, "title": title, "message": message}}
        response = jsonify(body)
    else:
        if any(value.strip() for _name, value in kept):
            message = _(
                "Your post could not be saved just now. Your text is kept: try again shortly."
            )
        html = render_template(
            "errors/error.html",
            code=503,
            title=title,
            message=message,
            detail=None,
            kept=kept,
            csrf_token=request.form.get("csrf_token", "") if kept else "",
        )
        response = Response(html, mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = DATABASE_RETRY_AFTER
    return response


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
        if database_unavailable(exc):
            # One line, not a traceback per request while the database restarts.
            log.warning("database unavailable on %s %s: %s", request.method, request.path, str(exc))
            return database_error_response()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(InternalServerError.code)
