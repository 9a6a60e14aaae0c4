"""A notification for one member in one course."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text, true
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class Notification(db.Model):  # type: ignore[name-defined]
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_member_course_read", "member_id", "course_id", "read_at"),
        # The e-mail sweep's: neither read nor mailed, by age (community.notifications.mail).
        Index(
            "ix_notification_mail_due",
            "created_at",
            sqlite_where=text("emailed_at IS NULL AND read_at IS NULL"),
            postgresql_where=text("emailed_at IS NULL AND read_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # "answer", "accepted", "mention", ...
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int]
    excerpt: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When it went out in an e-mail, or was passed over for one (its post gone meanwhile).
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class MemberPreference(db.Model):  # type: ignore[name-defined]
    """A member's choices about what Bottega sends them; no row: the defaults."""

    __tablename__ = "member_preference"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    # E-mails about unread notifications (answers, mentions, group messages): on by default.
    mail_notifications: Mapped[bool] = mapped_column(default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
