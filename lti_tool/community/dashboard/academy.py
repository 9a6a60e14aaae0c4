"""Academy-wide figures: every course of one LMS registration, side by side.

Grouped queries over all the registration's courses at once (a constant number of statements
whatever the number of courses), never one overview per course.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lti_tool.community.dashboard.metrics import bounds
from lti_tool.community.qa.models import Question, QuestionState
from lti_tool.courses.models import Course, Enrolment, EnrolmentStatus
from lti_tool.courses.roles import CourseRole, course_role
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
    in_platform = Course.platform_id == platform_id
    learners: dict[int, set[int]] = defaultdict(set)
    for course_id, member_id, roles, manager, first_launch in session.execute(
        select(
            Enrolment.course_id,
            Enrolment.member_id,
            Enrolment.roles,
            Enrolment.community_manager,
            Enrolment.first_launch_at,
        )
        .join(Course, Course.id == Enrolment.course_id)
        .where(in_platform, Enrolment.status == EnrolmentStatus.ACTIVE)
    ):
        if manager or course_role(roles) != CourseRole.LEARNER:
            continue
        learners[course_id].add(member_id)
        rows[course_id].learners += 1
        rows[course_id].never_launched += first_launch is None
    # Active: launched or took part, read from the enrolments (kept by engagement.record).
    month_ago, week_ago = now - timedelta(days=30), now - timedelta(days=7)
    for course_id, member_id, last_active, last_launch in session.execute(
        select(
            Enrolment.course_id,
            Enrolment.member_id,
            Enrolment.last_active_at,
            Enrolment.last_launch_at,
        )
        .join(Course, Course.id == Enrolment.course_id)
        .where(
            in_platform,
            or_(Enrolment.last_active_at >= month_ago, Enrolment.last_launch_at >= month_ago),
        )
    ):
        if member_id not in learners.get(course_id, ()):
            continue
        latest = max(d for d in (last_active, last_launch) if d is not None)
        rows[course_id].active_30 += 1
        rows[course_id].active_7 += latest >= week_ago
    waits: dict[int, list[float]] = defaultdict(list)
    for course_id, state, asked, answered in session.execute(
        select(Question.course_id, Question.state, Question.created_at, Question.first_answer_at)
        .join(Course, Course.id == Question.course_id)
        .where(
            in_platform,
            Question.deleted_at.is_(None),
            Question.created_at >= low,
            Question.created_at < high,
        )
    ):
        rows[course_id].questions += 1
        rows[course_id].answered += state != QuestionState.UNANSWERED
        if answered is not None:
            waits[course_id].append((answered - asked).total_seconds())
    for course_id, seconds in waits.items():
        rows[course_id].median_first_answer = timedelta(seconds=statistics.median(seconds))
    return sorted(rows.values(), key=lambda r: (-r.learners, r.title))


def totals(rows: list[CourseRow]) -> CourseRow:
    """The sum of every course (no median across courses: it would mean nothing)."""
    total = CourseRow(0, "")
    for row in rows:
        total.learners += row.learners
        total.never_launched += row.never_launched
        total.active_7 += row.active_7
        total.active_30 += row.active_30
        total.questions += row.questions
        total.answered += row.answered
    return total
