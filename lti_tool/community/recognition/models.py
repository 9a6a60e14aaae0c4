"""Recognition tables: badge rules (data, not code), badges earned, and course settings.

A badge rule counts a member's participation events (``engagement_event``) in one course:

* ``count``: events of the rule's kinds (optionally of one subject type) >= threshold;
* ``distinct_actors``: different other members behind those events (the peers helped);
* ``consecutive_weeks``: weeks in a row (ISO weeks, UTC) with at least one such event.

A new badge is one more row here, never new code. Earned badges are unique per course, member
and rule, so a badge fires once however often or concurrently the rules are evaluated; the
course's earned badges, newest first, are its celebration feed.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class RuleMode(enum.StrEnum):
    COUNT = "count"
    DISTINCT_ACTORS = "distinct_actors"
    CONSECUTIVE_WEEKS = "consecutive_weeks"


class BadgeRule(db.Model):  # type: ignore[name-defined]
    """One badge and when it is earned."""

    __tablename__ = "recognition_badge_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(120))  # English; known codes show a translation
    description: Mapped[str] = mapped_column(Text, default="")
    kinds: Mapped[str] = mapped_column(String(255))  # event kinds, comma-separated
    subject_type: Mapped[str | None] = mapped_column(String(32), default=None)
    mode: Mapped[str] = mapped_column(String(24), default=RuleMode.COUNT.value)
    threshold: Mapped[int] = mapped_column(default=1)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())

    @property
    def kind_list(self) -> list[str]:
        return [k.strip() for k in self.kinds.split(",") if k.strip()]


class BadgeAward(db.Model):  # type: ignore[name-defined]
    """A badge a member earned in a course: at most one per rule (the unique constraint)."""

    __tablename__ = "recognition_badge_award"
    __table_args__ = (
        UniqueConstraint("course_id", "member_id", "rule_id"),
        Index("ix_recognition_badge_award_course_earned", "course_id", "earned_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("recognition_badge_rule.id", ondelete="CASCADE")
    )
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecognitionSettings(db.Model):  # type: ignore[name-defined]
    """A course's recognition options; a course without a row uses the defaults."""

    __tablename__ = "recognition_settings"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    # Public rankings can discourage as much as motivate: off unless staff turn them on.
    leaderboard_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
