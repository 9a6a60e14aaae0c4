"""Badge evaluation, and how it is triggered for events recorded by any capability.

Trigger: a SQLAlchemy session hook. Whenever a transaction that added participation events
(``engagement.record``, from Q&A, kudos, groups or anything later) commits, the same transaction
enqueues one ``recognition.evaluate`` job naming the (course, member) pairs concerned. The job
(lti_tool.jobs: the outbox, so it survives crashes and is retried) evaluates every badge rule
for them. The capabilities that record events know nothing of badges, and the request that
posted an answer does not pay for the evaluation.

Exactly once: an award is ``INSERT ... ON CONFLICT DO NOTHING`` on the unique (course, member,
rule); only the transaction whose insert returned a row posts to the feed and notifies, so
repeated or concurrent evaluations (two jobs, a retry, a backfill) cannot award twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, TypeVar

from flask import has_app_context
from flask_babel import force_locale
from sqlalchemy import event, exists, func, select
from sqlalchemy.orm import Session

from lti_tool.community.engagement.models import ParticipationEvent
from lti_tool.community.moderation.models import HiddenPost
from lti_tool.community.notifications.services import notify
from lti_tool.community.recognition.models import BadgeAward, BadgeRule, RuleMode
from lti_tool.community.recognition.rules import active_rules, badge_name
from lti_tool.courses.models import Member
from lti_tool.courses.services import dialect_insert
from lti_tool.extensions import utcnow
from lti_tool.jobs import JobContext, begin_write, enqueue, handler

JOB_KIND = "recognition.evaluate"
PENDING_KEY = "bottega_recognition_pending"  # Session.info: (course, member) pairs to evaluate
T = TypeVar("T")


# --- measuring a member against the rules -----------------------------------------------------


def longest_weekly_streak(days: Iterable[date]) -> int:
    """The most consecutive weeks (Monday to Sunday) with at least one of ``days``."""
    weeks = sorted({(d.toordinal() - 1) // 7 for d in days})  # ordinal 1 is a Monday
    best = run = 0
    previous: int | None = None
    for week in weeks:
        run = run + 1 if previous is not None and week == previous + 1 else 1
        best = max(best, run)
        previous = week
    return best


def measure(
    session: Session, course_id: int, member_id: int, rules: list[BadgeRule]
) -> dict[int, int]:
    """Each rule's current value for the member (a count, peers, or weeks in a row)."""
    values: dict[int, int] = {}
    events = ParticipationEvent
    mine = (
        events.course_id == course_id,
        events.member_id == member_id,
        # What a post moderators hid earned counts towards no badge while it is hidden.
        ~exists().where(
            HiddenPost.course_id == course_id,
            HiddenPost.subject_type == events.subject_type,
            HiddenPost.subject_id == events.subject_id,
        ),
    )
    if any(r.mode == RuleMode.COUNT for r in rules):
        counts: dict[tuple[str, str], int] = {
            (kind, subject): int(n)
            for kind, subject, n in session.execute(
                select(events.kind, events.subject_type, func.count())
                .where(*mine)
                .group_by(events.kind, events.subject_type)
            )
        }
    for rule in rules:
        kinds = rule.kind_list
        if rule.mode == RuleMode.COUNT:
            values[rule.id] = sum(
                n
                for (kind, subject), n in counts.items()
                if kind in kinds and (rule.subject_type is None or subject == rule.subject_type)
            )
        elif rule.mode == RuleMode.DISTINCT_ACTORS:
            stmt = select(func.count(func.distinct(events.actor_id))).where(
                *mine,
                events.kind.in_(kinds),
                events.actor_id.is_not(None),
                events.actor_id != member_id,
            )
            if rule.subject_type is not None:
                stmt = stmt.where(events.subject_type == rule.subject_type)
            values[rule.id] = int(session.scalar(stmt) or 0)
        elif rule.mode == RuleMode.CONSECUTIVE_WEEKS:
            moments = session.scalars(
                select(events.created_at).where(*mine, events.kind.in_(kinds))
            )
            values[rule.id] = longest_weekly_streak(m.date() for m in moments)
        else:  # an unknown mode in the table never awards
            values[rule.id] = 0
    return values


# --- awarding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Awarded:
    award_id: int
    rule: BadgeRule


def _in_locale(locale: str | None, make: Callable[[], T]) -> T:
    """``make()`` with translations in the member's language, when an app is there."""
    if locale and has_app_context():
        with force_locale(locale):
            return make()
    return make()


def evaluate_member(
    session: Session, course_id: int, member_id: int, *, now: datetime | None = None
) -> list[Awarded]:
    """Award the badges a member has newly earned in a course (no commit: the caller's)."""
    rules = active_rules(session)
    earned = set(
        session.scalars(
            select(BadgeAward.rule_id).where(
                BadgeAward.course_id == course_id, BadgeAward.member_id == member_id
            )
        )
    )
    pending = [r for r in rules if r.id not in earned]
    if not pending:
        return []
    values = measure(session, course_id, member_id, pending)
    awarded: list[Awarded] = []
    moment = now or utcnow()
    for rule in pending:
        if values.get(rule.id, 0) < rule.threshold:
            continue
        stmt = (
            dialect_insert(session, BadgeAward)
            .values(course_id=course_id, member_id=member_id, rule_id=rule.id, earned_at=moment)
            .on_conflict_do_nothing(index_elements=["course_id", "member_id", "rule_id"])
            .returning(BadgeAward.id)
        )
        award_id = session.execute(stmt).scalar()
        if award_id is not None:
            awarded.append(Awarded(int(award_id), rule))
    if awarded:
        member = session.get(Member, member_id)
        locale = member.locale if member is not None else None
        for item in awarded:
            notify(
                session,
                course_id=course_id,
                recipients=[member_id],
                kind="badge",
                subject_type="recognition_badge",
                subject_id=item.award_id,
                excerpt=_in_locale(locale, partial(badge_name, item.rule.code, item.rule.name)),
            )
    return awarded


def evaluate_course(session: Session, course_id: int) -> int:
    """Evaluate every member with participation in a course (a backfill); commits."""
    begin_write(session)
    members = session.scalars(
        select(ParticipationEvent.member_id)
        .where(ParticipationEvent.course_id == course_id)
        .distinct()
    ).all()
    total = sum(len(evaluate_member(session, course_id, m)) for m in members)
    session.commit()
    return total


def courses_with_participation(session: Session) -> list[int]:
    """Courses that have participation events, for a backfill of every course."""
    return list(
        session.scalars(
            select(ParticipationEvent.course_id).distinct().order_by(ParticipationEvent.course_id)
        )
    )


@handler(JOB_KIND, max_attempts=5)
def _evaluate_job(session: Session, payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    begin_write(session)  # SQLite: reads then writes; take the write lock before reading
    awarded = 0
    for course_id, member_id in payload.get("members", []):
        awarded += len(evaluate_member(session, int(course_id), int(member_id)))
    return {"awarded": awarded}


# --- the trigger: any committed participation event --------------------------------------------


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.new:
        if isinstance(obj, ParticipationEvent):
            session.info.setdefault(PENDING_KEY, set()).add((obj.course_id, obj.member_id))


@event.listens_for(Session, "before_commit")
def _enqueue_evaluation(session: Session) -> None:
    if any(isinstance(obj, ParticipationEvent) for obj in session.new):
        session.flush()  # the commit's own flush comes after this hook
    pairs = session.info.pop(PENDING_KEY, None)
    if pairs:
        enqueue(session, JOB_KIND, {"members": [list(p) for p in sorted(pairs)]})


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
