"""Every participation as one row: grades (AGS), analytics and badges all read this table."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.extensions import UTCDateTime, db, utcnow


class EventKind(enum.StrEnum):
    """What happened. Received events (``*_received``) belong to the member who benefits."""

    ASK = "ask"
    ANSWER = "answer"
    COMMENT = "comment"
    ACCEPT = "accept"  # the asker accepted an answer
    ANSWER_ACCEPTED = "answer_accepted"  # the answer's author
    ENDORSE = "endorse"  # staff endorsed a post
    ENDORSEMENT_RECEIVED = "endorsement_received"
    UPVOTE = "upvote"
    UPVOTE_RECEIVED = "upvote_received"
    KUDOS_GIVEN = "kudos_given"
    KUDOS_RECEIVED = "kudos_received"
    GROUP_POST = "group_post"
    GROUP_JOINED = "group_joined"
    GROUP_FACILITATOR = "group_facilitator"  # took a turn as a group's facilitator
    INTRODUCE = "introduce"  # introduced themselves to the course
    WELCOME = "welcome"  # replied to someone's introduction


# Being on the receiving end: recognition, not activity.
RECOGNITION_KINDS = frozenset(
    {
        EventKind.ANSWER_ACCEPTED,
        EventKind.ENDORSEMENT_RECEIVED,
        EventKind.UPVOTE_RECEIVED,
        EventKind.KUDOS_RECEIVED,
    }
)
# Being placed in a group or given a facilitator's turn, by staff, a roster sync or a rotation:
# membership, not something the member did. A student the sync placed is not "active" for it.
PLACEMENT_KINDS = frozenset({EventKind.GROUP_JOINED, EventKind.GROUP_FACILITATOR})
ACTIVITY_KINDS = tuple(
    sorted(k.value for k in EventKind if k not in RECOGNITION_KINDS | PLACEMENT_KINDS)
)


class ParticipationEvent(db.Model):  # type: ignore[name-defined]
    __tablename__ = "engagement_event"
    __table_args__ = (
        Index("ix_engagement_event_course_member_time", "course_id", "member_id", "created_at"),
        Index("ix_engagement_event_course_kind_time", "course_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(32))  # e.g. "qa_question", "qa_answer"
    subject_id: Mapped[int]
    # Who caused it, when not the member (the voter of an upvote received).
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WeekFigures(db.Model):  # type: ignore[name-defined]
    """A finished week's event counts per kind for one course (``_learners``: distinct learners
    who took part; ``_done``: the week is computed), so a dashboard never regroups past weeks.

    Written on first read of a past week; record() and forget() drop a week's rows when an event
    is recorded into it or deleted from it after the fact.
    """

    __tablename__ = "engagement_week"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)  # a Monday (UTC)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
