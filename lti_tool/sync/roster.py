"""Roster sync: who is in a course, from the LMS's Names and Role Provisioning Service.

Pages stream in one at a time and each is written in one short transaction: members (name,
email, picture when the LMS shares them) and enrolments with their roles. After a complete
full sync, enrolments the LMS did not list are marked inactive (never deleted: posts stay);
returners become active again. Syncs run as ``roster.sync`` jobs, at most one pending per
course, queued by the Sync roster button, the CLI, a launch into a course with a stale roster,
and the ``roster.sync_stale`` schedule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    String,
    Text,
    and_,
    any_,
    cast,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, Session, mapped_column

from lti_tool.community.groups.services import place_late_joiners, release_leavers
from lti_tool.config import Settings
from lti_tool.courses import services
from lti_tool.courses.models import Course, Enrolment, EnrolmentStatus, Member, Platform
from lti_tool.extensions import UTCDateTime, db, utcnow
from lti_tool.jobs import (
    JobContext,
    JobTimeout,
    LeaseLost,
    PermanentError,
    begin_write,
    enqueue,
    handler,
)
from lti_tool.lti.nrps import NrpsClient, RosterMember
from lti_tool.lti.services import Deadline, ServiceError, ServiceHttp
from lti_tool.sync.background import (
    app_settings,
    job_failure,
    job_view,
    mark_requested,
    service_tokens,
    status_fields,
)
from lti_tool.sync.privacy import erased_subjects, subject_hash
from lti_tool.telemetry.context import set_tenant

log = logging.getLogger(__name__)

JOB_KIND = "roster.sync"
SCHEDULE_KIND = "roster.sync_stale"
BATCH = 500  # members per statement, whatever page size the LMS chose
REQUEST_COOLDOWN = timedelta(minutes=10)  # launches re-request a stale roster at most this often
# The schedule leaves a course whose last sync failed for good (a refused token, no longer any
# such course in the LMS) alone this long: asking every hour would only be refused every hour.
# A launch, the button and the CLI still ask at once.
FAILED_COOLDOWN = timedelta(hours=24)


class RosterSync(db.Model):  # type: ignore[name-defined]
    """The roster sync state of one course: last result, progress, and where to ask next."""

    __tablename__ = "roster_sync"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), default="idle")  # queued/running/done/failed
    job_id: Mapped[int | None] = mapped_column(default=None)
    trigger: Mapped[str | None] = mapped_column(String(16), default=None)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    full_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    differences_url: Mapped[str | None] = mapped_column(Text, default=None)
    processed: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    error_detail: Mapped[str | None] = mapped_column(Text, default=None)
    # A full sync stopped midway (its time bound, the LMS failing): the next attempt goes on
    # from the page after the last one stored, as the same run (enrolments confirmed since
    # resume_since count as listed), instead of from page 1: a roster longer than one attempt
    # can hold still completes.
    resume_url: Mapped[str | None] = mapped_column(Text, default=None)
    resume_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resume_pages: Mapped[int] = mapped_column(default=0, server_default="0")
    resume_members: Mapped[int] = mapped_column(default=0, server_default="0")


_NO_RESUME: dict[str, Any] = {
    "resume_url": None,
    "resume_since": None,
    "resume_pages": 0,
    "resume_members": 0,
}


class RosterError(Exception):
    """A roster request that cannot be served (unknown course, no roster service)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class RosterCounts:
    """What a sync changed."""

    added: int = 0
    updated: int = 0
    deactivated: int = 0
    reactivated: int = 0
    unchanged: int = 0
    members: int = 0  # members listed by the LMS
    pages: int = 0
    skipped: int = 0  # entries without a user id, and people erased at their request


@dataclass(frozen=True)
class RosterResult:
    course_id: int
    mode: str  # "full" or "differences"
    complete: bool
    counts: RosterCounts
    stopped: str | None = None  # why the LMS's pages ended early, or why nobody was deactivated
    seconds: float = 0.0
    lms_seconds: float = 0.0  # of which waiting for the LMS

    def as_dict(self) -> dict[str, Any]:
        return {
            "course_id": self.course_id,
            "mode": self.mode,
            "complete": self.complete,
            "stopped": self.stopped,
            **asdict(self.counts),
            "seconds": round(self.seconds, 3),
            "lms_seconds": round(self.lms_seconds, 3),
        }


def nrps_url(services_claim: dict[str, Any] | None) -> str | None:
    """The course's memberships URL from the NRPS claim its launches carried, if any."""
    claim = (services_claim or {}).get("nrps")
    url = claim.get("context_memberships_url") if isinstance(claim, dict) else None
    return url if isinstance(url, str) and url else None


# -- state rows -------------------------------------------------------------------------------


def _ensure_state(session: Session, course_id: int) -> None:
    stmt = services.dialect_insert(session, RosterSync).values(
        course_id=course_id, status="idle", processed=0
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["course_id"]))


def _set_state(session: Session, course_id: int, **values: Any) -> None:
    _ensure_state(session, course_id)
    session.execute(update(RosterSync).where(RosterSync.course_id == course_id).values(**values))


# -- the use case -----------------------------------------------------------------------------

ClientFactory = Callable[[Course], NrpsClient]
PageHook = Callable[[Session, RosterCounts], None]


def _batches(items: Sequence[RosterMember], size: int) -> Iterator[Sequence[RosterMember]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _profile(member: RosterMember) -> services.Profile:
    return services.Profile(
        name=member.name,
        given_name=member.given_name,
        family_name=member.family_name,
        email=member.email,
        picture=member.picture,
    )


@dataclass(frozen=True)
class CourseRef:
    """The ids a page write needs (plain values: no ORM object outlives a transaction)."""

    id: int
    platform_id: int
    erased: frozenset[str] = frozenset()  # subject hashes of erased people (sync.privacy)


def _one_of(session: Session, lms_ids: list[str]) -> Any:
    # PostgreSQL: one array parameter keeps the statement short and cached by the driver.
    if session.get_bind().dialect.name == "postgresql":
        return Member.lms_id == any_(cast(lms_ids, ARRAY(String)))
    return Member.lms_id.in_(lms_ids)


def apply_members(
    session: Session,
    course: CourseRef,
    members: Sequence[RosterMember],
    counts: RosterCounts,
    confirmed_at: datetime,
) -> None:
    """Write one page of members and their enrolments, counting what changed."""
    unique = list({m.lms_id: m for m in members}.values())  # a page may repeat someone
    for batch in _batches(unique, BATCH):
        ids = [m.lms_id for m in batch]
        existing = {
            row.lms_id: row
            for row in session.execute(
                select(
                    Member.id,
                    Member.lms_id,
                    Member.name,
                    Member.given_name,
                    Member.family_name,
                    Member.email,
                    Member.picture,
                    Enrolment.roles,
                    Enrolment.status,
                )
                .outerjoin(
                    Enrolment,
                    and_(Enrolment.member_id == Member.id, Enrolment.course_id == course.id),
                )
                .where(Member.platform_id == course.platform_id, _one_of(session, ids))
            )
        }
        to_write: list[services.RosterEntry] = []
        enrol: list[RosterMember] = []
        for member in batch:
            old = existing.get(member.lms_id)
            profile = _profile(member)
            changed = old is None or any(
                value != getattr(old, name) for name, value in profile.values().items()
            )
            if old is None and member.status == "deleted":
                continue  # a deletion of someone Bottega never knew: nothing to record
            erased = old is None and bool(course.erased)
            if erased and subject_hash(course.platform_id, member.lms_id) in course.erased:
                counts.skipped += 1  # erased at their request: only their own launch
                continue  # brings them back
            if changed:
                to_write.append(
                    services.RosterEntry(member.lms_id, profile, member.roles, member.active)
                )
            enrol.append(member)
            if old is None or old.status is None:
                counts.added += 1
            elif old.status == EnrolmentStatus.INACTIVE and member.active:
                counts.reactivated += 1
            elif old.status == EnrolmentStatus.ACTIVE and not member.active:
                counts.deactivated += 1
            elif changed or sorted(old.roles or []) != sorted(member.roles):
                counts.updated += 1
            else:
                counts.unchanged += 1
        member_ids = {lms_id: row.id for lms_id, row in existing.items()}
        member_ids.update(services.upsert_roster_members(session, course.platform_id, to_write))
        services.upsert_roster_enrolments(
            session,
            course.id,
            [(member_ids[m.lms_id], m.roles, m.active) for m in enrol],
            confirmed_at,
        )


def sync_roster(
    session: Session,
    course_id: int,
    connect: ClientFactory,
    *,
    full: bool = True,
    full_every: float = 86400.0,
    on_page: PageHook | None = None,
    job_id: int | None = None,
) -> RosterResult:
    """Bring a course's members and enrolments in line with the LMS; commits page by page.

    ``full=False`` uses the LMS's ``rel="differences"`` link from the last complete sync when
    there is one and the last full sync is younger than ``full_every`` seconds. Raises
    RosterError when the course has no roster service, ServiceError when the LMS fails.
    """
    started_clock = time.monotonic()
    course = session.get(Course, course_id)
    if course is None:
        raise RosterError("no_course", f"there is no course {course_id}")
    set_tenant(course.platform_id, course.id)
    url = nrps_url(course.services)
    if url is None:
        raise RosterError(
            "no_service",
            "this course's launches carried no roster service (NRPS) endpoint",
        )
    state = session.get(RosterSync, course_id)
    now = utcnow()
    use_differences = bool(
        not full
        and state is not None
        and state.differences_url
        and state.full_synced_at is not None
        and (now - state.full_synced_at).total_seconds() < full_every
    )
    differences_url = state.differences_url if state is not None else None
    # A full sync an earlier attempt left midway goes on (a request for differences included:
    # the last full sync is not complete).
    resume = (
        state is not None
        and state.resume_url is not None
        and state.resume_since is not None
        and (now - state.resume_since).total_seconds() < full_every
    )
    counts = RosterCounts()
    if resume:
        assert state is not None
        use_differences = False
        counts.pages, counts.members = state.resume_pages, state.resume_members
    ref = CourseRef(course.id, course.platform_id, erased_subjects(session, course.platform_id))
    client = connect(course)
    session.commit()  # end the read transaction: each page writes in a transaction of its own
    begin_write(session)
    _set_state(
        session,
        course_id,
        status="running",
        started_at=now,
        processed=counts.members,
        error_code=None,
        error_detail=None,
        **({"job_id": job_id} if job_id is not None else {}),
    )
    session.commit()

    # Enrolments not confirmed since then were not listed.
    started = state.resume_since if resume and state and state.resume_since else utcnow()
    mode = "differences" if use_differences else "full"
    try:
        if resume and state and state.resume_url:
            stream = client.resume(state.resume_url, state.resume_pages)
        elif use_differences:
            stream = client.differences(differences_url or "")
        else:
            stream = client.memberships(url)
        _consume(session, ref, stream, counts, on_page, started, resumable=mode == "full")
    except ServiceError as exc:
        if not (use_differences or resume) or exc.temporary:
            raise
        # The LMS no longer honours the differences link, or the page link an earlier attempt
        # stopped at: read the whole roster from its first page.
        log.info("course %s: %s refused (%s); full sync instead", course_id, mode, exc)
        session.rollback()
        use_differences, mode, counts = False, "full", RosterCounts()
        started = utcnow()
        stream = client.memberships(url)
        _consume(session, ref, stream, counts, on_page, started, resumable=True)

    stopped = stream.stopped
    begin_write(session)
    if mode == "full" and stream.complete:
        active = session.scalar(
            select(func.count())
            .select_from(Enrolment)
            .where(Enrolment.course_id == course_id, Enrolment.status == EnrolmentStatus.ACTIVE)
        )
        if counts.members == 0 and active:
            # An empty roster for a course with members is far likelier an LMS glitch than
            # everyone leaving at once: keep them and say so.
            stopped = "empty roster: nobody deactivated"
        else:
            counts.deactivated += services.deactivate_unconfirmed_enrolments(
                session, course_id, started
            )
    finished = utcnow()
    result = RosterResult(
        course_id=course_id,
        mode=mode,
        complete=stream.complete,
        counts=counts,
        stopped=stopped,
        seconds=time.monotonic() - started_clock,
        lms_seconds=client.http.seconds,
    )
    values: dict[str, Any] = {
        "status": "done",
        "finished_at": finished,
        "processed": counts.members,
        "result": result.as_dict(),
    }
    if stream.complete:
        values["synced_at"] = finished
        values["differences_url"] = stream.differences_url
        if mode == "full":
            values["full_synced_at"] = finished
    if mode == "full":  # read to its end (or to the page cap, or a loop): nothing to resume
        values.update(_NO_RESUME)
    _set_state(session, course_id, **values)
    session.commit()
    _update_groups(session, course_id)
    return result


def _update_groups(session: Session, course_id: int) -> None:
    """Peer groups follow the roster: leavers free their place, new students are placed."""
    begin_write(session)
    release_leavers(session, course_id)
    place_late_joiners(session, course_id)
    session.commit()


def _consume(
    session: Session,
    course: CourseRef,
    stream: Any,
    counts: RosterCounts,
    on_page: PageHook | None,
    started: datetime,
    *,
    resumable: bool = False,
) -> None:
    """Apply the stream's pages, one transaction each; with ``resumable``, each page's commit
    also stores where the run goes on if the attempt stops after it."""
    for page in stream:
        begin_write(session)
        # Never before the sync's start, even if the clock steps back: a member listed now
        # must not look unconfirmed to the deactivation at the end.
        apply_members(session, course, page.members, counts, max(utcnow(), started))
        counts.pages += 1
        counts.members += len(page.members)
        counts.skipped += page.skipped
        if on_page is not None:
            # Before the state row: a request for another sync takes the job's row, then this
            # one (enqueue, then request_sync); the same order here means no deadlock.
            on_page(session, counts)
        progress: dict[str, Any] = {"processed": counts.members}
        if resumable:
            progress.update(
                resume_url=stream.next_url,
                resume_since=started,
                resume_pages=stream.pages,
                resume_members=counts.members,
            )
        session.execute(
            update(RosterSync).where(RosterSync.course_id == course.id).values(**progress)
        )
        session.commit()


def record_failure(session: Session, course_id: int, code: str, detail: str | None) -> None:
    """Remember why the last sync failed, for the instructor's page: ``code`` becomes words
    in the viewer's language, ``detail`` is only ever what the LMS itself answered."""
    session.rollback()
    begin_write(session)
    _set_state(
        session,
        course_id,
        status="failed",
        finished_at=utcnow(),
        error_code=code[:32],
        error_detail=detail[:2000] if detail else None,
    )
    session.commit()


# -- requests -----------------------------------------------------------------------------------


def request_sync(
    session: Session,
    course_id: int,
    *,
    full: bool = True,
    trigger: str = "manual",
    replace: bool = False,
) -> int:
    """Queue a roster sync for a course (one pending per course); returns the job id.

    The caller commits. A sync already running is not run beside it: it runs once more as
    soon as the running one ends (it may have read the LMS before what was asked for).
    """
    job_id = enqueue(
        session,
        JOB_KIND,
        {"course_id": course_id, "full": full, "trigger": trigger},
        key=f"{JOB_KIND}:{course_id}",
        replace=replace,
        rerun=True,
    )
    _ensure_state(session, course_id)
    mark_requested(session, RosterSync, RosterSync.course_id == course_id, job_id, trigger)
    return job_id


def refresh_if_stale(
    session: Session, course_id: int, *, max_age: float, now: datetime | None = None
) -> int | None:
    """After a launch: queue a background sync when the roster is older than ``max_age``.

    Costs a primary-key read when the roster is fresh or was just requested; commits only
    when it queues a job. Returns the job id, or None.
    """
    if max_age <= 0:
        return None
    now = now or utcnow()
    row = session.execute(
        select(RosterSync.synced_at, RosterSync.requested_at).where(
            RosterSync.course_id == course_id
        )
    ).one_or_none()
    if row is not None:
        if row.synced_at is not None and (now - row.synced_at).total_seconds() < max_age:
            return None
        if row.requested_at is not None and now - row.requested_at < REQUEST_COOLDOWN:
            return None
    if nrps_url(session.scalar(select(Course.services).where(Course.id == course_id))) is None:
        return None
    job_id = request_sync(session, course_id, full=False, trigger="launch")
    session.commit()
    return job_id


def stale_courses(session: Session, *, max_age: float, limit: int = 500) -> list[int]:
    """Courses with a roster service whose roster is older than ``max_age`` seconds."""
    now = utcnow()
    cutoff = now - timedelta(seconds=max_age)
    query = (
        select(Course.id, Course.services)
        .outerjoin(RosterSync, RosterSync.course_id == Course.id)
        .where(
            (RosterSync.synced_at.is_(None)) | (RosterSync.synced_at < cutoff),
            (RosterSync.requested_at.is_(None))
            | (RosterSync.requested_at < now - REQUEST_COOLDOWN),
            or_(
                RosterSync.status.is_(None),
                RosterSync.status != "failed",
                RosterSync.finished_at.is_(None),
                RosterSync.finished_at < now - FAILED_COOLDOWN,
            ),
        )
        .order_by(Course.id)
        .execution_options(yield_per=1000)
    )
    found: list[int] = []
    for course_id, claim in session.execute(query):
        if nrps_url(claim):
            found.append(course_id)
            if len(found) >= limit:
                break
    return found


def syncable(session: Session, course_id: int) -> bool:
    """Whether the course's launches gave a roster service endpoint."""
    return (
        nrps_url(session.scalar(select(Course.services).where(Course.id == course_id))) is not None
    )


def syncable_courses(session: Session, platform_id: int | None = None) -> list[int]:
    """Every course (of one platform, or all) whose launches gave a roster service."""
    query = select(Course.id, Course.services).order_by(Course.id)
    if platform_id is not None:
        query = query.where(Course.platform_id == platform_id)
    return [cid for cid, claim in session.execute(query) if nrps_url(claim)]


# -- reading ----------------------------------------------------------------------------------


def find_platform_id(session: Session, issuer: str, client_id: str | None = None) -> int:
    """The registration of an issuer (and client id); says what to add when ambiguous."""
    query = select(Platform.id, Platform.client_id).where(Platform.issuer == issuer)
    if client_id:
        query = query.where(Platform.client_id == client_id)
    platforms = session.execute(query.order_by(Platform.client_id).limit(5)).all()
    if not platforms:
        raise RosterError(
            "no_platform",
            f"no platform is registered with issuer {issuer}"
            + (f" and client id {client_id}" if client_id else ""),
        )
    if len(platforms) > 1:
        raise RosterError(
            "ambiguous",
            f"issuer {issuer} has several registrations: pass --client-id "
            f"({', '.join(p.client_id for p in platforms)})",
        )
    return int(platforms[0].id)


def find_course(
    session: Session,
    issuer: str,
    lms_course_id: str,
    *,
    client_id: str | None = None,
    deployment_id: str | None = None,
) -> Course:
    """A course by its LMS issuer and id; says what to add when that is ambiguous."""
    platform_id = find_platform_id(session, issuer, client_id)
    courses = list(
        session.scalars(
            select(Course).where(Course.platform_id == platform_id, Course.lms_id == lms_course_id)
        )
    )
    if deployment_id:
        courses = [c for c in courses if c.deployment.deployment_id == deployment_id]
    if not courses:
        raise RosterError(
            "no_course", f"no course {lms_course_id} is known for issuer {issuer} (launch it once)"
        )
    if len(courses) > 1:
        raise RosterError(
            "ambiguous",
            f"course {lms_course_id} exists in several deployments: pass --deployment-id "
            f"({', '.join(c.deployment.deployment_id for c in courses)})",
        )
    return courses[0]


@dataclass(frozen=True)
class RosterRow:
    """One member of a course roster, for listings."""

    lms_id: str
    name: str | None
    email: str | None
    roles: list[str]
    status: str


def roster_rows(session: Session, course_id: int) -> list[RosterRow]:
    """Everyone enrolled in a course, active or not, by LMS id."""
    rows = session.execute(
        select(
            Member.lms_id,
            Member.name,
            Member.given_name,
            Member.family_name,
            Member.email,
            Enrolment.roles,
            Enrolment.status,
        )
        .join(Enrolment, Enrolment.member_id == Member.id)
        .where(Enrolment.course_id == course_id)
        .order_by(Member.lms_id)
    )
    return [
        RosterRow(
            lms_id=r.lms_id,
            name=r.name or " ".join(p for p in (r.given_name, r.family_name) if p) or None,
            email=r.email,
            roles=list(r.roles or []),
            status=r.status.value,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class RosterStatus:
    """What the instructor's page shows."""

    state: str  # never, queued, running, retrying, done, failed
    processed: int = 0
    result: dict[str, Any] | None = None
    synced_at: datetime | None = None
    finished_at: datetime | None = None
    error_code: str | None = None
    error_detail: str | None = None
    next_try_at: datetime | None = None
    attempts: int = 0
    job_id: int | None = None
    again: bool = False  # running, and to run once more as soon as it ends
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return self.state in ("queued", "running", "retrying")


def roster_status(session: Session, course_id: int) -> RosterStatus:
    """The course's last sync and the job behind the current one, as one state."""
    row = session.get(RosterSync, course_id)
    if row is None:
        return RosterStatus(state="never")
    view = job_view(session, row.job_id, row.status)
    return RosterStatus(
        processed=row.processed,
        result=row.result,
        synced_at=row.synced_at,
        finished_at=row.finished_at,
        job_id=row.job_id,
        **status_fields(view, row.error_code, row.error_detail),
    )


# -- the jobs ---------------------------------------------------------------------------------


def nrps_client_factory(http: ServiceHttp, settings: Settings) -> ClientFactory:
    """How the jobs below reach a course's LMS: tokens cached per tenant, shared by workers."""
    tokens = service_tokens(http)

    def connect(course: Course) -> NrpsClient:
        return NrpsClient(
            course.platform,
            course.deployment.deployment_id,
            http=http,
            tokens=tokens,
            page_size=settings.roster.page_size,
            max_pages=settings.roster.max_pages,
            extra_hosts=settings.services.extra_hosts,
        )

    return connect


@handler(JOB_KIND)
def run_roster_sync(
    session: Session, payload: dict[str, Any], ctx: JobContext
) -> dict[str, Any] | None:
    """The ``roster.sync`` job: one course, full or by differences."""
    course_id = int(payload["course_id"])
    settings = app_settings()
    http = ServiceHttp(settings.services, deadline=Deadline.at_monotonic(ctx.deadline))

    def on_page(page_session: Session, counts: RosterCounts) -> None:
        ctx.heartbeat(page_session)  # committed with the page: a live worker keeps its lease
        ctx.check_deadline()

    try:
        result = sync_roster(
            session,
            course_id,
            nrps_client_factory(http, settings),
            full=bool(payload.get("full", True)),
            full_every=settings.roster.full_every,
            on_page=on_page,
            job_id=ctx.job_id,
        )
    except LeaseLost:
        raise
    except RosterError as exc:
        record_failure(session, course_id, exc.code, None)  # Bottega's words: for the logs
        raise PermanentError(str(exc)) from exc
    except ServiceError as exc:
        record_failure(session, course_id, exc.code, exc.detail)
        raise job_failure(exc) from exc
    except JobTimeout:
        record_failure(session, course_id, "timeout", None)
        raise
    finally:
        http.close()
    return result.as_dict()


@handler(SCHEDULE_KIND, every=lambda settings: settings.roster.schedule_interval)
def queue_stale_rosters(
    session: Session, payload: dict[str, Any], ctx: JobContext
) -> dict[str, Any] | None:
    """The periodic job: queue a sync for every course whose roster is older than its age."""
    settings = app_settings()
    if settings.roster.max_age <= 0:
        return {"queued": 0}
    ids = stale_courses(session, max_age=settings.roster.max_age)
    for course_id in ids:
        request_sync(session, course_id, full=False, trigger="schedule")
    session.commit()
    return {"queued": len(ids)}
