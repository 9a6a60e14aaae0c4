"""Academy-wide figures: every course of one LMS registration, side by side.

Grouped queries over all the registration's courses at once (a constant number of statements
whatever the number of courses), never one overview per course.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, case, cast, distinct, func, or_, select
from sqlalchemy.orm import Session

from lti_tool.community.dashboard.metrics import answering, bounds, is_learner, learner_counts
from lti_tool.community.qa.models import Question
from lti_tool.courses.models import Course, Enrolment, EnrolmentStatus
from lti_tool.extensions import utcnow


@dataclass
class CourseRow:
    course_id: int
    title: str
    learners: int = 0
    never_launched: int = 0
    active_7: int = 0
    active_30: int = 0
    questions: int = 0
    answered: int = 0
    median_first_answer: timedelta | None = None

    @property
    def answered_percent(self) -> int | None:
        return round(100 * self.answered / self.questions) if self.questions else None


def academy(
    session: Session, platform_id: int, start: date, end: date, now: datetime | None = None
) -> list[CourseRow]:
    """One row per course of the registration, the most learners first."""
    now = now or utcnow()
    low, high = bounds(start, end)
    rows = {
        course_id: CourseRow(course_id, title or label or lms_id)
        for course_id, title, label, lms_id in session.execute(
            select(Course.id, Course.title, Course.label, Course.lms_id).where(
                Course.platform_id == platform_id
            )
        )
    }
    if not rows:
        return []
    courses = select(Course.id).where(Course.platform_id == platform_id)
    # Active: launched or took part, read from the enrolments (kept by engagement.record).
    month_ago, week_ago = now - timedelta(days=30), now - timedelta(days=7)
    for course_id, figures in learner_counts(
        session,
        {
            "never_launched": Enrolment.first_launch_at.is_(None),
            "active_30": or_(
                Enrolment.last_active_at >= month_ago, Enrolment.last_launch_at >= month_ago
            ),
            "active_7": or_(
                Enrolment.last_active_at >= week_ago, Enrolment.last_launch_at >= week_ago
            ),
        },
        Enrolment.course_id.in_(courses),
        by=Enrolment.course_id,
    ).items():
        row = rows[course_id]
        row.learners, row.never_launched = figures["learners"], figures["never_launched"]
        row.active_7, row.active_30 = figures["active_7"], figures["active_30"]
    for course_id, questions in answering(
        session,
        Question.course_id.in_(courses),
        Question.created_at >= low,
        Question.created_at < high,
        by=Question.course_id,
        staff=False,
    ).items():
        row = rows[course_id]
        row.questions, row.answered = questions.questions, questions.answered
        row.median_first_answer = questions.median_first_answer
    return sorted(rows.values(), key=lambda r: (-r.learners, r.title))


def totals(
    session: Session, platform_id: int, rows: list[CourseRow], now: datetime | None = None
) -> CourseRow:
    """Every course together: questions summed, and students counted once each, however many
    courses they follow (no median across courses: it would mean nothing)."""
    now = now or utcnow()
    total = CourseRow(0, "")
    for row in rows:
        total.questions += row.questions
        total.answered += row.answered
    courses = select(Course.id).where(Course.platform_id == platform_id)
    scope = (
        Enrolment.course_id.in_(courses),
        Enrolment.status == EnrolmentStatus.ACTIVE,
        ~Enrolment.community_manager,
    )
    roles = cast(Enrolment.roles, Text)
    # The few distinct role lists, decided as everywhere else; then one count over them.
    learner_roles = [r for r in session.scalars(select(roles).where(*scope).distinct()) if r]
    learner_roles = [r for r in learner_roles if is_learner(r)]
    if not learner_roles:
        return total

    def members(condition: Any) -> Any:
        return func.count(distinct(case((condition, Enrolment.member_id))))

    def active_since(since: datetime) -> Any:
        return or_(Enrolment.last_active_at >= since, Enrolment.last_launch_at >= since)

    learners, launched, active_7, active_30 = session.execute(
        select(
            func.count(distinct(Enrolment.member_id)),
            members(Enrolment.first_launch_at.is_not(None)),
            members(active_since(now - timedelta(days=7))),
            members(active_since(now - timedelta(days=30))),
        ).where(and_(*scope), roles.in_(learner_roles))
    ).one()
    total.learners, total.never_launched = int(learners), int(learners) - int(launched)
    total.active_7, total.active_30 = int(active_7), int(active_30)
    return total
