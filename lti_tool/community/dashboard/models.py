"""Per-course thresholds and the reach-outs staff log for students at risk."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class DashboardSettings(db.Model):  # type: ignore[name-defined]
    """Early-warning thresholds of one course (a missing row means the defaults)."""

    __tablename__ = "dashboard_settings"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    inactive_days: Mapped[int] = mapped_column(default=7, server_default="7")
    unanswered_hours: Mapped[int] = mapped_column(default=24, server_default="24")
    staff_check_hours: Mapped[int] = mapped_column(default=48, server_default="48")
    # Flag a student whose events this week fall below this share of last week's.
    falling_percent: Mapped[int] = mapped_column(default=50, server_default="50")
    recognition_weeks: Mapped[int] = mapped_column(default=3, server_default="3")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReachOutOutcome(enum.StrEnum):
    PENDING = "pending"
    SUCCESSFUL = "successful"  # the student was active again after it


class ReachOut(db.Model):  # type: ignore[name-defined]
    """A member of staff got in touch with a student at risk."""

    __tablename__ = "dashboard_reach_out"
    __table_args__ = (Index("ix_dashboard_reach_out_course_member", "course_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    note: Mapped[str] = mapped_column(Text, default="")
    nudged: Mapped[bool] = mapped_column(default=False)  # an in-app message was sent too
    reasons: Mapped[str] = mapped_column(Text, default="")  # the reason codes at the time
    outcome: Mapped[ReachOutOutcome] = mapped_column(
        Enum(
            ReachOutOutcome,
            name="reach_out_outcome",
            native_enum=False,
            length=16,
            values_callable=lambda members: [m.value for m in members],
            validate_strings=True,
        ),
        default=ReachOutOutcome.PENDING,
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Playbook(db.Model):  # type: ignore[name-defined]
    """The community manager's guidelines for the course's staff (Markdown, rendered once)."""

    __tablename__ = "dashboard_playbook"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplyTemplate(db.Model):  # type: ignore[name-defined]
    """A ready answer staff can insert when replying (e.g. "See the syllabus, section...")."""

    __tablename__ = "dashboard_reply_template"
    __table_args__ = (Index("ix_dashboard_reply_template_course", "course_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Digest(db.Model):  # type: ignore[name-defined]
    """One course's weekly summary for its staff (made once per ISO week by a scheduled job)."""

    __tablename__ = "dashboard_digest"
    __table_args__ = (UniqueConstraint("course_id", "week_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(Date)  # a Monday
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
