"""Who runs jobs: a worker thread in the web process (embedded mode) or `jobs work` processes.

Embedded (no REDIS_URL): ``install(app)`` arranges for a worker thread to start on the app's
first request, never during CLI commands or tests (JOBS_IN_PROCESS decides), and to stop at
exit. It polls the outbox and is woken at once by jobs committed in its own process.

With REDIS_URL: committed job ids are announced on an RQ queue, and ``flask --app wsgi jobs
work`` runs an RQ worker whose tasks claim those rows; a sweeper thread beside it requeues
expired leases, enqueues periodic jobs and announces due rows again when the queue is empty
(a flushed Redis loses nothing). RQ is only the wake-up channel: the outbox row decides.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session, sessionmaker

from lti_tool.config import Settings
from lti_tool.extensions import db
from lti_tool.jobs import queue as q

log = logging.getLogger(__name__)

EXTENSION = "bottega_jobs"
PERFORM = "lti_tool.jobs.runtime.perform"  # what an RQ message calls, with the job id


def new_worker_id(prefix: str = "worker") -> str:
    """A name unique across hosts and processes, recorded in the rows a worker leases."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class RqChannel:
    """Announces job ids on an RQ queue; a lost announcement only delays a job until a sweep."""

    def __init__(self, redis_url: str, queue_name: str, job_timeout: float) -> None:
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=3)
        self.queue = Queue(queue_name, connection=self.redis)
        self.job_timeout = int(job_timeout) + 30
        self._quiet_until = 0.0  # after a failure, web requests stop waiting on a dead Redis

    def announce(self, job_ids: list[int]) -> None:
        if time.monotonic() < self._quiet_until:
            raise ConnectionError("Redis failed recently; the sweep will announce these jobs")
        try:
            self._announce(job_ids)
        except Exception:
            self._quiet_until = time.monotonic() + 30
            raise

    def _announce(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self.queue.enqueue(
                PERFORM,
                job_id,
                job_timeout=self.job_timeout,
                result_ttl=0,
                failure_ttl=3600,
                description=f"bottega job {job_id}",
            )

    def is_idle(self) -> bool:
        """True when no announcement waits in the queue (so due rows may lack one)."""
        return int(self.queue.count) == 0


@dataclass
class WorkSummary:
    """What a `jobs work` run did."""

    done: int = 0
    retry: int = 0
    dead: int = 0
    lost: int = 0
    requeued: int = 0
    scheduled: int = 0
    outcomes: list[q.Outcome] = field(default_factory=list)

    def add(self, report: q.RunReport) -> None:
        for outcome in report.outcomes:
            self.outcomes.append(outcome)
            setattr(self, outcome.status, getattr(self, outcome.status) + 1)

    def add_sweep(self, report: q.SweepReport) -> None:
        self.requeued += report.requeued
        self.dead += report.dead
        self.scheduled += len(report.scheduled)


class JobsRuntime:
    """The jobs machinery of one app: sessions, wake-ups, and the optional worker thread."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.worker_id = new_worker_id("thread")
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._channel: RqChannel | None = None
        self._next_sweep = 0.0

    # -- plumbing ------------------------------------------------------------------------------
    def session_factory(self) -> Session:
        """A new session of its own (not Flask-SQLAlchemy's request-scoped one)."""
        if self._sessions is None:
            with self.app.app_context():
                self._sessions = sessionmaker(bind=db.engine, expire_on_commit=False)
        return self._sessions()

    @property
    def channel(self) -> RqChannel | None:
        if self._channel is None and self.settings.redis_url:
            self._channel = RqChannel(
                self.settings.redis_url, self.settings.jobs.queue, self.settings.jobs.timeout
            )
        return self._channel

    def notify(self, job_ids: list[int]) -> None:
        """New due jobs were committed: wake the local thread and announce them on Redis."""
        self.wake.set()
        channel = self.channel
        if channel is not None and job_ids:
            try:
                channel.announce(job_ids)
            except Exception as exc:  # Redis down: the sweep announces them again later
                log.warning("could not announce jobs %s on Redis: %s", job_ids, exc)

    # -- the in-process worker thread ------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ensure_started(self) -> None:
        """Start the worker thread if JOBS_IN_PROCESS is on (called on each request; cheap)."""
        if self.settings.jobs.in_process and self._thread is None:
            self.start()

    def start(self) -> None:
        """Start the worker thread now (tests and `flask run` call this explicitly)."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name=f"bottega-jobs-{self.worker_id}", daemon=True
            )
            self._thread.start()
        log.info("in-process job worker %s started", self.worker_id)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop after its current job, and wait up to ``timeout`` seconds."""
        thread = self._thread
        self._stop.set()
        self.wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            ran = 0
            try:
                with self.app.app_context():
                    self._maybe_sweep(redispatch=False)
                    self.wake.clear()
                    ran = q.run_due(
                        self.session_factory,
                        self.worker_id,
                        limit=10,
                        settings=self.settings.jobs,
                        should_stop=self._stop.is_set,
                    ).ran
            except Exception:  # the database may be away for a moment: keep the thread alive
                log.exception("job worker %s: loop error", self.worker_id)
            if not ran:
                self.wake.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        until_sweep = self._next_sweep - time.monotonic()
        return max(0.01, min(self.settings.jobs.poll_interval, until_sweep))

    def _maybe_sweep(self, *, redispatch: bool) -> q.SweepReport | None:
        if time.monotonic() < self._next_sweep:
            return None
        self._next_sweep = time.monotonic() + self.settings.jobs.sweep_interval
        return self.sweep(redispatch=redispatch)

    def sweep(self, *, redispatch: bool = False) -> q.SweepReport:
        """One sweep; with ``redispatch`` and an idle Redis queue, announce due rows again."""
        channel = self.channel if redispatch else None
        idle = False
        if channel is not None:
            try:
                idle = channel.is_idle()
            except Exception as exc:  # Redis away: still requeue leases and run schedules
                log.warning("sweep: cannot read the Redis queue: %s", exc)
        # With an idle queue, a due row has no announcement waiting (at most one in flight,
        # and a duplicate only finds the row claimed): announce rows older than one sweep.
        report = q.sweep(
            self.session_factory,
            self.settings,
            redispatch=idle,
            redispatch_after=self.settings.jobs.sweep_interval,
        )
        if channel is not None and report.redispatch:
            try:
                channel.announce(report.redispatch)
            except Exception as exc:  # marked as announced: tried again after one sweep
                log.warning("sweep: cannot announce jobs on Redis: %s", exc)
        if report.requeued or report.dead:
            log.info("sweep: %s expired leases requeued, %s dead", report.requeued, report.dead)
        return report

    # -- `jobs work` ----------------------------------------------------------------------------
    def drain(self, worker_id: str, *, limit: int | None = None) -> WorkSummary:
        """Sweep, then run every due job until none is left (``--burst``)."""
        summary = WorkSummary()
        with self.app.app_context():
            summary.add_sweep(self.sweep())
            while limit is None or len(summary.outcomes) < limit:
                batch = 10 if limit is None else min(10, limit - len(summary.outcomes))
                report = q.run_due(
                    self.session_factory, worker_id, limit=batch, settings=self.settings.jobs
                )
                summary.add(report)
                if report.ran == 0:
                    break
        return summary

    def work_forever(self, worker_id: str) -> None:
        """Run jobs until SIGTERM or SIGINT: an RQ worker with REDIS_URL, else a polling loop."""
        self.worker_id = worker_id
        if self.channel is not None:
            self._work_rq(worker_id)
            return
        stop = self._stop

        def _request_stop(signum: int, _frame: Any) -> None:
            log.info("job worker %s: stopping after the current job", worker_id)
            stop.set()
            self.wake.set()

        previous = {s: signal.signal(s, _request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._stop.clear()
            self._loop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _work_rq(self, worker_id: str) -> None:
        from rq import SimpleWorker

        channel = self.channel
        assert channel is not None
        global _worker_runtime
        _worker_runtime = self
        sweeper = threading.Thread(target=self._sweep_forever, name="bottega-sweeper", daemon=True)
        self._stop.clear()
        sweeper.start()
        try:
            # SimpleWorker runs tasks in this process (no fork), so the app and its connection
            # pool are reused; RQ's alarm-based timeout still bounds each task in this thread.
            worker = SimpleWorker(
                [channel.queue], connection=channel.redis, name=worker_id.replace(":", "-")
            )
            worker.work(with_scheduler=False, logging_level="WARNING")
        finally:
            self._stop.set()
            sweeper.join(5)
            _worker_runtime = None

    def _sweep_forever(self) -> None:
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    self.sweep(redispatch=True)
            except Exception:
                log.exception("sweeper: error")
            self._stop.wait(self.settings.jobs.sweep_interval)


_worker_runtime: JobsRuntime | None = None


def perform(job_id: int) -> str:
    """What an RQ message runs: claim job ``job_id`` if it is still due, and run it."""
    runtime = _worker_runtime
    if runtime is None:
        raise RuntimeError("perform() runs only inside `flask --app wsgi jobs work`")
    with runtime.app.app_context():
        outcome = q.run_one(
            runtime.session_factory, runtime.worker_id, int(job_id), runtime.settings.jobs
        )
    return outcome.status if outcome else "skipped"


def runtime_of(app: Flask) -> JobsRuntime:
    runtime: JobsRuntime = app.extensions[EXTENSION]
    return runtime


def _notify_current_app(session: Session, job_ids: list[int]) -> None:
    if has_app_context():
        runtime = current_app.extensions.get(EXTENSION)
        if isinstance(runtime, JobsRuntime):
            runtime.notify(job_ids)


q.set_notifier(_notify_current_app)


def install(app: Flask) -> JobsRuntime:
    """Attach the jobs runtime to ``app``; its thread starts on the first request if enabled."""
    settings: Settings = app.extensions["bottega_settings"]
    runtime = JobsRuntime(app, settings)
    app.extensions[EXTENSION] = runtime
    if settings.jobs.in_process:
        app.before_request(runtime.ensure_started)
        atexit.register(runtime.stop, 5.0)
    return runtime
