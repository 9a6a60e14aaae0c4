"""Enqueue, claim, run, retry and sweep jobs; the outbox table is the only record of work.

A worker claims one row at a time in a short write transaction: ``SELECT ... FOR UPDATE SKIP
LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` (one writer at a time) on SQLite, and the claiming
``UPDATE`` checks the row is still queued, so two workers never run the same attempt. A claim is
a lease: a worker that dies leaves a row whose ``locked_until`` passes, and the sweep queues it
again. Failures are retried with jittered exponential backoff until the attempt count or the
job's age says it is dead. A keyed request for a job that is running (``enqueue(rerun=True)``)
is kept on its row, and the row is queued again the moment the attempt ends.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, case, delete, event, func, literal, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lti_tool.config import JobSettings, Settings
from lti_tool.extensions import UTCDateTime, utcnow
from lti_tool.jobs.models import Job, JobSchedule, JobStatus
from lti_tool.telemetry import context, metrics

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]
WAKE_KEY = "bottega_jobs_wake"  # Session.info key: ids to announce once the commit is done
MAX_ERROR_LENGTH = 2000
_random = secrets.SystemRandom()


# -- errors a handler raises ------------------------------------------------------------------


class PermanentError(Exception):
    """A failure that retrying cannot fix: the job is dead at once, with this message."""


class RetryLater(Exception):
    """A temporary failure; ``retry_after`` (seconds) is the least wait, e.g. a Retry-After."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobTimeout(Exception):
    """The job reached its run-time bound; it is retried like any temporary failure."""


class LeaseLost(Exception):
    """Another worker took this job over (our lease expired): stop without touching the row."""


# -- handlers ---------------------------------------------------------------------------------


@dataclass
class JobContext:
    """What a running handler may know and do about its own job."""

    job_id: int
    kind: str
    attempt: int
    worker_id: str
    deadline: float  # time.monotonic() after which the handler must stop
    lease: float

    def remaining(self) -> float:
        """Seconds left before the run-time bound."""
        return self.deadline - time.monotonic()

    def check_deadline(self) -> None:
        """Raise JobTimeout once the run-time bound is reached."""
        if self.remaining() <= 0:
            raise JobTimeout(f"job {self.job_id} ran longer than its time bound")

    def heartbeat(self, session: Session) -> None:
        """Extend the lease in ``session``'s transaction (committed with the caller's work)."""
        now = utcnow()
        owned = session.execute(  # type: ignore[attr-defined]
            update(Job)
            .where(
                Job.id == self.job_id,
                Job.locked_by == self.worker_id,
                Job.status == JobStatus.RUNNING,
            )
            .values(locked_until=now + timedelta(seconds=self.lease), updated_at=now)
        ).rowcount
        if owned != 1:
            raise LeaseLost(f"job {self.job_id} is no longer leased to {self.worker_id}")


Handler = Callable[[Session, dict[str, Any], JobContext], "dict[str, Any] | None"]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class HandlerSpec:
    """A registered job kind."""

    kind: str
    func: Handler
    timeout: float | None = None  # overrides JOBS_TIMEOUT
    max_attempts: int | None = None  # overrides JOBS_MAX_ATTEMPTS
    every: Callable[[Settings], float] | None = None  # periodic: seconds between runs (0: off)


_registry: dict[str, HandlerSpec] = {}


def handler(
    kind: str,
    *,
    timeout: float | None = None,
    max_attempts: int | None = None,
    every: Callable[[Settings], float] | None = None,
) -> Callable[[H], H]:
    """Register ``func(session, payload, ctx) -> result dict | None`` as the handler of ``kind``.

    With ``every``, the sweep also enqueues ``kind`` (empty payload) that often, once across
    all workers.
    """

    def register(func: H) -> H:
        _registry[kind] = HandlerSpec(kind, func, timeout, max_attempts, every)
        return func

    return register


def handler_for(kind: str) -> HandlerSpec | None:
    return _registry.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_registry)


# -- database helpers -------------------------------------------------------------------------


def begin_write(session: Session) -> None:
    """Start ``session``'s transaction as a writer now (SQLite: BEGIN IMMEDIATE).

    On SQLite a transaction that reads and then writes can fail at once with "database is
    locked" when another writer committed in between; taking the write lock first waits for it
    instead. On PostgreSQL this only opens the transaction. Call it before any other statement.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        dbapi = connection.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(Job)
    if dialect == "sqlite":
        return sqlite.insert(Job)
    raise NotImplementedError(f"the job outbox is not written for {dialect}")


# -- enqueue ----------------------------------------------------------------------------------


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
    run_after: datetime | None = None,
    *,
    replace: bool = False,
    rerun: bool = False,
    max_attempts: int | None = None,
) -> int:
    """Add a job to the outbox in the caller's transaction; returns its id.

    With ``key``, at most one job per key is queued or running: enqueueing again returns the
    pending job's id. ``replace=True`` gives a still-queued job the new payload, run time and a
    fresh count of attempts. A running job is left alone; with ``rerun=True`` it is marked to be
    queued again, with this payload (``replace``: the latest request's, else the first's), as
    soon as its attempt ends: the request came after it read its input, and the two never run
    side by side. Workers are woken once the caller commits.
    """
    if kind not in _registry:
        raise ValueError(f"no handler is registered for job kind {kind!r}")
    payload = dict(payload or {})
    json.dumps(payload)  # refuse what the JSON column could not store, here and not later
    now = utcnow()
    when = run_after or now
    values = {
        "kind": kind,
        "payload": payload,
        "key": key,
        "active_key": key,
        "status": JobStatus.QUEUED,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": when,
        # A job due later is announced by the sweep once due, not now.
        "dispatched_at": now if when <= now else None,
        "created_at": now,
        "updated_at": now,
    }
    job_id: int | None = None
    for _ in range(5):  # the pending job may change state between our statements: ask again
        stmt = _insert(session).values(**values)
        if key is not None and replace:
            stmt = stmt.on_conflict_do_update(
                index_elements=["active_key"],
                # A new request: its own run time and its whole count of attempts (a person
                # asking to try again now is not the last retry of the one before).
                set_={"payload": payload, "run_after": when, "attempts": 0, "updated_at": now},
                where=Job.status == JobStatus.QUEUED,
            )
        elif key is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=["active_key"])
        job_id = session.execute(stmt.returning(Job.id)).scalar()
        if job_id is not None:
            break
        pending = session.execute(
            select(Job.id, Job.status, Job.rerun).where(Job.active_key == key)
        ).one_or_none()
        if pending is None:
            continue  # it ended in between: insert again
        if pending.status == JobStatus.QUEUED and replace:
            continue  # it was running a moment ago and is queued again now: replace it
        if pending.status == JobStatus.RUNNING and rerun and (replace or not pending.rerun):
            job_id = session.execute(
                update(Job)
                .where(Job.id == pending.id, Job.status == JobStatus.RUNNING)
                .values(rerun=True, rerun_payload=payload)
                .returning(Job.id)
            ).scalar()
            if job_id is None:
                continue  # its attempt ended in between
            return int(job_id)  # woken when the attempt ends, not now
        job_id = int(pending.id)
        break
    if job_id is None:
        raise RuntimeError(f"could not enqueue {kind} with key {key!r}")
    if when <= now:
        session.info.setdefault(WAKE_KEY, set()).add(int(job_id))
    return int(job_id)


# Wake-up after commit: whoever installed a notifier (the jobs runtime) hears the new ids.
_notifier: Callable[[Session, list[int]], None] | None = None


def set_notifier(notifier: Callable[[Session, list[int]], None] | None) -> None:
    """Install the process-wide function told about job ids once their rows are committed."""
    global _notifier
    _notifier = notifier


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    ids = session.info.pop(WAKE_KEY, None)
    if ids and _notifier is not None:
        try:
            _notifier(session, sorted(ids))
        except Exception:  # a lost wake-up costs one poll interval, never the job
            log.warning("could not wake job workers", exc_info=True)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(WAKE_KEY, None)


# -- claim, run, finish -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds the lease of."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int | None
    created_at: datetime


def claim(
    session_factory: SessionFactory,
    worker_id: str,
    *,
    lease: float,
    job_id: int | None = None,
    kinds: Iterable[str] | None = None,
) -> ClaimedJob | None:
    """Lease the next due job (or job ``job_id`` if it is due) to ``worker_id``."""
    kinds = list(registered_kinds() if kinds is None else kinds)
    if not kinds:
        return None
    for _ in range(5):  # another worker may win the row between our read and our update
        with session_factory() as session:
            begin_write(session)
            now = utcnow()
            query = select(Job.id).where(
                Job.status == JobStatus.QUEUED, Job.run_after <= now, Job.kind.in_(kinds)
            )
            if job_id is not None:
                query = query.where(Job.id == job_id)
            found = session.scalar(
                query.order_by(Job.run_after, Job.id).limit(1).with_for_update(skip_locked=True)
            )
            if found is None:
                session.rollback()
                return None
            row = session.execute(
                update(Job)
                .where(Job.id == found, Job.status == JobStatus.QUEUED)
                .values(
                    status=JobStatus.RUNNING,
                    locked_by=worker_id,
                    locked_until=now + timedelta(seconds=lease),
                    attempts=Job.attempts + 1,
                    started_at=now,
                    updated_at=now,
                )
                .returning(
                    Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts, Job.created_at
                )
            ).one_or_none()
            session.commit()
            if row is not None:
                return ClaimedJob(
                    id=row.id,
                    kind=row.kind,
                    payload=dict(row.payload or {}),
                    attempts=row.attempts,
                    max_attempts=row.max_attempts,
                    created_at=row.created_at,
                )
        if job_id is not None:
            return None
    return None


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry ``attempt`` + 1: exponential, capped, with jitter (half to full)."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return ceiling / 2 + _random.uniform(0, ceiling / 2)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return (f"{name}: {text}" if text else name)[:MAX_ERROR_LENGTH]


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended."""

    job_id: int
    kind: str
    status: str  # "done", "retry", "dead" or "lost" (another worker holds the row now)
    error: str | None = None
    result: dict[str, Any] | None = None


def execute(
    session_factory: SessionFactory,
    job: ClaimedJob,
    worker_id: str,
    settings: JobSettings,
) -> Outcome:
    """Run a claimed job's handler, then mark it done, queued for a retry, or dead."""
    spec = _registry.get(job.kind)
    timeout = (spec.timeout if spec and spec.timeout else None) or settings.timeout
    ctx = JobContext(
        job_id=job.id,
        kind=job.kind,
        attempt=job.attempts,
        worker_id=worker_id,
        deadline=time.monotonic() + timeout,
        lease=settings.lease,
    )
    started = time.monotonic()
    # Every line the attempt logs names the job and, when the payload says, its course; handlers
    # that find the tenant later (a placement's course) add it with context.set_tenant.
    course_id = job.payload.get("course_id")
    tenant = {"course_id": course_id} if isinstance(course_id, int) else {}
    with context.job_scope(job.id, job.kind, **tenant):
        outcome = _execute(session_factory, job, worker_id, settings, spec, ctx)
    metrics.job_done(job.kind, outcome.status, time.monotonic() - started)
    return outcome


def _execute(
    session_factory: SessionFactory,
    job: ClaimedJob,
    worker_id: str,
    settings: JobSettings,
    spec: HandlerSpec | None,
    ctx: JobContext,
) -> Outcome:
    session = session_factory()
    try:
        if spec is None:
            raise PermanentError(f"no handler for job kind {job.kind!r}")
        result = spec.func(session, dict(job.payload), ctx)
        session.commit()
    except LeaseLost as exc:
        session.rollback()
        session.close()
        log.warning("job %s: %s", job.id, exc)
        return Outcome(job.id, job.kind, "lost", describe(exc))
    except Exception as exc:
        session.rollback()
        session.close()
        log.warning("job %s (%s) attempt %s failed: %s", job.id, job.kind, job.attempts, exc)
        return _fail(session_factory, job, worker_id, exc, settings, spec)
    session.close()
    return _finish(session_factory, job, worker_id, result)


# A retry reads its input afresh, so it answers a request made during the failed attempt: it
# takes that request's payload, keeping its own wait (the LMS may have asked for it).
_RETRY_TAKES_RERUN: dict[str, Any] = {
    "payload": case((Job.rerun, Job.rerun_payload), else_=Job.payload),
    "rerun": False,
    "rerun_payload": null(),
}


def _unless_rerun(now: datetime, **otherwise: Any) -> dict[str, Any]:
    """Column values for a job whose attempt ended: ``otherwise``, unless it was asked for again
    while it ran; then those of a new request under the same key, due now with its payload.

    One UPDATE decides, so a request committed just before it is never lost, and one committed
    after it finds the key free (or the row queued) and is not lost either."""
    at = literal(now, UTCDateTime())
    again: dict[str, Any] = {
        "status": JobStatus.QUEUED.value,
        "active_key": Job.key,
        "payload": Job.rerun_payload,
        "attempts": 0,
        "run_after": at,
        "created_at": at,  # its age bound starts again
        "dispatched_at": at,
    }
    values: dict[str, Any] = {}
    for name, value in again.items():
        old = otherwise.get(name, getattr(Job, name))
        old = old.value if isinstance(old, JobStatus) else old
        values[name] = case((Job.rerun, value), else_=old)
    return {**values, "rerun": False, "rerun_payload": null()}


def _wake_if_queued(session: Session, job_id: int, status: Any) -> None:
    if status is not None and JobStatus(status) == JobStatus.QUEUED:
        session.info.setdefault(WAKE_KEY, set()).add(job_id)


def _finish(
    session_factory: SessionFactory,
    job: ClaimedJob,
    worker_id: str,
    result: dict[str, Any] | None,
) -> Outcome:
    with session_factory() as session:
        begin_write(session)
        now = utcnow()
        ended = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.locked_by == worker_id, Job.status == JobStatus.RUNNING)
            .values(
                **_unless_rerun(now, status=JobStatus.DONE, active_key=None),
                result=result,
                locked_by=None,
                locked_until=None,
                last_error=None,
                finished_at=now,
                updated_at=now,
            )
            .returning(Job.status)
        ).scalar()
        _wake_if_queued(session, job.id, ended)
        session.commit()
    if ended is None:
        log.warning("job %s finished after its lease passed to another worker", job.id)
        return Outcome(job.id, job.kind, "lost", result=result)
    return Outcome(job.id, job.kind, "done", result=result)


def _fail(
    session_factory: SessionFactory,
    job: ClaimedJob,
    worker_id: str,
    exc: Exception,
    settings: JobSettings,
    spec: HandlerSpec | None,
) -> Outcome:
    now = utcnow()
    max_attempts = job.max_attempts or (spec.max_attempts if spec else None)
    max_attempts = max_attempts or settings.max_attempts
    age = (now - job.created_at).total_seconds()
    error = describe(exc)
    values: dict[str, Any] = {
        "locked_by": None,
        "locked_until": None,
        "last_error": error,
        "updated_at": now,
    }
    dead = (
        isinstance(exc, PermanentError)
        or job.attempts >= max_attempts
        or age >= settings.dead_after
    )
    if dead:
        values.update(_unless_rerun(now, status=JobStatus.DEAD, active_key=None), finished_at=now)
    else:
        delay = backoff(job.attempts, settings.backoff_base, settings.backoff_max)
        if isinstance(exc, RetryLater) and exc.retry_after:
            delay = max(delay, min(exc.retry_after, 86400.0))
        values.update(
            _RETRY_TAKES_RERUN,
            status=JobStatus.QUEUED,
            run_after=now + timedelta(seconds=delay),
            dispatched_at=None,
        )
    with session_factory() as session:
        begin_write(session)
        ended = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.locked_by == worker_id, Job.status == JobStatus.RUNNING)
            .values(**values)
            .returning(Job.status)
        ).scalar()
        if dead:
            _wake_if_queued(session, job.id, ended)
        session.commit()
    if ended is None:
        return Outcome(job.id, job.kind, "lost", error)
    return Outcome(job.id, job.kind, "dead" if dead else "retry", error)


@dataclass
class RunReport:
    """What a call to run_due did."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return len(self.outcomes)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def run_one(
    session_factory: SessionFactory,
    worker_id: str,
    job_id: int,
    settings: JobSettings | None = None,
) -> Outcome | None:
    """Claim and run job ``job_id`` if it is queued and due; None when it is not."""
    settings = settings or JobSettings()
    job = claim(session_factory, worker_id, lease=settings.lease, job_id=job_id)
    return execute(session_factory, job, worker_id, settings) if job else None


def run_until_settled(
    session_factory: SessionFactory,
    worker_id: str,
    job_id: int,
    settings: JobSettings | None = None,
    *,
    wait: float = 60.0,
) -> Outcome | None:
    """Run job ``job_id`` now and, while it is to be retried within ``wait`` seconds, again
    when it is due (for commands that send in their own process); the last outcome."""
    settings = settings or JobSettings()
    give_up = time.monotonic() + wait
    outcome = run_one(session_factory, worker_id, job_id, settings)
    while outcome is not None and outcome.status == "retry":
        with session_factory() as session:
            due = session.scalar(select(Job.run_after).where(Job.id == job_id))
        delay = max(0.0, (due - utcnow()).total_seconds()) if due else 0.0
        if time.monotonic() + delay > give_up:
            break
        time.sleep(delay)
        outcome = run_one(session_factory, worker_id, job_id, settings)
    return outcome


def run_due(
    session_factory: SessionFactory,
    worker_id: str,
    limit: int = 10,
    *,
    settings: JobSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunReport:
    """Claim and run due jobs one by one, at most ``limit`` of them."""
    settings = settings or JobSettings()
    report = RunReport()
    while report.ran < limit and not (should_stop and should_stop()):
        job = claim(session_factory, worker_id, lease=settings.lease)
        if job is None:
            break
        report.outcomes.append(execute(session_factory, job, worker_id, settings))
    return report


# -- the sweep --------------------------------------------------------------------------------


@dataclass
class SweepReport:
    """What one sweep found and did."""

    requeued: int = 0  # expired leases queued again
    dead: int = 0  # expired leases (or old failures) that ran out of attempts or time
    scheduled: list[int] = field(default_factory=list)  # periodic jobs enqueued
    pruned: int = 0
    redispatch: list[int] = field(default_factory=list)  # due rows to announce again


def sweep(
    session_factory: SessionFactory,
    settings: Settings,
    *,
    redispatch: bool = False,
    redispatch_after: float = 30.0,
) -> SweepReport:
    """Requeue expired leases, enqueue due periodic jobs, prune old rows.

    With ``redispatch``, also pick due queued rows the wake-up channel has not been told
    about for ``redispatch_after`` seconds (a Redis flush, a lost message) and return them.
    """
    jobs = settings.jobs
    report = SweepReport()
    with session_factory() as session:
        begin_write(session)
        now = utcnow()
        expired = session.execute(
            select(Job.id, Job.kind, Job.attempts, Job.max_attempts, Job.created_at)
            .where(Job.status == JobStatus.RUNNING, Job.locked_until < now)
            .order_by(Job.id)  # one lock order for concurrent sweeps
        ).all()
        for row in expired:
            spec = _registry.get(row.kind)
            limit = row.max_attempts or (spec.max_attempts if spec else None) or jobs.max_attempts
            too_old = (now - row.created_at).total_seconds() >= jobs.dead_after
            values: dict[str, Any] = {
                "locked_by": None,
                "locked_until": None,
                "updated_at": now,
                "last_error": f"lease expired during attempt {row.attempts}: "
                "the worker stopped or hung",
            }
            if row.attempts >= limit or too_old:
                values.update(
                    _unless_rerun(now, status=JobStatus.DEAD, active_key=None), finished_at=now
                )
            else:
                values.update(
                    _RETRY_TAKES_RERUN, status=JobStatus.QUEUED, run_after=now, dispatched_at=None
                )
            ended = session.execute(
                update(Job)
                .where(Job.id == row.id, Job.status == JobStatus.RUNNING, Job.locked_until < now)
                .values(**values)
                .returning(Job.status)
            ).scalar()
            if ended is not None:
                queued = JobStatus(ended) == JobStatus.QUEUED
                report.requeued += queued
                report.dead += not queued
                _wake_if_queued(session, row.id, ended)

        for spec in _registry.values():
            interval = spec.every(settings) if spec.every else 0
            if not interval or interval <= 0:
                continue
            session.execute(
                _schedule_insert(session)
                .values(name=spec.kind, next_run_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            won = session.execute(  # type: ignore[attr-defined]
                update(JobSchedule)
                .where(JobSchedule.name == spec.kind, JobSchedule.next_run_at <= now)
                .values(next_run_at=now + timedelta(seconds=interval), last_enqueued_at=now)
            ).rowcount
            if won == 1:
                report.scheduled.append(
                    enqueue(session, spec.kind, {}, key=f"schedule:{spec.kind}")
                )

        if jobs.keep > 0:
            report.pruned = int(
                session.execute(  # type: ignore[attr-defined]
                    delete(Job).where(
                        Job.status.in_([JobStatus.DONE, JobStatus.DEAD]),
                        Job.updated_at < now - timedelta(seconds=jobs.keep),
                    )
                ).rowcount
                or 0
            )

        if redispatch:
            stale = now - timedelta(seconds=redispatch_after)
            ids = list(
                session.scalars(
                    select(Job.id)
                    .where(
                        Job.status == JobStatus.QUEUED,
                        Job.run_after <= now,
                        or_(Job.dispatched_at.is_(None), Job.dispatched_at < stale),
                    )
                    .order_by(Job.run_after, Job.id)
                    .limit(500)
                )
            )
            if ids:
                session.execute(update(Job).where(Job.id.in_(ids)).values(dispatched_at=now))
                report.redispatch = ids
        session.commit()
    return report


def _schedule_insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(JobSchedule) if dialect == "postgresql" else sqlite.insert(JobSchedule)


def next_due_in(session: Session) -> float | None:
    """Seconds until the next queued job is due (0 when one is due now), None when none."""
    first = session.scalar(
        select(Job.run_after)
        .where(Job.status == JobStatus.QUEUED, Job.kind.in_(registered_kinds()))
        .order_by(Job.run_after)
        .limit(1)
    )
    if first is None:
        return None
    return max(0.0, (first - utcnow()).total_seconds())


# -- for operators ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueState:
    """How the outbox looks now: rows per state, due ones, and how long the oldest has waited."""

    queued: int = 0
    due: int = 0  # queued rows whose run time has come
    running: int = 0
    dead: int = 0  # dead rows not yet pruned (JOBS_KEEP)
    oldest_due_age: float | None = None  # seconds the oldest due row has waited for a worker

    def as_dict(self) -> dict[str, Any]:
        age = None if self.oldest_due_age is None else round(self.oldest_due_age, 3)
        return {
            "queued": self.queued,
            "due": self.due,
            "running": self.running,
            "dead": self.dead,
            "oldest_due_age_seconds": age,
        }


def _queue_state_query() -> Any:
    is_due = Job.run_after <= bindparam("now", type_=UTCDateTime())
    return (
        select(
            Job.status,
            func.count(),
            func.sum(case((is_due, 1), else_=0)),
            func.min(case((is_due, Job.run_after))),
        )
        .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DEAD]))
        .group_by(Job.status)
    )


# Built once: /healthz (load balancers, every few seconds) and /metrics read it on every call.
_QUEUE_STATE = _queue_state_query()


def queue_state(session: Session) -> QueueState:
    """One grouped query on the (status, run_after) index; done rows are not counted."""
    now = utcnow()
    rows = session.execute(_QUEUE_STATE, {"now": now}).all()
    found: dict[str, Any] = {}
    for status, count, due, oldest in rows:
        found[JobStatus(status).value] = int(count)
        if JobStatus(status) == JobStatus.QUEUED:
            found["due"] = int(due or 0)
            if oldest is not None:
                if isinstance(oldest, str):  # SQLite's min() of a case() loses the column type
                    oldest = datetime.fromisoformat(oldest)
                if oldest.tzinfo is None:
                    oldest = oldest.replace(tzinfo=now.tzinfo)
                found["oldest_due_age"] = max(0.0, (now - oldest).total_seconds())
    return QueueState(**found)


def recent_jobs(session: Session, *, status: str | None = None, limit: int = 50) -> list[Job]:
    """The newest jobs first, optionally in one state."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status:
        query = query.where(Job.status == JobStatus(status))
    return list(session.scalars(query))


def job_as_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "key": job.key,
        "status": job.status.value,
        "attempts": job.attempts,
        "run_after": job.run_after.isoformat() if job.run_after else None,
        "locked_by": job.locked_by,
        "rerun": job.rerun,  # asked for again while running: queued again when it ends
        "last_error": job.last_error,
        "result": job.result,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def retry_dead(session: Session, job_id: int) -> bool:
    """Queue a dead job again with fresh attempts; False when it is not dead or its key is
    taken by a pending job. The caller commits."""
    job = session.get(Job, job_id)
    if job is None or job.status != JobStatus.DEAD:
        return False
    if job.key and session.scalar(select(Job.id).where(Job.active_key == job.key)):
        return False
    now = utcnow()
    job.status = JobStatus.QUEUED
    job.active_key = job.key
    job.attempts = 0
    job.run_after = now
    job.created_at = now  # its age bound starts again
    job.updated_at = now
    job.finished_at = None
    job.dispatched_at = now
    session.info.setdefault(WAKE_KEY, set()).add(job.id)
    return True


__all__ = [
    "ClaimedJob",
    "HandlerSpec",
    "JobContext",
    "JobStatus",
    "JobTimeout",
    "LeaseLost",
    "Outcome",
    "PermanentError",
    "QueueState",
    "RetryLater",
    "RunReport",
    "SweepReport",
    "begin_write",
    "claim",
    "enqueue",
    "execute",
    "handler",
    "queue_state",
    "run_due",
    "run_one",
    "run_until_settled",
    "sweep",
]
