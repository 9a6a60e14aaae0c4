"""Request ids, the log context and metrics for every request, and the /metrics endpoint.

``install_observability(app)`` configures logging (LOG_FORMAT, LOG_LEVEL), then on each request:
takes the caller's X-Request-ID when it is a short plain token (else makes one), puts it in the
log context and echoes it in the response, and counts the request by Flask endpoint and status.
The tenant joins the context once a launch or a page's launch id names it
(``lti_tool.courses.access``).
"""

from __future__ import annotations

import hmac
import os
import re
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from lti_tool.config import LOOPBACK_HOSTS, Settings
from lti_tool.extensions import db
from lti_tool.jobs.queue import queue_state
from lti_tool.telemetry import context, logs, metrics

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

bp = Blueprint("observability", __name__)


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is a short plain token that hides nothing, else a new one."""
    if header and _SANE_REQUEST_ID.fullmatch(header) and logs.redact(header) == header:
        return header
    return os.urandom(8).hex()


def _start() -> None:
    g.obs_started = time.perf_counter()
    rid = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    context.start_request(rid)
    request.environ[logs.ENVIRON_REQUEST_ID] = rid


def _finish(response: Response) -> Response:
    ctx = context.current()
    rid = ctx.get("request_id")
    if rid:
        response.headers[REQUEST_ID_HEADER] = rid
    if "platform_id" in ctx:
        request.environ[logs.ENVIRON_TENANT] = logs.tenant_label(
            ctx.get("platform_id"), ctx.get("course_id")
        )
    started = g.get("obs_started")
    if started is not None:
        metrics.request_done(
            request.endpoint, request.method, response.status_code, time.perf_counter() - started
        )
    return response


class QueueCollector(Collector):
    """Job outbox state, read from the database at scrape time (so every process agrees)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = queue_state(self.session)
        jobs = GaugeMetricFamily(
            "bottega_jobs",
            "Jobs in the outbox by state (queued, due, running, dead).",
            labels=["state"],
        )
        for name in ("queued", "due", "running", "dead"):
            jobs.add_metric([name], getattr(state, name))
        yield jobs
        yield GaugeMetricFamily(
            "bottega_jobs_oldest_due_age_seconds",
            "How long the oldest due job has waited for a worker (0 when none waits).",
            value=state.oldest_due_age or 0.0,
        )


def _may_scrape(settings: Settings) -> bool:
    token = settings.observability.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    # No token: only this machine, and not through a reverse proxy on this machine.
    forwarded = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    address = request.remote_addr or ""
    return not forwarded and (address in LOOPBACK_HOSTS or address.startswith("127."))


@bp.get("/metrics")
def scrape() -> Response:
    """Prometheus text format; see docs/observability.md for who may read it."""
    settings: Settings = current_app.extensions["bottega_settings"]
    if not _may_scrape(settings):
        abort(401 if settings.observability.metrics_token else 403)
    queue = CollectorRegistry(auto_describe=False)
    queue.register(QueueCollector(db.session()))
    body = metrics.exposition(settings.observability.multiproc_dir, queue)
    response = Response(body, mimetype=None, content_type=metrics.CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def install_observability(app: Flask, settings: Settings) -> None:
    """Logging for the process, the per-request hooks, and /metrics."""
    logs.configure_logging(settings.observability.log_format, settings.observability.log_level)
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)
