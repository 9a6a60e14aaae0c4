"""The rubric an instructor sets for one graded placement (absent: the default rubric)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class GradeRubric(db.Model):  # type: ignore[name-defined]
    """Points per kind of participation, a weekly cap and the maximum score of a placement."""

    __tablename__ = "grades_rubric"

    placement_id: Mapped[int] = mapped_column(
        ForeignKey("placement.id", ondelete="CASCADE"), primary_key=True
    )
    question: Mapped[float]
    answer: Mapped[float]
    accepted_answer: Mapped[float]
    endorsement: Mapped[float]
    kudos_received: Mapped[float]
    group_post: Mapped[float]
    weekly_cap: Mapped[float | None] = mapped_column(default=None)  # None: no cap
    score_maximum: Mapped[float]
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
