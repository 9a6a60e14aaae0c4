"""What the sync jobs share: this process's service token client, the state of a job for the
pages that show it, and LMS failures turned into job outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.orm import Session

from lti_tool.config import Settings
from lti_tool.extensions import utcnow
from lti_tool.jobs import PermanentError, RetryLater
from lti_tool.jobs.models import Job, JobStatus
from lti_tool.jobs.runtime import runtime_of
from lti_tool.lti.service_token import DatabaseTokenCache, RedisTokenCache, ServiceTokenClient
from lti_tool.lti.services import ServiceError, ServiceHttp


def app_settings() -> Settings:
    settings: Settings = current_app.extensions["bottega_settings"]
    return settings


def service_tokens(http: ServiceHttp) -> ServiceTokenClient:
    """Service tokens cached per tenant and shared by every worker (Redis, else the database)."""
    runtime = runtime_of(current_app._get_current_object())  # type: ignore[attr-defined]
    channel = runtime.channel
    cache = (
        RedisTokenCache(channel.redis)
        if channel is not None
        else DatabaseTokenCache(runtime.session_factory)
    )
    return ServiceTokenClient(http, current_app.extensions["bottega_keys"], cache)


@dataclass(frozen=True)
class JobView:
    """A sync's state as a page shows it: the stored one, corrected by its job's."""

    state: str  # never, queued, running, retrying, done, failed
    next_try_at: datetime | None
    attempts: int
    last_error: str | None  # the job's, when it is dead
    again: bool = False  # running, and asked for again meanwhile: it runs once more after


def mark_requested(
    session: Session, model: Any, row: ColumnElement[bool], job_id: int, trigger: str
) -> None:
    """A roster sync's or grade push's state row once it is asked for: when and why, and queued
    behind ``job_id``. The running job's own state stays (a request made meanwhile runs after
    it); one left "running" by a job that died (a killed worker) gives way to the new job."""
    session.execute(update(model).where(row).values(requested_at=utcnow(), trigger=trigger[:16]))
    session.execute(
        update(model)
        .where(
            row,
            or_(model.status != "running", model.job_id.is_(None), model.job_id != job_id),
        )
        .values(status="queued", job_id=job_id)
    )


def job_view(session: Session, job_id: int | None, stored: str) -> JobView:
    """``stored`` (the sync's own status) unless the job behind it says more."""
    job = session.get(Job, job_id) if job_id else None
    state = stored if stored != "idle" else "never"
    next_try = None
    if job is not None:
        if job.status == JobStatus.RUNNING:
            state = "running"
        elif job.status == JobStatus.QUEUED:
            state = "retrying" if job.attempts else "queued"
            next_try = job.run_after if job.attempts else None
        elif job.status == JobStatus.DEAD:
            state = "failed"
    last_error = job.last_error if job is not None and state == "failed" else None
    again = job is not None and state == "running" and bool(job.rerun)
    return JobView(state, next_try, job.attempts if job else 0, last_error, again)


def status_fields(
    view: JobView, error_code: str | None, error_detail: str | None
) -> dict[str, Any]:
    """The fields a roster or grade status shares: the state, why it failed, the next try.

    ``error_detail`` is what the LMS answered, shown as such; the job's own last error (Bottega's
    words, in English, such as a worker that stopped mid-attempt) stays in the logs and the job
    table, and the page says the sync failed in the viewer's language."""
    return {
        "state": view.state,
        "error_code": error_code or ("job_failed" if view.state == "failed" else None),
        "error_detail": error_detail,
        "next_try_at": view.next_try_at,
        "attempts": view.attempts,
        "again": view.again,
    }


def job_failure(exc: ServiceError) -> Exception:
    """The job outcome of an LMS failure: retried later when temporary, else dead at once."""
    message = f"{exc}" + (f" ({exc.detail})" if exc.detail else "")
    if exc.temporary:
        return RetryLater(message, exc.retry_after)
    return PermanentError(message)
