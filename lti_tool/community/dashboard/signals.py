"""What the course content may be missing, and how staff are keeping up.

Content signals: the most-asked tags, "content gaps" (questions still without an accepted or
endorsed answer after some days) and topics trending this week against the four before.
Staff figures: per member of staff, answers and comments given and their response times.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from lti_tool.community.dashboard.metrics import bounds
from lti_tool.community.engagement.models import EventKind, ParticipationEvent
from lti_tool.community.qa.models import Answer, Question, QuestionTag, Tag
from lti_tool.courses.models import Enrolment, Member
from lti_tool.courses.roles import course_role
from lti_tool.extensions import utcnow

GAP_DAYS = 7


@dataclass(frozen=True)
class TagCount:
    name: str
    label: str
    questions: int


@dataclass(frozen=True)
class Trend:
    name: str
    this_week: int
    weekly_before: float  # mean of the four weeks before

    @property
    def rise(self) -> float:
        return self.this_week - self.weekly_before


@dataclass(frozen=True)
class Gap:
    question_id: int
    title: str
    created_at: datetime
    answers: int
    tags: tuple[str, ...]


@dataclass(frozen=True)
class StaffFigures:
    member_id: int
    name: str
    answers: int
    comments: int
    endorsements: int
    first_answers: int  # questions where theirs was the first staff answer (not a manager's)
    median_response: timedelta | None  # asked -> their first answer to it


def top_tags(
    session: Session, course_id: int, start: date, end: date, limit: int = 10
) -> list[TagCount]:
    low, high = bounds(start, end)
    rows = session.execute(
        select(Tag.name, Tag.label, func.count(QuestionTag.question_id))
        .join(QuestionTag, QuestionTag.tag_id == Tag.id)
        .join(Question, Question.id == QuestionTag.question_id)
        .where(
            Tag.course_id == course_id,
            Question.deleted_at.is_(None),
            Question.created_at >= low,
            Question.created_at < high,
        )
        .group_by(Tag.id, Tag.name, Tag.label)
        .order_by(func.count(QuestionTag.question_id).desc(), Tag.name)
        .limit(limit)
    ).all()
    return [TagCount(name, label, int(n)) for name, label, n in rows]


def trending(
    session: Session, course_id: int, now: datetime | None = None, limit: int = 5
) -> list[Trend]:
    """Tags asked about more this week (last 7 days) than in the four weeks before."""
    now = now or utcnow()
    week_ago, five_weeks_ago = now - timedelta(days=7), now - timedelta(days=35)
    rows = session.execute(
        select(Tag.name, Question.created_at)
        .join(QuestionTag, QuestionTag.tag_id == Tag.id)
        .join(Question, Question.id == QuestionTag.question_id)
        .where(
            Tag.course_id == course_id,
            Question.deleted_at.is_(None),
            Question.created_at >= five_weeks_ago,
            Question.created_at < now,
        )
    ).all()
    recent: Counter[str] = Counter()
    before: Counter[str] = Counter()
    for name, created_at in rows:
        (recent if created_at >= week_ago else before)[name] += 1
    trends = [Trend(name, recent[name], before[name] / 4) for name in recent]
    trends = [t for t in trends if t.rise > 0 and t.this_week >= 2]
    return sorted(trends, key=lambda t: (-t.rise, t.name))[:limit]


def content_gaps(
    session: Session,
    course_id: int,
    now: datetime | None = None,
    days: int = GAP_DAYS,
    limit: int = 50,
) -> list[Gap]:
    """Questions older than ``days`` with neither an accepted nor an endorsed answer."""
    now = now or utcnow()
    endorsed_answer = exists().where(
        Answer.question_id == Question.id, Answer.endorsed, Answer.deleted_at.is_(None)
    )
    questions = session.execute(
        select(Question.id, Question.title, Question.created_at, Question.answer_count)
        .where(
            Question.course_id == course_id,
            Question.deleted_at.is_(None),
            Question.created_at < now - timedelta(days=days),
            Question.accepted_answer_id.is_(None),
            ~Question.endorsed,
            ~endorsed_answer,
        )
        .order_by(Question.created_at)
        .limit(limit)
    ).all()
    tags: dict[int, list[str]] = defaultdict(list)
    if questions:
        for question_id, name in session.execute(
            select(QuestionTag.question_id, Tag.name)
            .join(Tag, Tag.id == QuestionTag.tag_id)
            .where(QuestionTag.question_id.in_([q.id for q in questions]))
            .order_by(Tag.name)
        ):
            tags[question_id].append(name)
    return [
        Gap(q.id, q.title, q.created_at, q.answer_count, tuple(tags.get(q.id, ())))
        for q in questions
    ]


def staff_figures(session: Session, course_id: int, start: date, end: date) -> list[StaffFigures]:
    """One row per member of staff (LMS staff roles or community manager), busiest first."""
    low, high = bounds(start, end)
    staff = {
        e.member_id: e
        for e in session.scalars(select(Enrolment).where(Enrolment.course_id == course_id))
        if course_role(e.roles).is_staff or e.community_manager
    }
    if not staff:
        return []
    names = dict(
        session.execute(
            select(Member.id, func.coalesce(Member.name, Member.given_name, Member.lms_id)).where(
                Member.id.in_(staff)
            )
        ).all()
    )
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for member_id, kind, n in session.execute(
        select(ParticipationEvent.member_id, ParticipationEvent.kind, func.count())
        .where(
            ParticipationEvent.course_id == course_id,
            ParticipationEvent.member_id.in_(staff),
            ParticipationEvent.created_at >= low,
            ParticipationEvent.created_at < high,
            ParticipationEvent.kind.in_(
                [EventKind.ANSWER.value, EventKind.COMMENT.value, EventKind.ENDORSE.value]
            ),
        )
        .group_by(ParticipationEvent.member_id, ParticipationEvent.kind)
    ):
        counts[member_id][kind] = int(n)
    # Each staff member's first answer to each question asked in the range.
    waits: dict[int, list[float]] = defaultdict(list)
    first_staff: Counter[int] = Counter()
    seen: set[tuple[int, int]] = set()
    first_seen: set[int] = set()
    for question_id, asked, author_id, answered, by_staff in session.execute(
        select(
            Question.id,
            Question.created_at,
            Answer.author_id,
            Answer.created_at,
            Answer.is_staff_answer,
        )
        .join(Answer, Answer.question_id == Question.id)
        .where(
            Question.course_id == course_id,
            Question.created_at >= low,
            Question.created_at < high,
            Answer.author_id.in_(staff),
            Answer.deleted_at.is_(None),
        )
        .order_by(Question.id, Answer.created_at)
    ):
        # The first staff answer as the overview's median counts it: an instructor's or a
        # TA's, not a community manager's (a student's) answer before theirs.
        if by_staff and question_id not in first_seen:
            first_seen.add(question_id)
            first_staff[author_id] += 1
        if (question_id, author_id) not in seen:
            seen.add((question_id, author_id))
            waits[author_id].append((answered - asked).total_seconds())
    rows = [
        StaffFigures(
            member_id=member_id,
            name=names.get(member_id, ""),
            answers=counts[member_id][EventKind.ANSWER.value],
            comments=counts[member_id][EventKind.COMMENT.value],
            endorsements=counts[member_id][EventKind.ENDORSE.value],
            first_answers=first_staff[member_id],
            median_response=(
                timedelta(seconds=statistics.median(waits[member_id])) if waits[member_id] else None
            ),
        )
        for member_id in staff
    ]
    return sorted(rows, key=lambda r: (-(r.answers + r.comments + r.endorsements), r.name))
