"""Health check and the landing page."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers, 503 otherwise (for load balancers and monitors)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check: database unavailable: %s", type(exc).__name__)
        db.session.rollback()
        return jsonify(status="error", database="unavailable"), 503
    return jsonify(status="ok", database="ok"), 200


@bp.get("/")
def index() -> str:
    """What someone opening the tool's address directly sees; in demo mode, the demo course."""
    demo = current_app.extensions.get("bottega_demo") if current_app.config["DEMO_MODE"] else None
    return render_template("index.html", demo=demo)
