"""Nobody left hanging: questions waiting too long for a reply or for a staff-checked answer.

A student's first-ever post in the course comes first of all: a first question left unanswered
is the moment a newcomer decides whether anyone is there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from lti_tool.community.dashboard.settings import thresholds
from lti_tool.community.engagement.models import ACTIVITY_KINDS, ParticipationEvent
from lti_tool.community.qa.models import Answer, QASettings, Question, QuestionState
from lti_tool.courses.models import Member
from lti_tool.extensions import utcnow


class Waiting(enum.StrEnum):
    NO_REPLY = "no_reply"  # no answer at all past the reply threshold
    NO_STAFF_CHECK = "no_staff_check"  # answers, but none from staff or endorsed by staff


@dataclass(frozen=True)
class HangingQuestion:
    question_id: int
    title: str
    author_name: str
    anonymous: bool
    created_at: datetime
    waiting: Waiting
    first_post: bool
    age: timedelta


def hanging_questions(
    session: Session,
    course_id: int,
    now: datetime | None = None,
    limit: int = 200,
    *,
    staff_viewer: bool = False,
) -> list[HangingQuestion]:
    """Questions past a threshold: first posts first, then no reply, then the oldest.

    The asker of an anonymous question is named only for a ``staff_viewer`` (instructors and
    teaching assistants), and only when the course lets staff see anonymous authors, as in the
    Q&A itself: a community manager may be a student.
    """
    now = now or utcnow()
    limits = thresholds(session, course_id)
    reply_cut = now - timedelta(hours=limits.unanswered_hours)
    check_cut = now - timedelta(hours=limits.staff_check_hours)
    # A peer mentor's endorsement tells classmates an answer looks right; it is not the staff
    # check this list waits for.
    checked_answer = exists().where(
        Answer.question_id == Question.id,
        Answer.deleted_at.is_(None),
        or_(Answer.is_staff_answer, and_(Answer.endorsed, ~Answer.endorsed_by_mentor)),
    )
    earlier = aliased(ParticipationEvent)
    first_post = ~exists().where(
        earlier.course_id == Question.course_id,
        earlier.member_id == Question.author_id,
        earlier.kind.in_(ACTIVITY_KINDS),
        earlier.created_at < Question.created_at,
    )
    rows = session.execute(
        select(
            Question.id,
            Question.title,
            func.coalesce(Member.name, Member.given_name, Member.lms_id),
            Question.anonymous,
            Question.created_at,
            Question.state,
            first_post.label("first_post"),
        )
        .join(Member, Member.id == Question.author_id)
        .where(
            Question.course_id == course_id,
            Question.deleted_at.is_(None),
            Question.state != QuestionState.RESOLVED,
            or_(
                and_(Question.state == QuestionState.UNANSWERED, Question.created_at < reply_cut),
                and_(
                    Question.created_at < check_cut,
                    ~Question.endorsed,
                    ~checked_answer,
                ),
            ),
        )
        # The order of the page, in SQL: the limit keeps the first posts of a busy course.
        .order_by(
            first_post.desc(),
            case((Question.state == QuestionState.UNANSWERED, 0), else_=1),
            Question.created_at,
        )
        .limit(limit)
    ).all()
    qa_settings = session.get(QASettings, course_id)
    reveal = staff_viewer and (qa_settings is None or qa_settings.staff_see_anonymous)
    items = [
        HangingQuestion(
            question_id=qid,
            title=title,
            author_name=name if reveal or not anonymous else "",
            anonymous=anonymous,
            created_at=created_at,
            waiting=Waiting.NO_REPLY
            if state == QuestionState.UNANSWERED
            else Waiting.NO_STAFF_CHECK,
            first_post=bool(first),
            age=now - created_at,
        )
        for qid, title, name, anonymous, created_at, state, first in rows
    ]
    return sorted(
        items, key=lambda q: (not q.first_post, q.waiting != Waiting.NO_REPLY, q.created_at)
    )
