"""One row per scored post: its sentiment, the words behind it, and the ISO week it belongs to.

Only staff read these rows (``services``); nothing is shown to or done to a student because of a
score. A row is written when a Q&A question, answer or comment is created or edited, and kept
when the post is soft-deleted (the mood was expressed), though deleted posts are left out of the
lists of posts.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class PostSentiment(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sentiment_post"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id"),
        # Weekly mood of a course: one range of this index, grouped by week.
        Index("ix_sentiment_post_course_week", "course_id", "week_start", "score"),
        # Most negative recent posts of a course.
        Index("ix_sentiment_post_course_posted", "course_id", "posted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))  # "qa_question", "qa_answer", ...
    subject_id: Mapped[int]
    # The Q&A thread the post belongs to, for links (and cleaned up with it).
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_question.id", ondelete="CASCADE"), default=None, index=True
    )
    language: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float)  # -1 .. 1
    label: Mapped[str] = mapped_column(String(16))  # negative / neutral / positive
    triggers: Mapped[list[str]] = mapped_column(JSON, default=list)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    week_start: Mapped[date] = mapped_column(Date)  # Monday of the post's ISO week (UTC)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
