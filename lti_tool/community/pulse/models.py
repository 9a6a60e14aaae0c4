"""Pulse tables: the quick surveys staff open in a course, and the students' answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow

QUESTION_MIN = 5
QUESTION_MAX = 200
COMMENT_MAX = 1000
SCALE = (1, 2, 3, 4, 5)
DAYS_MIN, DAYS_MAX, DEFAULT_DAYS = 1, 30, 7


class PulseSurvey(db.Model):  # type: ignore[name-defined]
    """One question on a 1-5 scale, open to a course's students until ``closes_at`` (or until
    staff close it early: ``closed_at``)."""

    __tablename__ = "pulse_survey"
    __table_args__ = (Index("ix_pulse_survey_course_opened", "course_id", "opened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    # "" : the default question, shown in the reader's language.
    question: Mapped[str] = mapped_column(String(QUESTION_MAX), default="")
    allow_comments: Mapped[bool] = mapped_column(default=True, server_default=true())
    opened_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PulseAnswer(db.Model):  # type: ignore[name-defined]
    """A student's answer to a pulse; one per student, changeable while the pulse is open.
    Staff see only figures and comments, never who answered."""

    __tablename__ = "pulse_answer"
    __table_args__ = (
        UniqueConstraint("pulse_id", "member_id"),
        Index("ix_pulse_answer_member", "member_id"),  # a member's export and erasure
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pulse_id: Mapped[int] = mapped_column(ForeignKey("pulse_survey.id", ondelete="CASCADE"))
    # The course too, so that a member's export names the course of their answers.
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
