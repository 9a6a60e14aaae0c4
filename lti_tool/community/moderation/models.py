"""Moderation tables: flags on posts, hidden posts, the audit trail, and the code of conduct.

Every table is keyed by ``subject_type`` + ``subject_id`` (``"qa_answer"``, ``"group_post"``...)
rather than by foreign keys into one capability, so that Q&A, groups and any later capability
share one queue, one hiding rule and one audit trail.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class FlagReason(enum.StrEnum):
    SPAM = "spam"
    OFFENSIVE = "offensive"
    OFF_TOPIC = "off_topic"
    PERSONAL_DATA = "personal_data"
    OTHER = "other"


class FlagStatus(enum.StrEnum):
    """open -> resolved (a moderator acted on it) or dismissed (nothing to act on)."""

    OPEN = "open"
    DISMISSED = "dismissed"
    RESOLVED = "resolved"
    ACTIONED = "resolved"  # earlier name of RESOLVED (an alias: same value)


class Flag(db.Model):  # type: ignore[name-defined]
    __tablename__ = "moderation_flag"
    __table_args__ = (
        UniqueConstraint("reporter_id", "subject_type", "subject_id"),
        Index("ix_moderation_flag_course_status", "course_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=FlagStatus.OPEN.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    # Why the moderator resolved or dismissed it.
    resolution_note: Mapped[str] = mapped_column(Text, default="", server_default="")


class HiddenPost(db.Model):  # type: ignore[name-defined]
    """A post moderators hid: students see a placeholder, moderators see it marked.

    A row exists while the post is hidden; restoring deletes it (the audit trail keeps both).
    """

    __tablename__ = "moderation_hidden"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int]
    hidden_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    hidden_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ActionKind(enum.StrEnum):
    RESOLVE = "resolve"
    DISMISS = "dismiss"
    HIDE = "hide"
    RESTORE = "restore"
    WARN = "warn"
    CONDUCT_EDIT = "conduct_edit"


class ModerationAction(db.Model):  # type: ignore[name-defined]
    """One line of a course's audit trail: who did what, to which post or member, when and why."""

    __tablename__ = "moderation_action"
    __table_args__ = (Index("ix_moderation_action_course_created", "course_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    action: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str | None] = mapped_column(String(32), default=None)
    subject_id: Mapped[int | None] = mapped_column(default=None)
    # The member a warning went to.
    target_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None, index=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    flag_count: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConductVersion(db.Model):  # type: ignore[name-defined]
    """A course's own code of conduct, one row per edit. Without rows the course uses the
    built-in text (version 1, in the member's language); the first edit is version 2."""

    __tablename__ = "moderation_conduct"
    __table_args__ = (UniqueConstraint("course_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    version: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConductAcceptance(db.Model):  # type: ignore[name-defined]
    """A member accepted one version of their course's code of conduct."""

    __tablename__ = "moderation_conduct_acceptance"
    __table_args__ = (UniqueConstraint("course_id", "member_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
