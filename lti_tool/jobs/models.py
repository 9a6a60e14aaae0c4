"""The job outbox: every piece of background work is a row here before anything runs it.

Redis (when configured) only carries wake-ups; a flushed Redis or a crashed worker loses nothing,
because the sweep finds due rows and expired leases in this table again.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class JobStatus(enum.StrEnum):
    """Where a job is in its life; only ``queued`` rows are ever claimed."""

    QUEUED = "queued"  # waiting for run_after (first run or a retry)
    RUNNING = "running"  # claimed by a worker until locked_until (extended by heartbeats)
    DONE = "done"
    DEAD = "dead"  # gave up: too many attempts, too old, or a permanent error


class Job(db.Model):  # type: ignore[name-defined]
    """One unit of background work, claimed by at most one worker at a time."""

    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_status_run_after", "status", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The dedupe key, kept for history; ``active_key`` holds it only while the job is queued or
    # running, so a unique index on it allows one pending job per key (NULLs never collide).
    key: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    active_key: Mapped[str | None] = mapped_column(String(255), default=None, unique=True)
    status: Mapped[JobStatus] = mapped_column(
        Enum(
            JobStatus,
            name="job_status",
            native_enum=False,
            length=16,
            values_callable=lambda members: [m.value for m in members],
            validate_strings=True,
        ),
        default=JobStatus.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    # None: the handler's or the configured default, read when an attempt fails.
    max_attempts: Mapped[int | None] = mapped_column(default=None)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(128), default=None)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Asked for again (with ``rerun_payload``) while it was running: the request came after this
    # attempt read its input, so the row is queued again as soon as the attempt ends (enqueue's
    # ``rerun``), instead of the request being dropped or run beside it.
    rerun: Mapped[bool] = mapped_column(server_default=false())
    rerun_payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # When the wake-up channel (Redis) was last told about this row; the sweep tells it again
    # about due rows it has not heard of for a while (a flushed Redis, a lost message).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.status.value}>"


class JobSchedule(db.Model):  # type: ignore[name-defined]
    """When a periodic job kind is next due; claimed by compare-and-set, so one worker wins."""

    __tablename__ = "job_schedule"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
