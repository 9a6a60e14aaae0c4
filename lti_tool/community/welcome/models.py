"""Introductions, the welcomes they get, and who chose to introduce themselves later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class Introduction(db.Model):  # type: ignore[name-defined]
    __tablename__ = "welcome_introduction"
    __table_args__ = (
        UniqueConstraint("course_id", "member_id"),
        Index("ix_welcome_introduction_course_time", "course_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    reply_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Welcome(db.Model):  # type: ignore[name-defined]
    """A reply to an introduction."""

    __tablename__ = "welcome_reply"
    __table_args__ = (Index("ix_welcome_reply_introduction", "introduction_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    introduction_id: Mapped[int] = mapped_column(
        ForeignKey("welcome_introduction.id", ondelete="CASCADE")
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Postponed(db.Model):  # type: ignore[name-defined]
    """A member chose "later": the prompt is not shown again on launch."""

    __tablename__ = "welcome_postponed"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
