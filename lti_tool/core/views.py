"""Health check and the landing page."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from lti_tool.config import Settings
from lti_tool.extensions import db
from lti_tool.jobs.queue import queue_state

log = logging.getLogger(__name__)
bp = Blueprint("core", __name__)

REDIS_TIMEOUT = 0.5  # seconds: a load balancer's check must answer quickly even when Redis hangs


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database (and Redis, if configured) answer, 503 otherwise; with the job
    queue's state (for load balancers and monitors)."""
    settings: Settings = current_app.extensions["bottega_settings"]
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
        jobs: dict[str, Any] | None = queue_state(db.session()).as_dict()
    except SQLAlchemyError as exc:
        log.warning("health check: database unavailable: %s", type(exc).__name__)
        db.session.rollback()
        body.update(status="error", database="unavailable")
        jobs = None
    body["redis"] = _redis_state(settings)
    if body["redis"] == "unavailable":
        body["status"] = "error"
    body["jobs"] = jobs
    return jsonify(body), 200 if body["status"] == "ok" else 503


def _redis_state(settings: Settings) -> str:
    if not settings.redis_url:
        return "not configured"
    client = current_app.extensions.get("bottega_health_redis")
    if client is None:
        from redis import Redis

        client = current_app.extensions["bottega_health_redis"] = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
            retry_on_timeout=False,
        )
    try:
        client.ping()
    except Exception as exc:  # any failure (refused, timeout, auth) means: not usable
        log.warning("health check: Redis unavailable: %s", type(exc).__name__)
        return "unavailable"
    return "ok"


@bp.get("/")
def index() -> str:
    """What someone opening the tool's address directly sees; in demo mode, the demo course."""
    demo = current_app.extensions.get("bottega_demo") if current_app.config["DEMO_MODE"] else None
    return render_template("index.html", demo=demo)
