"""Grade push: participation scores of a graded placement, sent to the LMS gradebook (AGS 2.0).

A placement is graded when its launches carry an AGS line item, or when Bottega placed it as
graded through deep linking (then it finds or creates its line item by resource link and tag).
A push computes every active learner's score by the placement's rubric and writes each score
that changed into the ledger (``grades_score``) once, as *pending*, with its timestamp fixed at
that moment. Then it sends the pending scores, a few at a time in parallel, and marks each one
sent; a 409 (the LMS already holds this timestamp or a later one) settles it. A crash between
sending and marking only resends a score with the same timestamp, which the LMS settles:
nothing is sent twice by accident, and an unchanged score is never sent again. Pushes run as
``grades.push`` jobs, one pending per placement.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from lti_tool.community.grades.services import (
    Rubric,
    active_learners,
    compute_scores,
    rubric_for,
)
from lti_tool.config import Settings
from lti_tool.courses import services
from lti_tool.courses.models import Course, Member, Placement
from lti_tool.extensions import UTCDateTime, db, utcnow
from lti_tool.jobs import (
    JobContext,
    LeaseLost,
    PermanentError,
    RetryLater,
    begin_write,
    enqueue,
    handler,
)
from lti_tool.lti.ags import PARTICIPATION_TAG, AgsClient, AgsEndpoint, LineItem, Score
from lti_tool.lti.services import Deadline, ServiceError, ServiceHttp, pooled_session
from lti_tool.sync.background import (
    app_settings,
    job_failure,
    job_view,
    mark_requested,
    service_tokens,
    status_fields,
)
from lti_tool.telemetry.context import set_tenant

log = logging.getLogger(__name__)

JOB_KIND = "grades.push"
SCHEDULE_KIND = "grades.push_all"
FLUSH_EVERY = 0.5  # seconds between two ledger writes (and lease heartbeats) while sending
FLUSH_BATCH = 200  # results written at once at most
# Failures that concern every score, not one: stop sending and end the attempt. An LMS that
# still answers 429 or 5xx after a score's own retries is asked to wait as a whole: the job
# comes back after its Retry-After, instead of every pending learner costing more requests.
HALTING = frozenset(
    {
        "timeout",
        "unreachable",
        "unauthorized",
        "token_refused",
        "untrusted_host",
        "no_service",
        "rate_limited",
        "server_error",
        "lineitem_gone",
    }
)


class ScoreStatus(enum.StrEnum):
    PENDING = "pending"  # to send (first try, or after a temporary failure)
    SENT = "sent"
    SETTLED = "settled"  # the LMS answered 409: it holds this timestamp or a later one
    FAILED = "failed"  # refused by the LMS (a 4xx): tried again by the next push


class GradePush(db.Model):  # type: ignore[name-defined]
    """The grade push state of one placement: its line item, last result and failure."""

    __tablename__ = "grades_push"

    placement_id: Mapped[int] = mapped_column(
        ForeignKey("placement.id", ondelete="CASCADE"), primary_key=True
    )
    lineitem_url: Mapped[str | None] = mapped_column(Text, default=None)
    lineitem_created: Mapped[bool] = mapped_column(default=False)
    # The line item's scoreMaximum, as the LMS gave it: the default rubric's maximum score.
    lineitem_maximum: Mapped[float | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="idle")  # queued/running/done/failed
    job_id: Mapped[int | None] = mapped_column(default=None)
    trigger: Mapped[str | None] = mapped_column(String(16), default=None)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    error_detail: Mapped[str | None] = mapped_column(Text, default=None)


class GradeScore(db.Model):  # type: ignore[name-defined]
    """The score ledger: a learner's latest score for a placement and whether the LMS has it."""

    __tablename__ = "grades_score"
    __table_args__ = (
        UniqueConstraint("placement_id", "member_id"),
        Index("ix_grades_score_placement_status", "placement_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placement.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    score: Mapped[float]
    score_maximum: Mapped[float]
    # Fixed when the score was computed and sent as is every time: a resend is harmless.
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=ScoreStatus.PENDING.value)
    sent_score: Mapped[float | None] = mapped_column(default=None)
    sent_maximum: Mapped[float | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GradeError(Exception):
    """A push that cannot be served (unknown placement, no grade service)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- which placements are graded ------------------------------------------------------------------


def graded_endpoint(lms_services: dict[str, Any] | None) -> AgsEndpoint | None:
    """The AGS endpoint of a graded placement's stored services, or None when not graded."""
    lms_services = lms_services or {}
    endpoint = AgsEndpoint.of(lms_services.get("ags"))
    if endpoint is None:
        return None
    if endpoint.lineitem or (lms_services.get("graded") and endpoint.can_create):
        return endpoint
    return None


def graded_placements(session: Session, course_id: int) -> list[Placement]:
    """The course's graded placements, oldest first."""
    rows = session.scalars(
        select(Placement).where(Placement.course_id == course_id).order_by(Placement.id)
    )
    return [p for p in rows if graded_endpoint(p.services) is not None]


def all_graded_placement_ids(session: Session) -> list[int]:
    query = select(Placement.id, Placement.services).execution_options(yield_per=1000)
    return [pid for pid, lms_services in session.execute(query) if graded_endpoint(lms_services)]


# -- state -------------------------------------------------------------------------------------


def _set_state(session: Session, placement_id: int, **values: Any) -> None:
    stmt = services.dialect_insert(session, GradePush).values(
        placement_id=placement_id, status="idle", lineitem_created=False
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["placement_id"]))
    if values:
        session.execute(
            update(GradePush).where(GradePush.placement_id == placement_id).values(**values)
        )


def request_push(
    session: Session, placement_id: int, *, trigger: str = "manual", replace: bool = False
) -> int:
    """Queue a push for a placement (one pending per placement); returns the job id.

    The caller commits. A push already queued is not queued twice; one running is not run
    beside it, but once more as soon as it ends (it computed the scores before this request:
    a rubric saved since, new participation).
    """
    job_id = enqueue(
        session,
        JOB_KIND,
        {"placement_id": placement_id, "trigger": trigger},
        key=f"{JOB_KIND}:{placement_id}",
        replace=replace,
        rerun=True,
    )
    _set_state(session, placement_id)
    mark_requested(session, GradePush, GradePush.placement_id == placement_id, job_id, trigger)
    return job_id


def record_failure(session: Session, placement_id: int, code: str, detail: str | None) -> None:
    """Remember why the last push failed, for the instructor's page: ``code`` becomes words
    in the viewer's language, ``detail`` is only ever what the LMS itself answered."""
    session.rollback()
    begin_write(session)
    _set_state(
        session,
        placement_id,
        status="failed",
        finished_at=utcnow(),
        error_code=code[:32],
        error_detail=detail[:2000] if detail else None,
    )
    session.commit()


# -- the use case --------------------------------------------------------------------------------

ClientFactory = Callable[[Course, AgsEndpoint], AgsClient]
FlushHook = Callable[[Session], None]


@dataclass
class PushResult:
    """What a push did."""

    placement_id: int
    learners: int = 0
    changed: int = 0  # scores newly written as pending
    sent: int = 0
    settled: int = 0
    failed: int = 0  # refused by the LMS for that learner
    pending: int = 0  # left to send (temporary failures, or stopped early)
    lineitem: str | None = None
    lineitem_created: bool = False
    stopped: str | None = None  # why sending stopped early
    seconds: float = 0.0
    lms_seconds: float = 0.0
    retry_after: float | None = None
    # The failure that stopped sending (or the first temporary one): shown on the page.
    error: ServiceError | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "error"}
        data["seconds"] = round(self.seconds, 3)
        data["lms_seconds"] = round(self.lms_seconds, 3)
        return data


def _line_item(
    session: Session,
    placement: Placement,
    endpoint: AgsEndpoint,
    client: AgsClient,
    rubric: Rubric,
) -> tuple[str, bool, float | None]:
    """The placement's line item URL: the launch's, the one found or made earlier, or a new
    one; whether Bottega made it; and its maximum score when the LMS says."""
    state = session.get(GradePush, placement.id)
    stored_url = state.lineitem_url if state else None
    stored_maximum = state.lineitem_maximum if state else None
    if endpoint.lineitem:
        if stored_url == endpoint.lineitem and stored_maximum:
            return endpoint.lineitem, False, stored_maximum
        try:  # once per line item: its maximum makes the default rubric's
            maximum = client.get_line_item(endpoint.lineitem).score_maximum or None
        except ServiceError as exc:
            if exc.temporary:
                raise
            maximum = None  # e.g. no line item scope: the default maximum then
        return endpoint.lineitem, False, maximum
    if state is not None and stored_url:
        return stored_url, bool(state.lineitem_created), stored_maximum
    item, created = client.find_or_create(
        LineItem(
            url=None,
            label=placement.title or "Participation",
            score_maximum=rubric.score_maximum,
            resource_link_id=placement.lms_id,
            resource_id=f"bottega-{placement.widget}",
            tag=PARTICIPATION_TAG,
        )
    )
    assert item.url is not None
    return item.url, created, item.score_maximum or None


def _write_pending(
    session: Session, placement_id: int, course_id: int, rubric: Rubric, reset_failed: bool
) -> tuple[int, int]:
    """Score every active learner; a changed score becomes pending with a new, later timestamp.

    Returns (learners, changed).
    """
    learners = active_learners(session, course_id)
    scores = compute_scores(session, course_id, rubric, [x.member_id for x in learners])
    existing = {
        row.member_id: row
        for row in session.execute(
            select(
                GradeScore.id,
                GradeScore.member_id,
                GradeScore.score,
                GradeScore.score_maximum,
                GradeScore.timestamp,
                GradeScore.status,
            ).where(GradeScore.placement_id == placement_id)
        )
    }
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changed = 0
    for learner in learners:
        score, maximum = scores[learner.member_id], rubric.score_maximum
        old = existing.get(learner.member_id)
        if old is None:
            inserts.append(
                {
                    "placement_id": placement_id,
                    "member_id": learner.member_id,
                    "score": score,
                    "score_maximum": maximum,
                    "timestamp": now,
                    "status": ScoreStatus.PENDING.value,
                    "updated_at": now,
                }
            )
            changed += 1
        elif (old.score, old.score_maximum) != (score, maximum):
            changed += 1
            # Strictly later than the last timestamp, even if the clock stepped back.
            stamp = max(now, old.timestamp + timedelta(milliseconds=1))
            updates.append(
                {
                    "id": old.id,
                    "score": score,
                    "score_maximum": maximum,
                    "timestamp": stamp,
                    "status": ScoreStatus.PENDING.value,
                    "error": None,
                    "updated_at": now,
                }
            )
        elif reset_failed and old.status == ScoreStatus.FAILED.value:
            updates.append(
                {
                    "id": old.id,
                    "score": old.score,
                    "score_maximum": old.score_maximum,
                    "timestamp": old.timestamp,
                    "status": ScoreStatus.PENDING.value,
                    "error": None,
                    "updated_at": now,
                }
            )
    if inserts:
        session.execute(insert(GradeScore), inserts)
    if updates:
        session.execute(update(GradeScore), updates)
    return len(learners), changed


@dataclass(frozen=True)
class _Pending:
    id: int
    user_id: str
    score: float
    score_maximum: float
    timestamp: datetime
    sent_score: float | None
    sent_maximum: float | None
    sent_at: datetime | None


def _pending_rows(session: Session, placement_id: int) -> list[_Pending]:
    rows = session.execute(
        select(
            GradeScore.id,
            Member.lms_id,
            GradeScore.score,
            GradeScore.score_maximum,
            GradeScore.timestamp,
            GradeScore.sent_score,
            GradeScore.sent_maximum,
            GradeScore.sent_at,
        )
        .join(Member, Member.id == GradeScore.member_id)
        .where(
            GradeScore.placement_id == placement_id,
            GradeScore.status == ScoreStatus.PENDING.value,
        )
        .order_by(GradeScore.id)
    )
    return [_Pending(*row) for row in rows]


def _describe(exc: ServiceError) -> str:
    return (f"{exc}" + (f": {exc.detail}" if exc.detail else ""))[:2000]


def push_grades(
    session: Session,
    placement_id: int,
    connect: ClientFactory,
    *,
    concurrency: int = 8,
    reset_failed: bool = True,
    on_flush: FlushHook | None = None,
    deadline: float | None = None,
    job_id: int | None = None,
) -> PushResult:
    """Compute the placement's scores, write the changed ones as pending, and send the pending.

    ``on_flush(session)`` runs inside each ledger write's transaction (the job's heartbeat).
    Sending stops early at ``deadline`` (time.monotonic()) or on a failure that concerns every
    score (a hanging or unreachable LMS, a refused token); the result says what is left.
    """
    started = time.monotonic()
    placement = session.get(Placement, placement_id)
    if placement is None:
        raise GradeError("no_placement", f"placement {placement_id} does not exist")
    endpoint = graded_endpoint(placement.services)
    if endpoint is None:
        raise GradeError("no_service", "this placement's launches carry no grade service")
    if not endpoint.can_score:
        raise GradeError("no_service", "the LMS did not allow Bottega to send scores")
    course = placement.course
    set_tenant(course.platform_id, course.id)  # every line of the push names its course
    begin_write(session)
    _set_state(
        session,
        placement_id,
        status="running",
        started_at=utcnow(),
        error_code=None,
        error_detail=None,
        **({"job_id": job_id} if job_id else {}),
    )
    session.commit()

    client = connect(course, endpoint)
    result = PushResult(placement_id=placement_id)
    url, created, maximum = _line_item(
        session, placement, endpoint, client, rubric_for(session, placement_id)
    )
    result.lineitem, result.lineitem_created = url, created
    rubric = rubric_for(session, placement_id, default_maximum=maximum)

    begin_write(session)
    state = session.get(GradePush, placement_id)
    if state is not None and state.lineitem_url and state.lineitem_url != url:
        # Another gradebook column: what the old one holds says nothing about this one.
        session.execute(delete(GradeScore).where(GradeScore.placement_id == placement_id))
    _set_state(
        session, placement_id, lineitem_url=url, lineitem_created=created, lineitem_maximum=maximum
    )
    result.learners, result.changed = _write_pending(
        session, placement_id, course.id, rubric, reset_failed
    )
    session.commit()
    pending = _pending_rows(session, placement_id)
    session.commit()  # no read transaction stays open while sending

    _send(session, client, url, pending, result, concurrency, on_flush, deadline)
    result.seconds = time.monotonic() - started
    result.lms_seconds = client.http.seconds
    if result.error is not None and result.error.code == "lineitem_gone" and not endpoint.lineitem:
        # A column Bottega found or made was deleted in the LMS (not one the launch names):
        # forget it and what it held, so that the next attempt finds or makes a column again and
        # sends every score to it.
        begin_write(session)
        session.execute(delete(GradeScore).where(GradeScore.placement_id == placement_id))
        _set_state(session, placement_id, lineitem_url=None, lineitem_created=False)
        session.commit()
        result.error = ServiceError(
            "lineitem_gone",
            "the LMS no longer has Bottega's gradebook column: it is made again",
            temporary=True,
        )

    begin_write(session)
    halted = result.error is not None and not result.error.temporary
    values: dict[str, Any] = {
        "status": "failed" if halted else ("retrying" if result.pending else "done"),
        "finished_at": utcnow(),
        "result": result.as_dict(),
    }
    if result.error is not None:
        values.update(
            error_code=result.error.code[:32],
            error_detail=result.error.detail[:2000] if result.error.detail else None,
        )
    _set_state(session, placement_id, **values)
    session.commit()
    return result


def _send(
    session: Session,
    client: AgsClient,
    url: str,
    pending: Sequence[_Pending],
    result: PushResult,
    concurrency: int,
    on_flush: FlushHook | None,
    deadline: float | None,
) -> None:
    """Send pending scores with at most ``concurrency`` in flight; write outcomes in batches."""
    stop = threading.Event()
    lock = threading.Lock()
    by_id = {row.id: row for row in pending}

    def send(row: _Pending) -> tuple[int, str, ServiceError | None]:
        if stop.is_set():
            return row.id, "skipped", None
        score = Score(row.user_id, row.score, row.score_maximum, row.timestamp)
        try:
            return row.id, client.post_score(url, score), None
        except ServiceError as exc:
            with lock:
                if exc.code in HALTING:
                    if result.error is None or result.error.temporary:
                        result.error = exc
                        result.stopped = exc.code
                    stop.set()
                elif exc.temporary and result.error is None:
                    result.error = exc  # what to tell the instructor while it is retried
            return row.id, "error", exc

    outcomes: list[tuple[int, str, ServiceError | None]] = []
    last_flush = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="grades") as pool:
        rows = iter(pending)
        in_flight: set[Future[tuple[int, str, ServiceError | None]]] = set()
        exhausted = False
        try:
            while True:
                if deadline is not None and time.monotonic() >= deadline and not stop.is_set():
                    result.stopped = result.stopped or "time bound"
                    stop.set()
                while not exhausted and not stop.is_set() and len(in_flight) < 2 * concurrency:
                    row = next(rows, None)
                    if row is None:
                        exhausted = True
                    else:
                        in_flight.add(pool.submit(send, row))
                if not in_flight:
                    break
                done, in_flight = wait(in_flight, timeout=FLUSH_EVERY, return_when=FIRST_COMPLETED)
                outcomes.extend(f.result() for f in done)
                now = time.monotonic()
                if len(outcomes) >= FLUSH_BATCH or now - last_flush >= FLUSH_EVERY:
                    _flush(session, by_id, outcomes, result, on_flush)
                    outcomes = []
                    last_flush = now
        except BaseException:
            stop.set()  # a lost lease or an error here: what is queued is not sent
            raise
    _flush(session, by_id, outcomes, result, on_flush)
    result.pending += sum(1 for _ in rows) if not exhausted else 0


def _flush(
    session: Session,
    by_id: dict[int, _Pending],
    outcomes: list[tuple[int, str, ServiceError | None]],
    result: PushResult,
    on_flush: FlushHook | None,
) -> None:
    """Write a batch of send outcomes to the ledger, with the lease heartbeat, in one commit."""
    now = utcnow()
    updates: list[dict[str, Any]] = []
    for row_id, outcome, exc in outcomes:
        row = by_id[row_id]
        values = {
            "id": row_id,
            "status": ScoreStatus.PENDING.value,
            "sent_score": row.sent_score,
            "sent_maximum": row.sent_maximum,
            "sent_at": row.sent_at,
            "error": None,
            "updated_at": now,
        }
        if outcome in ("sent", "settled"):
            values.update(
                status=outcome, sent_score=row.score, sent_maximum=row.score_maximum, sent_at=now
            )
            result.sent += outcome == "sent"
            result.settled += outcome == "settled"
        elif outcome == "skipped":
            result.pending += 1
            continue
        else:
            assert exc is not None
            values["error"] = exc.detail[:2000] if exc.detail else None  # the LMS's own words
            if exc.temporary or exc.code in HALTING:
                result.pending += 1
                if exc.retry_after:
                    result.retry_after = max(result.retry_after or 0.0, exc.retry_after)
            else:
                values["status"] = ScoreStatus.FAILED.value
                result.failed += 1
        updates.append(values)
    begin_write(session)
    if updates:
        session.execute(update(GradeScore), updates)
    if on_flush is not None:
        on_flush(session)
    session.commit()


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerRow:
    """One learner's line on the grades page."""

    member_id: int
    name: str
    score: float | None  # the latest computed score
    status: str  # pending, sent, settled, failed, or "never" (no score computed yet)
    sent_score: float | None
    sent_maximum: float | None
    sent_at: datetime | None
    error: str | None


def ledger(session: Session, placement_id: int, course_id: int) -> list[LedgerRow]:
    """Every active learner of the course with their last sent score, time and status."""
    learners = {x.member_id for x in active_learners(session, course_id)}
    rows = {
        r.member_id: r
        for r in session.scalars(select(GradeScore).where(GradeScore.placement_id == placement_id))
    }
    members: list[Member] = (
        list(session.scalars(select(Member).where(Member.id.in_(learners)))) if learners else []
    )
    out = []
    for member in sorted(members, key=lambda m: (m.display_name.lower(), m.id)):
        row = rows.get(member.id)
        out.append(
            LedgerRow(
                member_id=member.id,
                name=member.display_name,
                score=row.score if row else None,
                status=row.status if row else "never",
                sent_score=row.sent_score if row else None,
                sent_maximum=row.sent_maximum if row else None,
                sent_at=row.sent_at if row else None,
                error=row.error if row else None,
            )
        )
    return out


@dataclass(frozen=True)
class PushStatus:
    """The state of a placement's grade push, for the page."""

    state: str  # never, queued, running, retrying, done, failed
    result: dict[str, Any] | None = None
    finished_at: datetime | None = None
    error_code: str | None = None
    error_detail: str | None = None
    next_try_at: datetime | None = None
    attempts: int = 0
    again: bool = False  # running, and to run once more as soon as it ends
    lineitem_url: str | None = None
    lineitem_maximum: float | None = None

    @property
    def busy(self) -> bool:
        return self.state in ("queued", "running", "retrying")


def push_status(session: Session, placement_id: int) -> PushStatus:
    """The placement's last push and the job behind the current one, as one state."""
    row = session.get(GradePush, placement_id)
    if row is None:
        return PushStatus(state="never")
    view = job_view(session, row.job_id, row.status)
    return PushStatus(
        result=row.result,
        finished_at=row.finished_at,
        lineitem_url=row.lineitem_url,
        lineitem_maximum=row.lineitem_maximum,
        **status_fields(view, row.error_code, row.error_detail),
    )


# -- the jobs ----------------------------------------------------------------------------------


def ags_client_factory(http: ServiceHttp, settings: Settings) -> ClientFactory:
    """How the push reaches a course's LMS: tokens cached per tenant, shared by workers."""
    tokens = service_tokens(http)

    def connect(course: Course, endpoint: AgsEndpoint) -> AgsClient:
        return AgsClient(
            course.platform,
            course.deployment.deployment_id,
            endpoint,
            http=http,
            tokens=tokens,
            extra_hosts=settings.services.extra_hosts,
        )

    return connect


@handler(JOB_KIND)
def run_grade_push(
    session: Session, payload: dict[str, Any], ctx: JobContext
) -> dict[str, Any] | None:
    """The ``grades.push`` job: one placement's scores."""
    placement_id = int(payload["placement_id"])
    settings = app_settings()
    concurrency = settings.grades.concurrency
    http = ServiceHttp(
        settings.services,
        deadline=Deadline.at_monotonic(ctx.deadline),
        session=pooled_session(concurrency),
    )
    try:
        result = push_grades(
            session,
            placement_id,
            ags_client_factory(http, settings),
            concurrency=concurrency,
            # A new push tries refused scores again; its retries only what failed for a while.
            reset_failed=ctx.attempt == 1,
            on_flush=ctx.heartbeat,
            deadline=ctx.deadline,
            job_id=ctx.job_id,
        )
    except LeaseLost:
        raise
    except GradeError as exc:
        record_failure(session, placement_id, exc.code, None)  # Bottega's words: for the logs
        raise PermanentError(str(exc)) from exc
    except ServiceError as exc:
        record_failure(session, placement_id, exc.code, exc.detail)
        raise job_failure(exc) from exc
    finally:
        http.close()
    if result.error is not None and not result.error.temporary:
        raise PermanentError(_describe(result.error))
    if result.pending:
        reason = _describe(result.error) if result.error else (result.stopped or "LMS errors")
        raise RetryLater(f"{result.pending} scores left to send ({reason})", result.retry_after)
    return result.as_dict()


@handler(SCHEDULE_KIND, every=lambda settings: settings.grades.schedule_interval)
def queue_all_pushes(
    session: Session, payload: dict[str, Any], ctx: JobContext
) -> dict[str, Any] | None:
    """The periodic job: queue a push for every graded placement (unchanged scores cost no
    request to the LMS)."""
    ids = all_graded_placement_ids(session)
    for placement_id in ids:
        request_push(session, placement_id, trigger="schedule")
    session.commit()
    return {"queued": len(ids)}
