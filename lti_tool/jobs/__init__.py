"""Background jobs behind one small interface: in-process by default, Redis in production.

    from lti_tool.jobs import enqueue, handler

    @handler("roster.sync")
    def sync(session, payload, ctx): ...

    enqueue(session, "roster.sync", {"course_id": 7}, key="roster.sync:7")  # then commit

The outbox table (``job_outbox``) is the source of truth; see ``queue`` for claiming, retries
and the sweep, and ``runtime`` for the worker thread, ``jobs work`` and the Redis channel.
"""

from lti_tool.jobs.queue import (
    JobContext,
    JobTimeout,
    LeaseLost,
    PermanentError,
    RetryLater,
    begin_write,
    enqueue,
    handler,
    run_due,
    run_one,
    sweep,
)

__all__ = [
    "JobContext",
    "JobTimeout",
    "LeaseLost",
    "PermanentError",
    "RetryLater",
    "begin_write",
    "enqueue",
    "handler",
    "run_due",
    "run_one",
    "sweep",
]
