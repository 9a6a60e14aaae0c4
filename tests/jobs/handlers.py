"""Job kinds for the tests (registered on import, like the app's own handlers)."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy.orm import Session

from lti_tool.jobs import JobContext, PermanentError, RetryLater, handler

RUNS: list[tuple[int, str, int]] = []  # (job id, worker id, attempt) of every handler call
LOCK = threading.Lock()
GATE = threading.Event()  # test.wait blocks on it


def runs() -> list[tuple[int, str, int]]:
    with LOCK:
        return list(RUNS)


def reset() -> None:
    with LOCK:
        RUNS.clear()
    GATE.clear()


def _record(ctx: JobContext) -> None:
    with LOCK:
        RUNS.append((ctx.job_id, ctx.worker_id, ctx.attempt))


@handler("test.record")
def record(session: Session, payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    _record(ctx)
    time.sleep(float(payload.get("sleep", 0)))
    return {"n": payload.get("n")}


@handler("test.flaky", max_attempts=3)
def flaky(session: Session, payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    _record(ctx)
    if ctx.attempt <= int(payload.get("fail_times", 0)):
        raise RuntimeError(f"boom on attempt {ctx.attempt}")
    return {"attempt": ctx.attempt}


@handler("test.permanent")
def permanent(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    _record(ctx)
    raise PermanentError("the LMS said no")


@handler("test.later")
def later(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    _record(ctx)
    raise RetryLater("slow down", retry_after=float(payload["retry_after"]))


@handler("test.wait")
def wait(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    _record(ctx)
    GATE.wait(float(payload.get("max", 5)))


@handler("test.periodic", every=lambda settings: float(settings.extra.get("TEST_EVERY") or 0))
def periodic(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    _record(ctx)
