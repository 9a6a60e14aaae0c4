"""Privacy: what Bottega holds about one member, its export, its erasure, and event retention.

A member is one person of one platform (registration). The export walks every table with a
column referencing ``member.id`` (read from the SQLAlchemy metadata, so a new table is exported
without a change here) plus the edit history of the member's posts. The erasure follows
``ERASURE_POLICY``, which names every such column: a test fails when a table referencing the
member table is added without a policy. See docs/privacy.md for the policy in words.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    ForeignKey,
    String,
    Table,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from lti_tool.community.dashboard import metrics
from lti_tool.community.engagement.models import ParticipationEvent
from lti_tool.community.qa.models import Answer, Comment, Question, Revision, Vote
from lti_tool.config import Settings
from lti_tool.courses.models import (
    ERASED_NAME,
    Course,
    Enrolment,
    Member,
    Placement,
    Platform,
)
from lti_tool.extensions import UTCDateTime, db, utcnow
from lti_tool.jobs.queue import JobContext, handler
from lti_tool.sync.background import app_settings
from lti_tool.sync.grades import graded_endpoint

EXPORT_FORMAT = "bottega-member-export/1"
ERASED_PREFIX = "erased:"  # Member.lms_id after erasure: no LMS user id maps to it any more
PURGE_KIND = "privacy.purge_events"
PURGE_BATCH = 2000
# Columns left out of exports: derived copies of what is exported (HTML of Markdown, search).
_DERIVED = ("body_html", "meeting_note_html", "search_title", "search_body")
# Columns of the member's own rows that are about someone else and that the pages never show
# them: who voted their post helpful or accepted their answer (an anonymous asker: a member id
# is a name, the kudos form lists them), and the moderator's decision on a post they flagged
# (who, and a note that is about the post's author). The export leaves these out.
_UNSHOWN_OTHERS = frozenset(
    {
        ("engagement_event", "actor_id"),
        ("moderation_flag", "resolved_by"),
        ("moderation_flag", "resolution_note"),
    }
)


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"


class PrivacyRequest(db.Model):  # type: ignore[name-defined]
    """A member asked for their data to be erased; course staff or an admin carry it out."""

    __tablename__ = "privacy_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    # The course the request was made from (its staff see it first); None from a privacy launch.
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("course.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING.value)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    handled_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )


class ErasureLog(db.Model):  # type: ignore[name-defined]
    """One erasure: when, by what route, and how many rows each step touched. No personal data:
    the member id names a row that is anonymous from then on."""

    __tablename__ = "privacy_erasure_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    route: Mapped[str] = mapped_column(String(16))  # "cli", "staff", "admin"
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A one-way hash of the LMS user id: a later roster sync does not bring the person back
    # (a suppression list); a launch of their own does. See subject_hash().
    subject_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)


def subject_hash(platform_id: int, lms_id: str) -> str:
    """The suppression-list key of an erased person: their registration and LMS user id,
    hashed (the id itself is gone from Bottega)."""
    return hashlib.sha256(f"{platform_id}\n{lms_id}".encode()).hexdigest()


def erased_subjects(session: Session, platform_id: int) -> frozenset[str]:
    """The subject hashes of a registration's erased people (see subject_hash)."""
    return frozenset(
        session.scalars(
            select(ErasureLog.subject_hash).where(
                ErasureLog.platform_id == platform_id, ErasureLog.subject_hash.is_not(None)
            )
        )
    )


class Policy(enum.StrEnum):
    """What erasure does to the rows whose column references the erased member."""

    DELETE = "delete"  # the rows are about them only: gone
    KEEP = "keep"  # kept for the course's sake; the member row they point to is anonymous
    NULL = "null"  # the reference is cleared (who did it no longer matters)


# Every column referencing member.id, and what erasure does with it (see docs/privacy.md).
ERASURE_POLICY: dict[tuple[str, str], Policy] = {
    # Enrolments go: a browser still holding one of their launches gets a 401, not their pages.
    ("enrolment", "member_id"): Policy.DELETE,
    # Q&A: posts kept for the thread, shown as "Former member"; votes withdrawn; follows gone.
    ("qa_question", "author_id"): Policy.KEEP,
    ("qa_question", "endorsed_by"): Policy.KEEP,
    ("qa_question", "deleted_by"): Policy.KEEP,
    ("qa_answer", "author_id"): Policy.KEEP,
    ("qa_answer", "endorsed_by"): Policy.KEEP,
    ("qa_answer", "deleted_by"): Policy.KEEP,
    ("qa_comment", "author_id"): Policy.KEEP,
    ("qa_comment", "deleted_by"): Policy.KEEP,
    ("qa_revision", "editor_id"): Policy.KEEP,  # and the history of their own posts is deleted
    ("qa_vote", "member_id"): Policy.DELETE,  # helpful counts go down with them
    ("qa_follower", "member_id"): Policy.DELETE,
    ("sentiment_post", "author_id"): Policy.DELETE,
    # Kudos they gave stay with the receiver; kudos they received go.
    ("kudos_award", "giver_id"): Policy.KEEP,
    ("kudos_award", "receiver_id"): Policy.DELETE,
    ("recognition_badge_award", "member_id"): Policy.DELETE,
    # Pulse answers are theirs (anonymous to staff); who opened a pulse stays, anonymous.
    ("pulse_answer", "member_id"): Policy.DELETE,
    ("pulse_survey", "opened_by"): Policy.KEEP,
    # Participation: their events go once the finished weeks' figures are stored.
    ("engagement_event", "member_id"): Policy.DELETE,
    ("engagement_event", "actor_id"): Policy.NULL,
    ("grades_score", "member_id"): Policy.DELETE,
    ("grades_rubric", "updated_by"): Policy.KEEP,
    ("notification", "member_id"): Policy.DELETE,
    ("member_preference", "member_id"): Policy.DELETE,  # no address left to mail
    ("notification", "actor_id"): Policy.NULL,
    # Groups: they leave their groups; what they posted or shared stays.
    ("groups_membership", "member_id"): Policy.DELETE,
    ("groups_change", "member_id"): Policy.DELETE,
    ("groups_change", "actor_id"): Policy.KEEP,
    ("groups_answer", "member_id"): Policy.DELETE,
    ("groups_post", "author_id"): Policy.KEEP,
    ("groups_post", "deleted_by"): Policy.KEEP,
    ("groups_link", "author_id"): Policy.KEEP,
    ("groups_group", "facilitator_id"): Policy.NULL,
    ("groups_set", "created_by"): Policy.KEEP,
    # Introductions are about the person (the replies to theirs go with it).
    ("welcome_introduction", "member_id"): Policy.DELETE,
    ("welcome_reply", "author_id"): Policy.KEEP,
    ("welcome_postponed", "member_id"): Policy.DELETE,
    # Moderation: flags and the audit trail stay (the staff's accountability).
    ("moderation_flag", "reporter_id"): Policy.KEEP,
    ("moderation_flag", "resolved_by"): Policy.KEEP,
    ("moderation_hidden", "hidden_by"): Policy.KEEP,
    ("moderation_action", "actor_id"): Policy.KEEP,
    ("moderation_action", "target_member_id"): Policy.KEEP,
    ("moderation_conduct", "created_by"): Policy.KEEP,
    ("moderation_conduct_acceptance", "member_id"): Policy.DELETE,
    # Staff's notes about a student at risk: about them only.
    ("dashboard_reach_out", "member_id"): Policy.DELETE,
    ("dashboard_reach_out", "staff_id"): Policy.KEEP,
    ("dashboard_playbook", "updated_by"): Policy.KEEP,
    ("dashboard_reply_template", "created_by"): Policy.KEEP,
    # This module's own tables.
    ("privacy_request", "member_id"): Policy.KEEP,
    ("privacy_request", "handled_by"): Policy.KEEP,
    ("privacy_erasure_log", "member_id"): Policy.KEEP,
}


# Columns that record the member acting on someone else's record (endorsing, hiding, editing,
# notifying): the export lists which record and how, without its content, which belongs to the
# other person (an anonymous author's id, a classmate's notification, another's old text).
ACTS_ON_OTHERS = frozenset(
    {
        ("qa_question", "endorsed_by"),
        ("qa_question", "deleted_by"),
        ("qa_answer", "endorsed_by"),
        ("qa_answer", "deleted_by"),
        ("qa_comment", "deleted_by"),
        ("qa_revision", "editor_id"),
        ("groups_post", "deleted_by"),
        ("groups_change", "actor_id"),
        ("moderation_flag", "resolved_by"),
        ("moderation_hidden", "hidden_by"),
        ("moderation_action", "actor_id"),
        ("notification", "actor_id"),
        ("engagement_event", "actor_id"),
        ("dashboard_reach_out", "staff_id"),
        ("privacy_request", "handled_by"),
    }
)


class PrivacyError(Exception):
    """A request that cannot be served (unknown platform or member); the message says which."""


def member_columns() -> list[tuple[Table, str]]:
    """Every (table, column) of the metadata that references member.id."""
    found = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if table.name != "member" and any(
                fk.column.table.name == "member" for fk in column.foreign_keys
            ):
                found.append((table, column.name))
    return found


def is_erased(member: Member) -> bool:
    return member.lms_id.startswith(ERASED_PREFIX)


# -- finding members ---------------------------------------------------------------------------


def find_platform(session: Session, platform: str) -> Platform:
    """A platform by id, issuer or name; one that is unambiguous."""
    query = select(Platform)
    if platform.isdigit():
        rows = list(session.scalars(query.where(Platform.id == int(platform))))
    else:
        rows = list(
            session.scalars(
                query.where(or_(Platform.issuer == platform, Platform.name == platform))
            )
        )
    if not rows:
        raise PrivacyError(f"no platform {platform!r} (give its id, issuer or name)")
    if len(rows) > 1:
        ids = ", ".join(str(p.id) for p in rows)
        raise PrivacyError(f"several platforms match {platform!r} (ids {ids}): give the id")
    return rows[0]


def find_member(
    session: Session, platform_id: int, *, member_id: int | None = None, sub: str | None = None
) -> Member:
    """A member of one platform, by Bottega id or LMS user id (sub); by sub, someone erased is
    found too (their anonymous member), so that running an erasure again says it is done."""
    if (member_id is None) == (sub is None):
        raise PrivacyError("give either a member id or an LMS user id (sub)")
    if sub is not None:
        member_id = member_id_of(session, platform_id, sub)
    member = (
        session.scalar(
            select(Member).where(Member.platform_id == platform_id, Member.id == member_id)
        )
        if member_id is not None
        else None
    )
    if member is None:
        what = f"id {member_id}" if member_id is not None else f"LMS user id {sub!r}"
        raise PrivacyError(f"no member with {what} on this platform")
    return member


def member_id_of(session: Session, platform_id: int, sub: str) -> int | None:
    """The member an LMS user id (sub) maps to on a platform, if Bottega has ever seen them;
    for someone erased (and not back since), their anonymous member (see erased_member_id)."""
    found = session.scalar(
        select(Member.id).where(Member.platform_id == platform_id, Member.lms_id == sub)
    )
    return found if found is not None else erased_member_id(session, platform_id, sub)


def erased_member_id(session: Session | Connection, platform_id: int, sub: str) -> int | None:
    """The anonymous member row an erased person left, found through the erasure log's hash
    of their LMS user id (the id itself is gone); None when they were never erased."""
    return session.scalar(
        select(ErasureLog.member_id)
        .where(
            ErasureLog.platform_id == platform_id,
            ErasureLog.subject_hash == subject_hash(platform_id, sub),
            ErasureLog.member_id.is_not(None),
        )
        .order_by(ErasureLog.id.desc())
        .limit(1)
    )


# -- export ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _row(table: Table, row: Any) -> dict[str, Any]:
    mapping = row._mapping
    return {c.name: _plain(mapping[c]) for c in table.columns if c in mapping}


def _post_ids(session: Session, model: Any, member_id: int) -> list[int]:
    return list(session.scalars(select(model.id).where(model.author_id == member_id)))


def export_member(session: Session, member: Member) -> dict[str, Any]:
    """Everything Bottega holds about ``member``, as JSON-ready data."""
    platform = session.get(Platform, member.platform_id)
    tables: dict[str, list[dict[str, Any]]] = {}
    actions: list[dict[str, Any]] = []
    for table, column in member_columns():
        primary = list(table.primary_key.columns)
        if (table.name, column) in ACTS_ON_OTHERS:
            # Someone else's record they acted on: which one and how, not its content.
            query = select(*primary).where(table.c[column] == member.id).order_by(*primary)
            actions += [
                {"table": table.name, "as": column, "id": _plain(row[0])}
                for row in session.execute(query)
            ]
            continue
        seen = {tuple(r[c.name] for c in primary) for r in tables.get(table.name, [])}
        wanted = [
            c
            for c in table.columns
            if c.name not in _DERIVED and (table.name, c.name) not in _UNSHOWN_OTHERS
        ]
        # Ordered by primary key: the same data always exports the same way.
        query = select(*wanted).where(table.c[column] == member.id).order_by(*primary)
        for row in session.execute(query):
            data = _row(table, row)
            key = tuple(data[c.name] for c in primary)
            if key not in seen:
                seen.add(key)
                tables.setdefault(table.name, []).append(data)
    # The edit history of their own posts, whoever edited them.
    questions = _post_ids(session, Question, member.id)
    answers = _post_ids(session, Answer, member.id)
    comments = _post_ids(session, Comment, member.id)
    history = session.execute(
        select(*Revision.__table__.columns)
        .where(
            or_(
                Revision.question_id.in_(questions),
                Revision.answer_id.in_(answers),
                Revision.comment_id.in_(comments),
            )
        )
        .order_by(Revision.id)
    )
    course_ids = sorted(
        {r["course_id"] for rows in tables.values() for r in rows if r.get("course_id")}
    )
    courses = session.scalars(select(Course).where(Course.id.in_(course_ids)).order_by(Course.id))
    return {
        "format": EXPORT_FORMAT,
        "exported_at": utcnow().isoformat(),
        "platform": {
            "issuer": platform.issuer if platform else None,
            "name": platform.name if platform else None,
        },
        "member": {
            "id": member.id,
            "lms_user_id": None if is_erased(member) else member.lms_id,
            "erased": is_erased(member),
            "name": member.name,
            "given_name": member.given_name,
            "family_name": member.family_name,
            "email": member.email,
            "picture": member.picture,
            "locale": member.locale,
            "created_at": _plain(member.created_at),
            "last_seen_at": _plain(member.last_seen_at),
        },
        "courses": [
            {"id": c.id, "lms_id": c.lms_id, "title": c.title, "label": c.label} for c in courses
        ],
        "tables": tables,
        "acted_on_others_records": actions,
        "edit_history_of_own_posts": [_row(Revision.__table__, r) for r in history],
    }


@dataclass(frozen=True)
class Summary:
    """What the privacy page lists: rows held per table (only tables with rows)."""

    member: Member
    counts: dict[str, int]
    erased: bool
    pending_request: PrivacyRequest | None


def summary(session: Session, member: Member) -> Summary:
    counts: dict[str, int] = {}
    for table, column in member_columns():
        if (table.name, column) in ACTS_ON_OTHERS:
            continue
        n = session.scalar(
            select(func.count()).select_from(table).where(table.c[column] == member.id)
        )
        if n:
            counts[table.name] = counts.get(table.name, 0) + int(n)
    return Summary(
        member=member,
        counts=counts,
        erased=is_erased(member),
        pending_request=pending_request(session, member.id),
    )


# -- erasure requests --------------------------------------------------------------------------


def pending_request(session: Session, member_id: int) -> PrivacyRequest | None:
    return session.scalar(
        select(PrivacyRequest).where(
            PrivacyRequest.member_id == member_id,
            PrivacyRequest.status == RequestStatus.PENDING.value,
        )
    )


def request_erasure(session: Session, member: Member, course_id: int | None) -> PrivacyRequest:
    """Record the member's request (once: a second request returns the pending one)."""
    existing = pending_request(session, member.id)
    if existing is not None:
        return existing
    row = PrivacyRequest(platform_id=member.platform_id, member_id=member.id, course_id=course_id)
    session.add(row)
    session.commit()
    return row


def pending_requests(session: Session, platform_id: int | None = None) -> list[PrivacyRequest]:
    """Every pending erasure request (of one platform), oldest first."""
    query = select(PrivacyRequest).where(PrivacyRequest.status == RequestStatus.PENDING.value)
    if platform_id is not None:
        query = query.where(PrivacyRequest.platform_id == platform_id)
    return list(session.scalars(query.order_by(PrivacyRequest.requested_at, PrivacyRequest.id)))


@dataclass(frozen=True)
class RequestRow:
    id: int
    member_id: int
    name: str
    requested_at: datetime


def course_requests(session: Session, course_id: int) -> list[RequestRow]:
    """Pending erasure requests of members enrolled in a course, oldest first."""
    rows = session.execute(
        select(PrivacyRequest, Member)
        .join(Member, Member.id == PrivacyRequest.member_id)
        .join(Enrolment, Enrolment.member_id == Member.id)
        .where(
            Enrolment.course_id == course_id,
            PrivacyRequest.status == RequestStatus.PENDING.value,
        )
        .order_by(PrivacyRequest.requested_at, PrivacyRequest.id)
    )
    return [RequestRow(r.id, m.id, m.display_name, r.requested_at) for r, m in rows]


def find_course_request(session: Session, course_id: int, request_id: int) -> PrivacyRequest | None:
    """A pending request of a member of this course (another course's is None: a 404)."""
    return session.scalar(
        select(PrivacyRequest)
        .join(Enrolment, Enrolment.member_id == PrivacyRequest.member_id)
        .where(
            PrivacyRequest.id == request_id,
            Enrolment.course_id == course_id,
            PrivacyRequest.status == RequestStatus.PENDING.value,
        )
    )


def handled_by_them(session: Session, request_id: int, staff_id: int) -> bool:
    """Whether this staff member already carried out this request (a second press of Erase:
    the member has left the course's lists with their enrolments)."""
    return (
        session.scalar(
            select(PrivacyRequest.id).where(
                PrivacyRequest.id == request_id,
                PrivacyRequest.status == RequestStatus.DONE.value,
                PrivacyRequest.handled_by == staff_id,
            )
        )
        is not None
    )


# -- erasure -----------------------------------------------------------------------------------


def _store_past_weeks(session: Session, course_ids: Iterable[int], before: date) -> None:
    """Compute and keep the finished weeks' figures of these courses up to ``before`` (a
    Monday), so that deleting events leaves past dashboards as they were. Commits."""
    for course_id in sorted(set(course_ids)):
        first = session.scalar(
            select(func.min(ParticipationEvent.created_at)).where(
                ParticipationEvent.course_id == course_id,
                ParticipationEvent.created_at < datetime.combine(before, datetime.min.time()),
            )
        )
        if first is not None and metrics.monday(first.date()) < before:
            metrics.weekly(session, course_id, first.date(), before - timedelta(days=1))
    session.commit()


def _withdraw_votes(session: Session, member_id: int) -> int:
    """Take their helpful votes back: the counts shown on posts go down with them."""
    votes = list(
        session.execute(select(Vote.question_id, Vote.answer_id).where(Vote.member_id == member_id))
    )
    for question_id, answer_id in votes:
        model: Any = Question if question_id is not None else Answer
        post_id = question_id if question_id is not None else answer_id
        session.execute(
            update(model)
            .where(model.id == post_id, model.helpful_count > 0)
            .values(helpful_count=model.helpful_count - 1)
            .execution_options(synchronize_session=False)
        )
    return len(votes)


def erase_member(
    session: Session, member: Member, *, route: str, actor_id: int | None = None
) -> dict[str, int]:
    """Erase a member's personal data (see docs/privacy.md); idempotent. Returns the counts.

    Their posts stay, shown as "Former member"; their LMS user id is replaced, so a new launch
    by the same person makes a fresh member. One transaction, committed here; an erasure log
    row records it without personal data.
    """
    member_id = member.id
    if is_erased(member):
        return {}
    subject = subject_hash(member.platform_id, member.lms_id)
    courses = list(
        session.scalars(
            select(ParticipationEvent.course_id)
            .where(ParticipationEvent.member_id == member_id)
            .distinct()
        )
    )
    _store_past_weeks(session, courses, metrics.monday(utcnow().date()))

    counts: dict[str, int] = {}
    counts["qa_vote"] = _withdraw_votes(session, member_id)
    # The edit history of their own posts (what they wrote before editing).
    counts["qa_revision"] = session.execute(  # type: ignore[attr-defined]
        delete(Revision)
        .where(
            or_(
                Revision.question_id.in_(
                    select(Question.id).where(Question.author_id == member_id)
                ),
                Revision.answer_id.in_(select(Answer.id).where(Answer.author_id == member_id)),
                Revision.comment_id.in_(select(Comment.id).where(Comment.author_id == member_id)),
            )
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    for table, column in member_columns():
        policy = ERASURE_POLICY.get((table.name, column))
        if policy is None:  # a table added without a policy: refuse rather than guess
            raise PrivacyError(f"no erasure policy for {table.name}.{column}")
        where = table.c[column] == member_id
        if policy == Policy.DELETE:
            result = session.execute(delete(table).where(where))
        elif policy == Policy.NULL:
            result = session.execute(update(table).where(where).values({column: None}))
        else:
            continue
        if result.rowcount:  # type: ignore[attr-defined]
            key = f"{table.name}.{column}"
            counts[key] = counts.get(key, 0) + int(result.rowcount)  # type: ignore[attr-defined]
    session.execute(
        update(Member)
        .where(Member.id == member_id)
        .values(
            lms_id=ERASED_PREFIX + secrets.token_hex(16),
            name=ERASED_NAME,
            given_name=None,
            family_name=None,
            email=None,
            picture=None,
            locale=None,
            last_seen_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PrivacyRequest)
        .where(
            PrivacyRequest.member_id == member_id,
            PrivacyRequest.status == RequestStatus.PENDING.value,
        )
        .values(status=RequestStatus.DONE.value, handled_at=utcnow(), handled_by=actor_id)
    )
    counts = {k: v for k, v in counts.items() if v}
    session.add(
        ErasureLog(
            platform_id=member.platform_id,
            member_id=member_id,
            route=route,
            counts=counts,
            subject_hash=subject,
        )
    )
    session.commit()
    session.expire(member)
    return counts


# -- event retention ---------------------------------------------------------------------------


def graded_course_ids(session: Session) -> set[int]:
    """Courses with a graded placement: their scores are computed from every event."""
    rows = session.execute(select(Placement.course_id, Placement.services))
    return {course_id for course_id, services in rows if graded_endpoint(services) is not None}


def purge_events(
    session: Session, retention_days: int, *, batch: int = PURGE_BATCH, now: datetime | None = None
) -> dict[str, Any]:
    """Delete participation events older than the retention (whole finished weeks only), in
    batches, after storing those weeks' dashboard figures. Graded courses are skipped."""
    today = (now or utcnow()).date()
    cutoff = metrics.monday(today - timedelta(days=retention_days))
    cutoff_at = datetime.combine(cutoff, datetime.min.time())
    skipped = graded_course_ids(session)
    courses = [
        cid
        for cid in session.scalars(
            select(ParticipationEvent.course_id)
            .where(ParticipationEvent.created_at < cutoff_at)
            .distinct()
        )
        if cid not in skipped
    ]
    _store_past_weeks(session, courses, cutoff)
    deleted = 0
    for course_id in sorted(courses):
        while True:
            ids = list(
                session.scalars(
                    select(ParticipationEvent.id)
                    .where(
                        ParticipationEvent.course_id == course_id,
                        ParticipationEvent.created_at < cutoff_at,
                    )
                    .limit(batch)
                )
            )
            if not ids:
                break
            session.execute(delete(ParticipationEvent).where(ParticipationEvent.id.in_(ids)))
            session.commit()  # one short transaction per batch
            deleted += len(ids)
    return {
        "before": cutoff.isoformat(),
        "deleted": deleted,
        "courses": len(courses),
        "graded_courses_skipped": len(skipped),
    }


def _purge_every(settings: Settings) -> float:
    privacy = settings.privacy
    return float(privacy.schedule_interval) if privacy.event_retention_days else 0.0


@handler(PURGE_KIND, every=_purge_every)
def purge_events_job(
    session: Session, payload: dict[str, Any], ctx: JobContext
) -> dict[str, Any] | None:
    """The scheduled ``privacy.purge_events`` job (only while EVENT_RETENTION_DAYS is set)."""
    days = app_settings().privacy.event_retention_days
    if not days:
        return {"deleted": 0, "retention": "off"}
    return purge_events(session, days)
