"""What every log line says about where it comes from: request id, tenant, job.

One context variable holds a small dict, replaced (never mutated) on each change, so a thread
or task sees only its own values and a copy is never needed. Web requests start a fresh context
(``start_request``); jobs bind theirs around each attempt (``job_scope``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_EMPTY: dict[str, Any] = {}
_context: ContextVar[dict[str, Any]] = ContextVar("bottega_log_context", default=_EMPTY)


def current() -> dict[str, Any]:
    """This thread's (or task's) context: read it, do not change it."""
    return _context.get()


def start_request(request_id: str) -> None:
    """A new request on this thread: forget the previous one's fields.

    The context is not cleared when the request ends, so the server's own line about the request
    (the dev server's, or gunicorn's access log) still carries its id.
    """
    _context.set({"request_id": request_id})


def bind(**fields: Any) -> None:
    """Add or replace fields (None removes one) for the rest of this request or job."""
    merged = {**_context.get(), **fields}
    _context.set({k: v for k, v in merged.items() if v is not None})


def set_tenant(platform_id: int | None, course_id: int | None = None) -> None:
    """The registration (platform) and course the current work is for, once known."""
    ctx = _context.get()
    if ctx.get("platform_id") != platform_id or ctx.get("course_id") != course_id:
        bind(platform_id=platform_id, course_id=course_id)


@contextmanager
def job_scope(job_id: int, kind: str, **fields: Any) -> Iterator[None]:
    """Fields of one job attempt, for every line logged while it runs."""
    # A job run inside a request (a CLI or a test) keeps the request id; the tenant is the job's.
    request_id = _context.get().get("request_id")
    base = {"request_id": request_id} if request_id else {}
    token = _context.set({**base, "job_id": job_id, "job_kind": kind, **fields})
    try:
        yield
    finally:
        _context.reset(token)
