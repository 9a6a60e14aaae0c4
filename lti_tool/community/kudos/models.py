"""Kudos tables: a course's settings and categories, and the kudos members give each other."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow

MESSAGE_MAX = 280
CATEGORY_MAX = 48
DEFAULT_DAILY_LIMIT = 5


class KudosSettings(db.Model):  # type: ignore[name-defined]
    """A course's kudos options; a course without a row uses the defaults."""

    __tablename__ = "kudos_settings"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    # Kudos one member may give per UTC day in the course: scarce enough to mean something.
    daily_limit: Mapped[int] = mapped_column(default=DEFAULT_DAILY_LIMIT, server_default="5")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class KudosCategory(db.Model):  # type: ignore[name-defined]
    """What a kudos is for. The default ones carry a ``code`` and show a translated label until
    staff rename them; staff may add, rename and retire categories."""

    __tablename__ = "kudos_category"
    __table_args__ = (UniqueConstraint("course_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    code: Mapped[str | None] = mapped_column(String(32), default=None)  # default categories
    name: Mapped[str] = mapped_column(String(CATEGORY_MAX), default="")  # "" : translated label
    position: Mapped[int] = mapped_column(default=0)
    # Retired categories stay for the kudos that used them, but cannot be chosen any more.
    retired: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Kudos(db.Model):  # type: ignore[name-defined]
    """One member thanking another, optionally for a question or answer of the course."""

    __tablename__ = "kudos_award"
    __table_args__ = (
        # The wall, newest first, with and without a category filter (keyset pages by index).
        Index("ix_kudos_award_course_created", "course_id", "created_at", "id"),
        Index(
            "ix_kudos_award_course_category_created", "course_id", "category_id", "created_at", "id"
        ),
        # The daily limit, and a member's given / received lists.
        Index("ix_kudos_award_course_giver_created", "course_id", "giver_id", "created_at"),
        Index("ix_kudos_award_course_receiver_created", "course_id", "receiver_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    giver_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    receiver_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("kudos_category.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(Text)
    # The Q&A post it is for: "qa_question" or "qa_answer", and the question to link to.
    subject_type: Mapped[str | None] = mapped_column(String(32), default=None)
    subject_id: Mapped[int | None] = mapped_column(default=None)
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_question.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
